/**
 * Remote mode: the same deployment on every host in `hosts`, over SSH (in swarm mode, on the first
 * of them that answers and is a manager: a stack is deployed once, for the whole swarm). The
 * per-host loop (scheduling, the connection, host keys) is core's `runOnHosts`, as ec2-deploy's is;
 * the deployment itself is core's `composeUpRemote`, whose host program holds the project's deploy
 * lock on the host so that two runs never deploy it there at once (in swarm mode, also under the
 * stack's swarm-wide lock: two runs through two managers exclude each other too).
 */
import * as core from '@actions/core';
import {
  DockerCli,
  LOCK_EXPIRY_MS,
  SwarmLock,
  stepLog,
  checkSwarmManager,
  composeUpRemote,
  connectHost,
  formatDuration,
  runOnHosts,
  type ComposePlan,
  type ConnectionSettings,
  type HeldSwarmLock,
  type DeployLog,
  type HostOutcome,
  type HostResults,
  type PhaseSpan,
  type RunLocks,
  type SshHost,
  type SshShell,
  type TargetResult,
} from '@slipway/core';

export type RemoteResults = HostResults<TargetResult>;

/** Swarm mode: the swarm deploy lock this run holds, for the post step to release after a cancel. */
export const SWARM_LOCK_STATE = 'swarm-lock';

interface SavedSwarmLock extends HeldSwarmLock {
  /** The manager it was taken through (any manager can release it). */
  host: string;
}

export async function deployToHosts(settings: ConnectionSettings, plan: ComposePlan, locks: RunLocks, lockTimeoutMs: number): Promise<RemoteResults> {
  if (plan.mode === 'swarm') return deployToSwarm(settings, plan, locks, lockTimeoutMs);
  return runOnHosts(
    settings.hosts,
    settings,
    settings,
    async ({ host, shell, log, connected }) => withConnectPhase(connected, await composeUpRemote(shell, plan, log, locks.forHost(host.label, lockTimeoutMs))),
    { failed: (result) => !result.ok, describe, failure: (host, error, { durationMs }) => failed(host, error, durationMs), skipped },
  );
}

/** A host whose connection failed (composeUpRemote reports its own failures in its result). */
function failed(host: SshHost, error: Error, durationMs: number): TargetResult {
  return { target: host.label, ok: false, rolledBack: false, services: [], durationMs, error: error.message };
}

/** The connection's time, first in the host's timeline. */
function withConnectPhase(connected: PhaseSpan, result: TargetResult): TargetResult {
  if (result.phases?.length) result.phases.unshift(connected);
  return result;
}

function skipped(host: SshHost): TargetResult {
  return { target: host.label, ok: false, rolledBack: false, services: [], durationMs: 0, error: 'skipped: an earlier host failed (fail-fast).' };
}

/** The line that ends a host's group and titles it when hosts run in parallel. */
function describe(outcome: HostOutcome<TargetResult>): string {
  const label = outcome.host.label;
  const result = outcome.value;
  if (outcome.status === 'skipped' || !result) return `${label}: skipped`;
  const time = formatDuration(result.durationMs || outcome.durationMs);
  if (result.ok) return `${label}: release ${result.release} is up (${time})`;
  return `${label}: FAILED${result.rolledBack ? `, release ${result.previousRelease} restored` : ''} (${time}): ${(result.error ?? '').split('\n')[0]}`;
}

/** One manager tried in swarm mode: `usable` false when it could not deploy at all (unreachable, not a manager). */
interface ManagerAttempt {
  result: TargetResult;
  usable: boolean;
}

/**
 * Swarm mode: `hosts` names the swarm's managers; the stack is deployed once, through the first
 * that answers and is a manager (any manager can deploy; a manager that is down or was demoted is
 * passed over, and says why). Its release directory and deploy lock are on that manager.
 */
async function deployToSwarm(settings: ConnectionSettings, plan: ComposePlan, locks: RunLocks, lockTimeoutMs: number): Promise<RemoteResults> {
  const hostKeys: string[] = [];
  const passedOver: TargetResult[] = [];
  for (const [index, candidate] of settings.hosts.entries()) {
    const attempted = await runOnHosts<ManagerAttempt>(
      [candidate],
      settings,
      { maxParallel: 1, failFast: false },
      async ({ host, shell, log, connected }) => {
        try {
          await checkSwarmManager(new DockerCli(shell));
        } catch (error) {
          return passOver(host, error as Error, connected.endMs - connected.startMs, log, index < settings.hosts.length - 1);
        }
        log.info(`Deploying stack ${plan.project} through the swarm manager ${host.label}.`);
        const result = await holdSwarmLock(shell, host.label, plan.project, locks, lockTimeoutMs, log, () => composeUpRemote(shell, plan, log, locks.forHost(host.label, lockTimeoutMs)));
        return { result: withConnectPhase(connected, result), usable: true };
      },
      {
        failed: (attempt) => !attempt.result.ok,
        describe: (o) => (o.value && !o.value.usable ? `${o.host.label}: passed over: ${(o.value.result.error ?? '').split('\n')[0]}` : describe({ ...o, value: o.value?.result })),
        failure: (host, error, { durationMs, connecting, log }) =>
          connecting ? passOver(host, error, durationMs, log, index < settings.hosts.length - 1) : { result: failed(host, error, durationMs), usable: true },
        skipped: (host) => ({ result: skipped(host), usable: false }),
      },
    );
    hostKeys.push(...attempted.hostKeys);
    const attempt = attempted.results[0];
    if (attempt.usable) return { results: [attempt.result], hostKeys: hostKeys.sort() };
    passedOver.push(attempt.result);
  }
  // No host could deploy: each one's reason.
  const results = passedOver.length > 1 ? passedOver.map((r) => ({ ...r, error: `no host in hosts is a swarm manager that answers: ${r.error}` })) : passedOver;
  return { results, hostKeys: hostKeys.sort() };
}

/** A manager that cannot deploy the stack (unreachable, not a manager): the next in `hosts` is tried. */
function passOver(host: SshHost, error: Error, durationMs: number, log: DeployLog, more: boolean): ManagerAttempt {
  if (more) log.info(`${host.label} cannot deploy the stack; trying the next host in hosts.`);
  return { result: failed(host, error, durationMs), usable: false };
}

/**
 * Runs `work` under the stack's swarm-wide deploy lock (core's `SwarmLock`, a swarm config): the
 * deploy lock beside the release directory is the chosen manager's alone, and two runs through two
 * managers would not see each other's. Saved in the step state while held, for the post step.
 */
async function holdSwarmLock<T>(shell: SshShell, host: string, project: string, locks: RunLocks, waitMs: number, log: DeployLog, work: () => Promise<T>): Promise<T> {
  const lock = new SwarmLock(new DockerCli(shell), project);
  const held = await lock.acquire(locks.owner, { expiryMs: LOCK_EXPIRY_MS, waitMs, onWait: (message) => log.info(message) });
  core.saveState(SWARM_LOCK_STATE, JSON.stringify({ ...held, host } satisfies SavedSwarmLock));
  log.info(`Swarm deploy lock taken (config ${held.name}).`);
  try {
    return await work();
  } finally {
    if (await lock.release(held).catch(() => false)) {
      core.saveState(SWARM_LOCK_STATE, '');
      log.info('Swarm deploy lock released.');
    }
  }
}

/** The post step: the swarm deploy lock a cancelled or cut-off main left, released if still ours. */
export async function releaseLeftSwarmLock(saved: string, settings: ConnectionSettings): Promise<void> {
  const left = JSON.parse(saved) as SavedSwarmLock;
  const log = stepLog();
  const host = settings.hosts.find((h) => h.label === left.host);
  if (!host) {
    core.warning(`${left.host}: not in \`hosts\` any more; the swarm deploy lock (config ${left.name}) expires on its own.`);
    return;
  }
  let shell: SshShell | undefined;
  try {
    shell = await connectHost(settings, host, log);
    const released = await new SwarmLock(new DockerCli(shell), '').release(left);
    core.info(released ? `Swarm deploy lock (config ${left.name}) released.` : `The swarm deploy lock (config ${left.name}) was no longer ours.`);
  } catch (error) {
    core.warning(`${left.host}: could not release the swarm deploy lock (config ${left.name}): ${(error as Error).message}; it expires on its own.`);
  } finally {
    await shell?.close();
  }
}
