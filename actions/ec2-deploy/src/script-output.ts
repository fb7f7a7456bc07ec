/**
 * Script mode's output in the step outputs. GitHub takes at most 1 MB of outputs per job, "approximated
 * based on UTF-16 encoding" (docs.github.com, "Defining outputs for jobs"), and each host's output goes
 * in two of them, `stdout` and `results` (a script that printed 20 MB put it in both). Each of the
 * two holds the end of each host's output (where a failure shows), within `OUTPUT_CHARS` for all
 * hosts; the log keeps all of it.
 */

/** Characters (UTF-16 code units) of script output that `stdout`, and `results`, may each hold: 200 KB. */
export const OUTPUT_CHARS = 100_000;

/**
 * The end of `text` that is at most `max` characters once escaped in JSON, as `results` holds it;
 * `stdout` holds it unescaped, which is never longer.
 */
export function outputTail(text: string, max: number): string {
  // Never from the second half of a surrogate pair, which JSON would escape on its own.
  const from = (start: number) => {
    const code = text.charCodeAt(start);
    return code >= 0xdc00 && code <= 0xdfff ? start + 1 : start;
  };
  const fits = (start: number) => JSON.stringify(text.slice(from(start))).length - 2 <= max;
  // Every character is at least one once escaped, so the tail is never longer than `max`.
  let start = Math.max(0, text.length - max);
  let end = text.length;
  while (start < end) {
    const middle = (start + end) >>> 1;
    if (fits(middle)) end = middle;
    else start = middle + 1;
  }
  return text.slice(from(start));
}
