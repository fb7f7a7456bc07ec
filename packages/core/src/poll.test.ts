import { describe, expect, it } from '@jest/globals';
import { pollUntil, type PollAttempt } from './poll.js';
import { fakeClock } from './testing/clock.js';

/** Answers in turn, the last one again once they run out. */
function looks<T, W>(...answers: Array<PollAttempt<T, W>>): () => Promise<PollAttempt<T, W>> {
  let i = 0;
  return async () => answers[Math.min(i++, answers.length - 1)];
}

describe('pollUntil', () => {
  it('returns what the first look that is done gives, telling the wait once', async () => {
    const clock = fakeClock();
    const told: string[] = [];
    const value = await pollUntil(looks<string, string>({ waiting: 'a' }, { waiting: 'b' }, { done: 'ok' }), {
      timeoutMs: 60_000,
      intervalMs: 2_000,
      onFirstWait: (w) => told.push(w),
      timedOut: () => new Error('late'),
      ...clock,
    });
    expect(value).toBe('ok');
    expect(told).toEqual(['a']);
    expect(clock.slept).toEqual([2_000, 2_000]);
  });

  it('throws the error made from the last look at the deadline, never sleeping past it', async () => {
    const clock = fakeClock();
    const waiting = pollUntil(looks<string, string>({ waiting: 'held by run 1' }), {
      timeoutMs: 5_000,
      intervalMs: 2_000,
      timedOut: (w, waited) => new Error(`${w} after ${waited} ms`),
      ...clock,
    });
    await expect(waiting).rejects.toThrow('held by run 1 after 5000 ms');
    expect(clock.slept).toEqual([2_000, 2_000, 1_000]);
  });

  it('tells what it waits for only when that changes, the last look included', async () => {
    const told: string[] = [];
    const waiting = pollUntil(looks<string, string>({ waiting: 'a' }, { waiting: 'a' }, { waiting: 'b' }), {
      timeoutMs: 6_000,
      intervalMs: 2_000,
      describe: (w) => `app (${w})`,
      onProgress: (m) => told.push(m),
      timedOut: () => new Error('late'),
      ...fakeClock(),
    });
    await expect(waiting).rejects.toThrow('late');
    expect(told).toEqual(['Waiting for app (a)', 'Waiting for app (b)']);
  });

  it('does not wait when the first look is done', async () => {
    const clock = fakeClock();
    const told: string[] = [];
    await pollUntil(looks<number, string>({ done: 1 }), { timeoutMs: 0, intervalMs: 1, onFirstWait: (w) => told.push(w), timedOut: () => new Error('late'), ...clock });
    expect({ told, slept: clock.slept }).toEqual({ told: [], slept: [] });
  });
});
