/**
 * The deploy locks one action run holds on its hosts, written down in the step's state as they are
 * taken, so that the action's `post` step (which the runner runs even after a failure or a cancel)
 * can connect again and release those that main could not.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import * as core from '@actions/core';
import { runUrl, type RunContext } from '../github-context.js';
import type { Shell } from '../shell.js';
import { connectHost } from '../ssh/connect-host.js';
import type { ConnectionSettings } from '../ssh/connection-inputs.js';
import { stepLog, type DeployLog } from '../log.js';
import { DeployLock, type LockOwner } from './deploy-lock.js';
import { removeLeftovers } from './leftovers.js';

/** A lock never released (the runner died, and with it the post step) is taken over after this. */
export const LOCK_EXPIRY_MS = 60 * 60_000;

/** What the post step finds in the state. */
export interface HeldLocks {
  token: string;
  /** Whatever the action needs to repair a host it left half-way (ec2-deploy: the container name). */
  subject: string;
  /**
   * Name prefixes of the secret files a run makes beside its lock (a registry login's DOCKER_CONFIG
   * always), which the post step removes from a host whose lock main left.
   */
  secretFiles?: string[];
  locks: { host: string; path: string }[];
}

/** This run as a lock owner: a fresh token, and a description the one who waits can act on. */
export function runLockOwner(run: RunContext): LockOwner {
  const url = run.owner ? runUrl(run) : undefined;
  return {
    token: randomBytes(16).toString('hex'),
    description: `${url ?? 'a workflow run'} (attempt ${run.runAttempt}${process.env.GITHUB_JOB ? `, job ${process.env.GITHUB_JOB}` : ''})`,
  };
}

/**
 * The deploy lock a host program takes on one host: whose it is, how long it lasts and is waited
 * for, and what the run hears of it (noted in the step's state for the post step).
 */
export interface HostLock {
  owner: LockOwner;
  expiryMs: number;
  waitMs: number;
  /** The lock's path: relative to the home first, then absolute once the host said where it is. */
  taking(path: string): void;
  released(): void;
}

export class RunLocks {
  private readonly held = new Map<string, string>();

  constructor(
    /** The name of the step state they are saved under. */
    readonly stateName: string,
    readonly owner: LockOwner,
    readonly subject = '',
    /** See `HeldLocks.secretFiles`: beyond a registry login's, which are always removed. */
    readonly secretFiles: readonly string[] = [],
  ) {}

  /** `host`'s lock, as its host program takes it, waiting up to `waitMs` for another run's. */
  forHost(host: string, waitMs: number): HostLock {
    return { owner: this.owner, expiryMs: LOCK_EXPIRY_MS, waitMs, taking: (path) => this.noteTaking(host, path), released: () => this.noteReleased(host) };
  }

  /**
   * For a lock a remote program takes and releases itself (container/deployment.ts): noted before
   * the program starts, so the post step looks for it even when the run dies before the program
   * says it has it (the post step only acts on a lock its owner file names this run as holding).
   * A relative path is relative to the SSH session's directory, the user's home.
   */
  noteTaking(host: string, path: string): void {
    if (this.held.get(host) === path) return;
    this.held.set(host, path);
    this.save();
  }

  noteReleased(host: string): void {
    if (!this.held.delete(host)) return;
    this.save();
  }

  private save(): void {
    const state: HeldLocks = {
      token: this.owner.token,
      subject: this.subject,
      secretFiles: [...this.secretFiles],
      locks: [...this.held].map(([host, path]) => ({ host, path })),
    };
    core.saveState(this.stateName, JSON.stringify(state));
  }
}

/** In the post step: the locks main left behind, if any. */
export function leftLocks(stateName: string): HeldLocks | undefined {
  const saved = core.getState(stateName);
  if (!saved) return undefined;
  const state = JSON.parse(saved) as HeldLocks;
  return state.locks.length ? state : undefined;
}

/**
 * The post step's work: on each host whose lock main left (a cancelled or failed run), connect
 * again (same inputs) and, only while the lock is still this run's (once it expired, another run may
 * be deploying there): remove the secret files the run made beside the lock (the registry
 * credential first of all, wherever main was cut off), let `repair` put back what the run left
 * half-way, then release the lock. Failures are warnings: a lock that cannot be released expires
 * on its own, and the next deployment removes the files under its own lock.
 */
export async function releaseLeftLocks(state: HeldLocks, settings: ConnectionSettings, repair?: (shell: Shell, host: string, log: DeployLog) => Promise<void>): Promise<void> {
  const log = stepLog();
  for (const { host: label, path } of state.locks) {
    const host = settings.hosts.find((h) => h.label === label);
    if (!host) {
      core.warning(`${label}: not in \`hosts\` any more; its deploy lock ${path} expires on its own.`);
      continue;
    }
    let shell: Shell | undefined;
    try {
      shell = await connectHost(settings, host, log);
      const lock = new DeployLock(shell, path);
      if (await lock.heldBy(state.token)) {
        // Expected after a cancel: said plainly, not as a warning.
        await removeLeftovers(shell, posix.dirname(path), { warning: (m) => core.info(m) }, state.secretFiles ?? [], 'the cancelled or failed run');
        if (repair) await repair(shell, label, log);
      }
      const released = await lock.release(state.token);
      core.info(released ? `${label}: deploy lock released.` : `${label}: the deploy lock was no longer ours (already released or taken over).`);
    } catch (error) {
      core.warning(`${label}: could not release the deploy lock ${path} (${(error as Error).message}); it expires on its own.`);
    } finally {
      await shell?.close();
    }
  }
}
