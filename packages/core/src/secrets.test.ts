import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { maskSecret } from './secrets.js';

/** What the action asked the runner to mask: @actions/core writes `::add-mask::` commands to stdout. */
function maskedBy(action: () => void): string[] {
  const written: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  try {
    action();
  } finally {
    spy.mockRestore();
  }
  return written
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('::add-mask::'))
    .map((line) => line.slice('::add-mask::'.length));
}

describe('secrets', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('masks the value, each of its lines, and its base64 form', () => {
    const key = '-----BEGIN KEY-----\nAAAAsecretline1\nBBBBsecretline2\n-----END KEY-----\n';
    const masked = maskedBy(() => maskSecret(key));
    expect(masked).toEqual(expect.arrayContaining(['AAAAsecretline1', 'BBBBsecretline2', Buffer.from(key).toString('base64')]));
  });

  it('masks nothing for an empty value, and skips fragments too short to be secret', () => {
    expect(maskedBy(() => maskSecret(''))).toEqual([]);
    expect(maskedBy(() => maskSecret('abcdef\nxy'))).not.toContain('xy');
  });
});
