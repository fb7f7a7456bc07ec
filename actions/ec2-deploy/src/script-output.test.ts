import { describe, expect, it } from '@jest/globals';
import { OUTPUT_CHARS, outputTail } from './script-output.js';

describe('script-output', () => {
  it('keeps an output that fits as it is', () => {
    expect(outputTail('line 1\nline 2\n', 100)).toBe('line 1\nline 2\n');
    expect(outputTail('', 100)).toBe('');
  });

  it('keeps the end of a longer one, measured as JSON escapes it', () => {
    expect(outputTail('0123456789', 4)).toBe('6789');
    // "\n" is two characters escaped, "\u001b" six.
    expect(outputTail('abc\n\n', 4)).toBe('\n\n');
    expect(outputTail('abcdef\u001b', 7)).toBe('f\u001b');
  });

  it('never starts with half a surrogate pair', () => {
    expect(outputTail('a😀b', 2)).toBe('b');
    expect(outputTail('a😀b', 3)).toBe('😀b');
  });

  it('keeps 20 MB of output from a host, colour codes and all, well within what GitHub takes', () => {
    const huge = '\u001b[32mok\u001b[0m line\n'.repeat(1_000_000);
    const kept = outputTail(huge, OUTPUT_CHARS);
    expect(huge.endsWith(kept)).toBe(true);
    expect(JSON.stringify(kept).length - 2).toBeLessThanOrEqual(OUTPUT_CHARS);
    expect(JSON.stringify(kept).length).toBeGreaterThan(OUTPUT_CHARS - 20);
  });
});
