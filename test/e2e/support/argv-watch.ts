/**
 * Watches every process's command line on this machine (runner and sandbox hosts alike share it)
 * while an action runs, so a test can show that a secret never reached any argv.
 */
import { readdirSync, readFileSync } from 'node:fs';

export class ArgvWatcher {
  private readonly seen = new Set<string>();
  private timer?: NodeJS.Timeout;

  start(intervalMs = 20): this {
    this.sample();
    // unref: a test that fails before stop() must not keep Jest from exiting.
    this.timer = setInterval(() => this.sample(), intervalMs).unref();
    return this;
  }

  stop(): string[] {
    clearInterval(this.timer);
    this.sample();
    return [...this.seen];
  }

  /** Command lines seen that contain `secret`. */
  containing(secret: string): string[] {
    return [...this.seen].filter((argv) => argv.includes(secret));
  }

  get count(): number {
    return this.seen.size;
  }

  private sample(): void {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
        if (argv) this.seen.add(argv);
      } catch {
        // The process ended between readdir and read.
      }
    }
  }
}
