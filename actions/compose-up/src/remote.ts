/**
 * Remote mode: the same deployment on every host in `hosts`, over SSH. Scheduling (max-parallel,
 * fail-fast, each host's log kept together) is core's `forEachHost`, and each host's Shell is core's
 * `SshShell`, opened as ec2-deploy opens it; the deployment itself is core's `composeUpRemote`, run
 * under the project's deploy lock on the host so that two runs never deploy it there at once.
 */
import { posix } from 'node:path';
import {
  composeUpRemote,
  connectHost,
  forEachHost,
  formatDuration,
  hostDeployLog,
  knownHostsLine,
  resolveRemoteDir,
  type ComposePlan,
  type ConnectionSettings,
  type HostOutcome,
  type RunLocks,
  type SshHost,
  type SshShell,
  type TargetResult,
} from '@slipway/core';

export interface RemoteResults {
  /** One per host, in the order of `hosts`. */
  results: TargetResult[];
  /** The host key of each host reached, as known_hosts lines: what to pin. */
  hostKeys: string[];
}

export async function deployToHosts(settings: ConnectionSettings, plan: ComposePlan, locks: RunLocks, lockTimeoutMs: number): Promise<RemoteResults> {
  const hostKeys: string[] = [];
  const outcomes = await forEachHost(
    settings.hosts,
    settings,
    async (host, log): Promise<TargetResult> => {
      const started = Date.now();
      let shell: SshShell | undefined;
      try {
        shell = await connectHost(settings, host, log);
        hostKeys.push(knownHostsLine(host.host, host.port, shell.hostKey));
        const connected = shell;
        const remoteDir = await resolveRemoteDir(connected, plan.remoteDir);
        return await locks.hold(connected, host.label, posix.join(remoteDir, 'deploy.lock'), lockTimeoutMs, log, () =>
          composeUpRemote(connected, { ...plan, remoteDir }, hostDeployLog(log)),
        );
      } catch (error) {
        // The connection or the lock: composeUpRemote reports its own failures in its result.
        return { target: host.label, ok: false, rolledBack: false, services: [], durationMs: Date.now() - started, error: (error as Error).message };
      } finally {
        await shell?.close();
      }
    },
    { failed: (result) => !result.ok, describe },
  );
  return { results: outcomes.map((outcome) => outcome.value ?? skipped(outcome.host)), hostKeys: hostKeys.sort() };
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
