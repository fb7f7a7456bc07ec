import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeVars, parseEnvInputs } from './env-inputs.js';

const reader = (values: Record<string, string>) => (name: string) => values[name] ?? '';

function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-env-'));
  writeFileSync(join(dir, 'app.env'), 'A=from-file\nB="kept as written"\nPORT=1\n');
  return dir;
}

describe('env-inputs', () => {
  it('reads env-file, then env and vars over it, values literal; masks env and env-file, not vars', () => {
    const read = parseEnvInputs(reader({ 'env-file': 'app.env', env: 'A=secret-a\nTOKEN=s3cr3t', vars: 'PORT=2221\nREGION=eu-west-1' }), workspace());
    expect([...read.values]).toEqual([
      ['A', 'secret-a'],
      ['B', '"kept as written"'],
      ['PORT', '2221'],
      ['TOKEN', 's3cr3t'],
      ['REGION', 'eu-west-1'],
    ]);
    expect([...read.vars]).toEqual([
      ['PORT', '2221'],
      ['REGION', 'eu-west-1'],
    ]);
    expect(read.inputOf.get('B')).toBe('env-file');
    expect(read.inputOf.get('PORT')).toBe('vars');
    expect(read.secrets).toEqual(expect.arrayContaining(['secret-a', 's3cr3t', 'from-file']));
    expect(read.secrets).not.toContain('2221');
    expect(describeVars(read.vars)).toBe('PORT=2221, REGION=eu-west-1');
  });

  it('refuses a key in both env and vars, naming both, and a missing env-file', () => {
    expect(() => parseEnvInputs(reader({ env: 'PORT=1', vars: 'PORT=2' }), workspace())).toThrow('Input `vars`: PORT is also in `env`: give it in one of them');
    expect(() => parseEnvInputs(reader({ 'env-file': 'none.env' }), workspace())).toThrow('Input `env-file`: none.env is not a file (paths are relative to the workspace');
    expect(() => parseEnvInputs(reader({ vars: 'no equals' }), workspace())).toThrow('Input `vars`: line 1 has no "="');
  });

  it('gives nothing when none of them is set', () => {
    const read = parseEnvInputs(reader({}), workspace());
    expect(read.values.size + read.vars.size + read.secrets.length).toBe(0);
  });
});
