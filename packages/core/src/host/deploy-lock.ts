/**
 * A lock on a host, so that two deployments of one thing (two runs, two jobs of a matrix) never
 * change it at the same time. The lock is a directory (`mkdir` is atomic on every filesystem) with
 * an `owner` file: the holder's token, an expiry (host clock, epoch seconds) and who holds it. An
 * expired lock (a runner that died and never ran its post step) is taken over. The check-and-take
 * runs under `flock` where the host has it (util-linux: Amazon Linux, Ubuntu, Debian), so two
 * waiters cannot both take over the same expired lock.
 *
 * Each attempt is one short script on stdin (`sh -s -- <args>`): arguments are quoted words, nothing
 * is pasted into the script.
 */
import { pollUntil } from '../poll.js';
import { formatDuration } from '../inputs.js';
import { howItEnded, lastLines, succeeded, type Shell } from '../shell.js';

export interface LockOwner {
  /** Unique to one action run; only its holder releases the lock. */
  token: string;
  /** Who holds it, for the one who waits: the workflow run's URL, attempt and job. */
  description: string;
}

export interface LockHolder {
  token: string;
  /** Epoch seconds, host clock. */
  expiresAt: number;
  description: string;
}

export type LockAttempt = { acquired: true; tookOverFrom?: LockHolder } | { acquired: false; holder?: LockHolder };

export interface AcquireOptions {
  /** How long the lock stays valid if never released. */
  expiryMs: number;
  /** How long to wait for another holder before giving up. */
  waitMs: number;
  pollMs?: number;
  /** Told once when the lock is busy and we start waiting, and on a take-over. */
  onWait?: (message: string) => void;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** The wait, as both locks (a host's, a swarm's) poll for themselves. */
export function lockWait(options: AcquireOptions): { timeoutMs: number; intervalMs: number; now?: () => number; sleep?: (ms: number) => Promise<void> } {
  return { timeoutMs: options.waitMs, intervalMs: options.pollMs ?? 3_000, now: options.now, sleep: options.sleep };
}

export class LockTimeoutError extends Error {
  constructor(
    readonly target: string,
    readonly holder: LockHolder | undefined,
    waitedMs: number,
  ) {
    super(
      `${target}: another deployment holds the deploy lock (${holder?.description ?? 'holder unknown'}); ` +
        `gave up after waiting ${formatDuration(waitedMs)}. It is released when that deployment ends, or expires at ` +
        `${holder ? new Date(holder.expiresAt * 1000).toISOString() : 'its expiry'}.`,
    );
    this.name = 'LockTimeoutError';
  }
}

/**
 * The lock's steps as shell functions, shared by the one-shot scripts below and by the remote
 * programs that take the lock themselves (container/program.ts), so both speak the same protocol and
 * exclude each other. The caller sets `lock`, `token`, `ttl` (seconds) and `info`. The flock guard is
 * dropped after each step: a long program that held it would stall every waiter.
 */
export const LOCK_FUNCTIONS = `
lock_guard() {
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$lock.guard"
    flock -w 30 9 || { echo "could not take $lock.guard" >&2; return 1; }
  fi
}
# Status 1 only when the lock directory is there already: any other reason mkdir gives (a
# read-only or full disk, no permission, a file in the way) is status 3, or it would pass for a
# lock held by someone else and be waited on until lock-timeout.
lock_take() {
  if ! lock_err=$(mkdir "$lock" 2>&1); then
    [ -d "$lock" ] && return 1
    echo "cannot create the deploy lock $lock: \${lock_err:-mkdir failed}" >&2
    return 3
  fi
  if printf '%s\\n%s\\n%s\\n' "$token" "$(($(date +%s) + ttl))" "$info" >"$lock/owner.tmp" && mv "$lock/owner.tmp" "$lock/owner"; then
    return 0
  fi
  rm -rf "$lock"
  echo "cannot write the deploy lock's owner file in $lock" >&2
  return 3
}
# Prints acquired, took-over (then the old owner file) or held (then the owner file).
lock_try_guarded() {
  lock_take && { echo acquired; return 0; }
  [ $? -eq 3 ] && return 3
  if [ -f "$lock/owner" ]; then
    lock_held=$(sed -n 1p "$lock/owner")
    lock_expires=$(sed -n 2p "$lock/owner")
    if [ "$lock_held" = "$token" ]; then echo acquired; return 0; fi
    case $lock_expires in ''|*[!0-9]*) lock_expires=0 ;; esac
    if [ "$(date +%s)" -ge "$lock_expires" ]; then
      lock_old=$(cat "$lock/owner")
      rm -rf "$lock"
      lock_take && { echo took-over; printf '%s\\n' "$lock_old"; return 0; }
      [ $? -eq 3 ] && return 3
    fi
  elif [ -n "$(find "$lock" -maxdepth 0 -mmin +1 2>/dev/null)" ]; then
    # A lock directory with no owner for over a minute: a holder died between mkdir and mv.
    rm -rf "$lock"
    lock_take && { echo acquired; return 0; }
    [ $? -eq 3 ] && return 3
  fi
  echo held
  cat "$lock/owner" 2>/dev/null || true
  return 0
}
lock_try() {
  mkdir -p "$(dirname "$lock")" || return 3
  lock_guard || return 3
  lock_try_guarded && lock_status=0 || lock_status=$?
  exec 9>&-
  return $lock_status
}
# Prints released, not-ours or absent.
lock_release() {
  [ -d "$lock" ] || { echo absent; return 0; }
  lock_guard || return 1
  if [ "$(sed -n 1p "$lock/owner" 2>/dev/null)" = "$token" ]; then
    rm -rf "$lock"
    echo released
  else
    echo not-ours
  fi
  exec 9>&-
}
`;

const ACQUIRE_SCRIPT = `set -eu
lock=$1 token=$2 ttl=$3 info=$4
# The lock may be the first thing in its directory: create it (and its parents) for the user alone,
# as a deployment's directory must be (env files and registry logins pass through it).
umask 077
${LOCK_FUNCTIONS}
lock_try
`;

const RELEASE_SCRIPT = `set -eu
lock=$1 token=$2
${LOCK_FUNCTIONS}
lock_release
`;

function parseHolder(lines: string[]): LockHolder | undefined {
  if (lines.length < 2 || !lines[0]) return undefined;
  return { token: lines[0], expiresAt: Number(lines[1]) || 0, description: lines[2] ?? '' };
}

export class DeployLock {
  constructor(
    readonly shell: Shell,
    /** Absolute path of the lock directory on the host. */
    readonly path: string,
  ) {}

  async tryAcquire(owner: LockOwner, expiryMs: number): Promise<LockAttempt> {
    const ttl = String(Math.max(1, Math.ceil(expiryMs / 1000)));
    const info = owner.description.replace(/[\r\n]+/g, ' ');
    const result = await this.shell.run({ args: ['sh', '-s', '--', this.path, owner.token, ttl, info], stdin: ACQUIRE_SCRIPT, timeoutMs: 60_000, allowFailure: true });
    if (!succeeded(result)) {
      // Not "held by someone else": the host cannot keep a lock there at all (read-only disk, say).
      const why = lastLines(result.stderr || result.stdout, 3) || howItEnded(result);
      throw new Error(`${this.shell.target}: could not take the deploy lock ${this.path}: ${why}`);
    }
    const [status, ...rest] = result.stdout.split('\n');
    if (status === 'acquired') return { acquired: true };
    if (status === 'took-over') return { acquired: true, tookOverFrom: parseHolder(rest) };
    return { acquired: false, holder: parseHolder(rest) };
  }

  /** Whether `token` holds the lock now (its owner file names it). */
  async heldBy(token: string): Promise<boolean> {
    const owner = await this.shell.run({ args: ['sed', '-n', '1p', `${this.path}/owner`], allowFailure: true, timeoutMs: 60_000 });
    return owner.exitCode === 0 && owner.stdout.trim() === token;
  }

  /** Takes the lock, waiting for another holder up to `waitMs`; throws `LockTimeoutError` after. */
  async acquire(owner: LockOwner, options: AcquireOptions): Promise<void> {
    await pollUntil<void, LockHolder | undefined>(
      async () => {
        const attempt = await this.tryAcquire(owner, options.expiryMs);
        if (!attempt.acquired) return { waiting: attempt.holder };
        if (attempt.tookOverFrom) options.onWait?.(`Took over an expired deploy lock from ${attempt.tookOverFrom.description || 'an unknown holder'}.`);
        return { done: undefined };
      },
      {
        ...lockWait(options),
        onFirstWait: (holder) => options.onWait?.(`Waiting for the deploy lock, held by ${holder?.description || 'another deployment'} (up to ${formatDuration(options.waitMs)}).`),
        timedOut: (holder, waited) => new LockTimeoutError(this.shell.target, holder, waited),
      },
    );
  }

  /** Releases the lock if `token` holds it; returns whether it did. */
  async release(token: string): Promise<boolean> {
    const result = await this.shell.run({ args: ['sh', '-s', '--', this.path, token], stdin: RELEASE_SCRIPT, timeoutMs: 60_000 });
    return result.stdout.trim() === 'released';
  }
}
