/**
 * Remote mode: the same deployment on every host in `hosts`, over SSH. The connection inputs are
 * ec2-deploy's and are parsed by core (issue 3); this file only schedules hosts (max-parallel,
 * fail-fast) and runs core's `composeUpRemote` through each host's Shell.
 */
import * as core from '@actions/core';
import { composeUpRemote, stepLog, type ComposePlan, type InputReader, type Shell, type TargetResult } from '@slipway/core';

/** What remote mode needs from core's SSH part; adapted to its real API once it lands. */
interface Connection {
  hosts: readonly { label: string }[];
  maxParallel: number;
  failFast: boolean;
  open(host: { label: string }): Promise<Shell>;
}

function parseConnection(read: InputReader): Connection {
  void read;
  // packages/core/src/ssh (SshShell and the shared connection-input parser) is not in this tree yet.
  throw new Error('compose-up: deploying to `hosts` needs the SSH part of @slipway/core (issue 3), which this build does not have yet.');
}

export async function deployToHosts(read: InputReader, plan: ComposePlan): Promise<TargetResult[]> {
  const connection = parseConnection(read);
  const { hosts } = connection;
  const parallel = connection.maxParallel > 0 ? Math.min(connection.maxParallel, hosts.length) : hosts.length;
  // Streamed output (and groups) only when one host runs at a time; in parallel, lines are prefixed.
  const stream = parallel === 1;
  const results: TargetResult[] = new Array(hosts.length);
  let next = 0;
  let stop = false;

  const worker = async (): Promise<void> => {
    while (!stop && next < hosts.length) {
      const index = next++;
      const host = hosts[index];
      const started = Date.now();
      let shell: Shell | undefined;
      try {
        shell = await connection.open(host);
        results[index] = await composeUpRemote(shell, plan, stepLog(parallel === 1 ? '' : host.label, stream));
      } catch (error) {
        results[index] = { target: host.label, ok: false, rolledBack: false, services: [], durationMs: Date.now() - started, error: (error as Error).message };
      } finally {
        await shell?.close();
      }
      if (!results[index].ok && connection.failFast && connection.maxParallel > 0) stop = true;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));

  for (let i = 0; i < hosts.length; i++) {
    if (!results[i]) {
      results[i] = { target: hosts[i].label, ok: false, rolledBack: false, services: [], durationMs: 0, error: 'not deployed: an earlier host failed (fail-fast).' };
      core.warning(`${hosts[i].label}: skipped, an earlier host failed (fail-fast)`);
    }
  }
  return results;
}
