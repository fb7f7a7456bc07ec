import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConnectionInputs } from './connection-inputs.js';

let key = '';
let otherKey = '';
const FP = 'SHA256:YM5uzrYXRF94lPFDSherNITUFDGVX2fIpASmSvVb0BI';

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-keys-'));
  for (const name of ['a', 'b']) spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)]);
  key = readFileSync(join(dir, 'a'), 'utf8');
  otherKey = readFileSync(join(dir, 'b'), 'utf8');
});

const reader = (values: Record<string, string>) => (name: string) => values[name] ?? '';

describe('connection-inputs', () => {
  it('applies the defaults of the issue: ec2-user, port 22, 30s, 10m, 3 attempts, all at once, fail-fast', () => {
    const settings = parseConnectionInputs(reader({ hosts: '10.0.0.1\n10.0.0.2:2222', 'ssh-key': key, 'host-fingerprints': FP }));
    expect(settings.hosts.map((h) => h.label)).toEqual(['ec2-user@10.0.0.1:22', 'ec2-user@10.0.0.2:2222']);
    expect(settings).toMatchObject({
      insecureSkipHostKeyCheck: false,
      connectTimeoutMs: 30_000,
      commandTimeoutMs: 600_000,
      connectRetries: 3,
      maxParallel: 0,
      failFast: true,
      jump: undefined,
    });
    expect(settings.hostKeys).toEqual([{ fingerprint: FP }]);
    expect(settings.secrets).toContain(key);
  });

  it('reads a jump host with its own key and pins, defaulting to the main key', () => {
    const base = { hosts: 'app', 'ssh-key': key, 'host-fingerprints': FP, user: 'ubuntu', port: '2200' };
    const own = parseConnectionInputs(reader({ ...base, 'jump-host': 'bastion.example', 'jump-ssh-key': otherKey, 'jump-host-fingerprints': FP }));
    expect(own.jump?.host.label).toBe('ubuntu@bastion.example:22');
    expect(own.jump?.key.text).toBe(otherKey);
    expect(own.jump?.hostKeysInput).toBe('jump-host-fingerprints');
    expect(own.secrets).toContain(otherKey);
    const shared = parseConnectionInputs(reader({ ...base, 'jump-host': 'admin@bastion:2022' }));
    expect(shared.jump?.key.text).toBe(key);
    expect(shared.hosts[0].label).toBe('ubuntu@app:2200');
  });

  it.each([
    [{ hosts: '' }, 'Input `hosts`: is empty'],
    [{ 'ssh-key': '' }, 'Input `ssh-key`: is empty'],
    [{ port: '70000' }, 'Input `port`: "70000" is not a port'],
    [{ user: 'root; rm' }, 'Input `user`'],
    [{ 'connect-timeout': 'forever' }, 'Input `connect-timeout`: "forever" is not a duration'],
    [{ 'command-timeout': '0s' }, 'Input `command-timeout`: must be longer than zero'],
    [{ 'connect-retries': '0' }, 'Input `connect-retries`: must be between 1 and 20'],
    [{ 'max-parallel': 'all' }, 'Input `max-parallel`: expected a whole number'],
    [{ 'fail-fast': 'yes' }, 'Input `fail-fast`: expected true or false'],
    [{ 'insecure-skip-host-key-check': 'true' }, 'Input `insecure-skip-host-key-check`: is true while `host-fingerprints` pins host keys'],
    [{ 'jump-ssh-key': 'x' }, 'Input `jump-ssh-key`: is set but `jump-host` is not'],
    [{ 'jump-host': 'a b' }, 'Input `jump-host`'],
  ])('refuses %j naming the input', (values, message) => {
    expect(() => parseConnectionInputs(reader({ hosts: 'h', 'ssh-key': key, 'host-fingerprints': FP, ...values }))).toThrow(message);
  });
});
