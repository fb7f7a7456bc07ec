/** The lock's scripts run for real, by sh on this machine through LocalShell, in a temporary directory. */
import { describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalShell } from '../local-shell.js';
import { DeployLock, LockTimeoutError } from './deploy-lock.js';

const shell = new LocalShell();
const owner = (token: string) => ({ token, description: `run ${token}` });

function lockPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'slipway-lock-')), 'app', 'deploy.lock');
}

describe('deploy-lock', () => {
  it('takes a free lock, is re-entrant for its holder, refuses others, and releases only for its holder', async () => {
    const path = lockPath();
    const lock = new DeployLock(shell, path);
    expect(await lock.tryAcquire(owner('a'), 60_000)).toEqual({ acquired: true });
    expect(readFileSync(join(path, 'owner'), 'utf8').split('\n')[0]).toBe('a');
    expect(await lock.tryAcquire(owner('a'), 60_000)).toEqual({ acquired: true });
    const busy = await lock.tryAcquire(owner('b'), 60_000);
    expect(busy).toMatchObject({ acquired: false, holder: { token: 'a', description: 'run a' } });
    expect(await lock.release('b')).toBe(false);
    expect(existsSync(path)).toBe(true);
    expect(await lock.release('a')).toBe(true);
    expect(existsSync(path)).toBe(false);
    expect(await lock.release('a')).toBe(false);
  });

  it('takes over an expired lock and says from whom', async () => {
    const path = lockPath();
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, 'owner'), `old\n${Math.floor(Date.now() / 1000) - 5}\nrun old\n`);
    const attempt = await new DeployLock(shell, path).tryAcquire(owner('new'), 60_000);
    expect(attempt).toEqual({ acquired: true, tookOverFrom: { token: 'old', expiresAt: expect.any(Number), description: 'run old' } });
    expect(readFileSync(join(path, 'owner'), 'utf8').split('\n')[0]).toBe('new');
  });

  it('fails at once, saying why, when the lock cannot be created at all (not a lock held by someone else)', async () => {
    const path = lockPath();
    mkdirSync(join(path, '..'), { recursive: true });
    // A file in the way stands for what root in this test cannot be refused: a read-only or full disk.
    writeFileSync(path, 'not a lock directory');
    const old = new Date(Date.now() - 5 * 60_000);
    utimesSync(path, old, old);
    await expect(new DeployLock(shell, path).tryAcquire(owner('x'), 60_000)).rejects.toThrow(
      new RegExp(`^runner: could not take the deploy lock ${path}: cannot create the deploy lock ${path}: mkdir: .*File exists`),
    );
    expect(readFileSync(path, 'utf8')).toBe('not a lock directory');
  });

  it('clears a lock directory left without owner for over a minute', async () => {
    const path = lockPath();
    mkdirSync(path, { recursive: true });
    const old = new Date(Date.now() - 5 * 60_000);
    utimesSync(path, old, old);
    expect(await new DeployLock(shell, path).tryAcquire(owner('x'), 60_000)).toEqual({ acquired: true });
  });

  it('waits for the holder and takes the lock once it is released', async () => {
    const path = lockPath();
    const lock = new DeployLock(shell, path);
    await lock.acquire(owner('a'), { expiryMs: 60_000, waitMs: 1_000 });
    const waits: string[] = [];
    let polls = 0;
    await lock.acquire(owner('b'), {
      expiryMs: 60_000,
      waitMs: 60_000,
      onWait: (m) => waits.push(m),
      sleep: async () => {
        if (++polls === 2) await lock.release('a');
      },
    });
    expect(waits).toEqual(['Waiting for the deploy lock, held by run a (up to 1m0s).']);
    expect(readFileSync(join(path, 'owner'), 'utf8').split('\n')[0]).toBe('b');
  });

  it('gives up after the wait limit, naming the holder', async () => {
    const path = lockPath();
    const lock = new DeployLock(shell, path);
    await lock.acquire(owner('a'), { expiryMs: 60_000, waitMs: 1_000 });
    let clock = 0;
    const waiting = lock.acquire(owner('b'), { expiryMs: 60_000, waitMs: 10_000, now: () => clock, sleep: async (ms) => void (clock += ms) });
    await expect(waiting).rejects.toThrow(LockTimeoutError);
    await expect(lock.acquire(owner('b'), { expiryMs: 60_000, waitMs: 0 })).rejects.toThrow('runner: another deployment holds the deploy lock (run a); gave up after waiting');
  });

  it('lets exactly one of many simultaneous takers win', async () => {
    const path = lockPath();
    const attempts = await Promise.all(Array.from({ length: 8 }, (_, i) => new DeployLock(shell, path).tryAcquire(owner(`t${i}`), 60_000)));
    expect(attempts.filter((a) => a.acquired)).toHaveLength(1);
  });
});
