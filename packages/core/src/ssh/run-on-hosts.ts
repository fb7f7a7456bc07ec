/**
 * The per-host loop both deploying actions run: `forEachHost`'s scheduling (max-parallel, fail-fast,
 * each host's log kept together), and for each host the connection (`connectHost`), its host key
 * kept for the `host-fingerprints` output, the time it took (the timeline's first phase), the work,
 * and the connection closed whatever happened. What a result is stays each action's own.
 */
import type { DeployLog } from '../log.js';
import type { PhaseSpan } from '../host/timeline.js';
import { connectHost } from './connect-host.js';
import type { ConnectionSettings } from './connection-inputs.js';
import { forEachHost, type FleetOptions, type HostOutcome } from './fleet.js';
import type { SshHost } from './host-address.js';
import { knownHostsLine } from './host-keys.js';
import type { SshShell } from './ssh-shell.js';

/** One host, connected. */
export interface HostSession {
  host: SshHost;
  shell: SshShell;
  log: DeployLog;
  /** The connection's time, as the first span of the host's timeline. */
  connected: PhaseSpan;
}

export interface HostResults<T> {
  /** Each host's, in the order of `hosts`. */
  results: T[];
  /** The host key of each host reached, as known_hosts lines: what to pin. */
  hostKeys: string[];
}

export interface RunOnHostsCallbacks<T> {
  /** Whether a result counts as a failure (for fail-fast). */
  failed(value: T): boolean;
  /** The line that ends a host's group and titles it when hosts run in parallel. */
  describe(outcome: HostOutcome<T>): string;
  /** A host whose connection or work threw; `connecting` when it never got connected. */
  failure(host: SshHost, error: Error, details: { durationMs: number; connecting: boolean; log: DeployLog }): T;
  /** A host not started after an earlier one failed (fail-fast). */
  skipped(host: SshHost): T;
}

export async function runOnHosts<T>(
  hosts: readonly SshHost[],
  settings: ConnectionSettings,
  options: FleetOptions,
  work: (session: HostSession) => Promise<T>,
  callbacks: RunOnHostsCallbacks<T>,
): Promise<HostResults<T>> {
  const hostKeys: string[] = [];
  const outcomes = await forEachHost(
    hosts,
    options,
    async (host, log): Promise<T> => {
      const started = Date.now();
      let shell: SshShell | undefined;
      try {
        try {
          shell = await connectHost(settings, host, log);
        } catch (error) {
          return callbacks.failure(host, error as Error, { durationMs: Date.now() - started, connecting: true, log });
        }
        hostKeys.push(knownHostsLine(host.host, host.port, shell.hostKey));
        return await work({ host, shell, log, connected: { phase: 'connect', startMs: started, endMs: Date.now() } });
      } catch (error) {
        return callbacks.failure(host, error as Error, { durationMs: Date.now() - started, connecting: false, log });
      } finally {
        await shell?.close();
      }
    },
    { failed: (value) => callbacks.failed(value), describe: (outcome) => callbacks.describe(outcome) },
  );
  return { results: outcomes.map((outcome) => outcome.value ?? callbacks.skipped(outcome.host)), hostKeys: hostKeys.sort() };
}
