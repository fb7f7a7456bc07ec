import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalShell } from '../local-shell.js';
import { ReleaseHistory, imagesToPrune, parseHistory, rollbackTarget, type ReleaseRecord } from './release-history.js';

const record = (imageId: string, result: ReleaseRecord['result'] = 'ok'): ReleaseRecord => ({
  time: '2026-01-01T00:00:00.000Z',
  action: 'deploy',
  image: `app:${imageId}`,
  imageId,
  result,
});

describe('release-history', () => {
  it('appends records to a private file and reads them back, skipping torn lines', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'slipway-history-')), 'releases.jsonl');
    const history = new ReleaseHistory(new LocalShell(), file);
    expect(await history.read()).toEqual([]);
    await history.append(record('a'));
    await history.append(record('b', 'rolled-back'));
    expect((await history.read()).map((r) => [r.imageId, r.result])).toEqual([
      ['a', 'ok'],
      ['b', 'rolled-back'],
    ]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(parseHistory(`${readFileSync(file, 'utf8')}{"imageId": "c", "ima\nnot json\n`)).toHaveLength(2);
  });

  it('rolls back to the newest successful release that is not running, toggling between the last two', () => {
    const records = [record('a'), record('b'), record('c', 'rolled-back')];
    expect(rollbackTarget(records, 'b')?.imageId).toBe('a');
    expect(rollbackTarget([...records, { ...record('a'), action: 'rollback' }], 'a')?.imageId).toBe('b');
    expect(rollbackTarget([record('a')], 'a')).toBeUndefined();
    expect(rollbackTarget([record('a')], undefined)?.imageId).toBe('a');
  });

  it('prunes images of releases beyond the newest `keep`, and failed ones, never one in use', () => {
    const records = [record('a'), record('b'), record('x', 'failed'), record('c'), record('a'), record('d')];
    // Newest first: d, a, c, b. Keep 2: d and a.
    expect(imagesToPrune(records, 2, new Set())).toEqual(['c', 'b', 'x']);
    expect(imagesToPrune(records, 2, new Set(['b']))).toEqual(['c', 'x']);
    expect(imagesToPrune(records, 10, new Set())).toEqual(['x']);
  });
});
