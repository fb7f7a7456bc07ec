/** A clock that moves only when the code under test sleeps: polls and deadlines run without waiting. */
export interface FakeClock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Every sleep asked for, in order. */
  readonly slept: number[];
}

export function fakeClock(start = 0): FakeClock {
  let time = start;
  const slept: number[] = [];
  return {
    now: () => time,
    sleep: async (ms: number) => {
      slept.push(ms);
      time += ms;
    },
    slept,
  };
}
