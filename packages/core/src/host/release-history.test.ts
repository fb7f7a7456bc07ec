import { describe, expect, it } from '@jest/globals';
import { imagesToPrune, parseHistory, rollbackTarget, type ReleaseRecord } from './release-history.js';

const record = (imageId: string, result: ReleaseRecord['result'] = 'ok'): ReleaseRecord => ({
  time: '2026-01-01T00:00:00.000Z',
  action: 'deploy',
  image: `app:${imageId}`,
  imageId,
  result,
});

describe('release-history', () => {
  it('reads records back, skipping torn lines', () => {
    const text = `${JSON.stringify(record('a'))}\n${JSON.stringify(record('b', 'rolled-back'))}\n{"imageId": "c", "ima\nnot json\n`;
    expect(parseHistory(text).map((r) => [r.imageId, r.result])).toEqual([
      ['a', 'ok'],
      ['b', 'rolled-back'],
    ]);
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
