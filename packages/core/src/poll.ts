import { sleep as realSleep } from './retry.js';

/** One look at what is awaited: done with its value, or still waiting with what stands in the way. */
export type PollAttempt<T, W> = { done: T } | { waiting: W };

export interface PollOptions<W> {
  /** How long to keep looking; the last look is at or after it. */
  timeoutMs: number;
  intervalMs: number;
  /** What a look that waits is waiting for, in words: told as `Waiting for …` when it changes, the last look included. */
  describe?: (waiting: W) => string;
  onProgress?: (message: string) => void;
  /** Told once, at the first look that has to wait: logs say so once, not every poll. */
  onFirstWait?: (waiting: W) => void;
  /** The error thrown at the deadline, from the last look. */
  timedOut: (waiting: W, waitedMs: number) => Error;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Looks again every `intervalMs` until `attempt` is done or `timeoutMs` has passed. Never sleeps
 * past the deadline, so a wait ends on time whatever the interval.
 */
export async function pollUntil<T, W>(attempt: () => Promise<PollAttempt<T, W>>, options: PollOptions<W>): Promise<T> {
  const sleep = options.sleep ?? realSleep;
  const now = options.now ?? Date.now;
  const started = now();
  let told = false;
  let lastReport: string | undefined;
  for (;;) {
    const result = await attempt();
    if ('done' in result) return result.done;
    const report = options.describe?.(result.waiting);
    if (report !== undefined && report !== lastReport) options.onProgress?.(`Waiting for ${report}`);
    lastReport = report;
    const waited = now() - started;
    if (waited >= options.timeoutMs) throw options.timedOut(result.waiting, waited);
    if (!told) {
      options.onFirstWait?.(result.waiting);
      told = true;
    }
    await sleep(Math.min(options.intervalMs, Math.max(0, options.timeoutMs - waited)));
  }
}
