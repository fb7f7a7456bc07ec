/**
 * Waiting for a compose project's services, for compose versions without a bounded `up --wait`
 * (v1, and v2 before 2.20). The rules are those of `docker compose up --wait`: a container is ready
 * when healthy, or running if it has no healthcheck; a one-shot container that exited 0 is done;
 * unhealthy, dead, or exited non-zero fails at once; anything else is waited for until the timeout.
 * Containers are found by the labels every compose version sets, and read with `docker inspect`,
 * so the same code works for v1 and v2, on the runner and on a host.
 */
import type { DockerCli } from '../docker.js';
import { pollUntil } from '../poll.js';
import { formatDuration } from '../inputs.js';

export interface ContainerStatus {
  id: string;
  name: string;
  service: string;
  image: string;
  /** created, running, restarting, paused, exited, dead (docker's State.Status). */
  state: string;
  /** healthy, unhealthy, starting; `none` when the container has no healthcheck. */
  health: string;
  exitCode: number;
}

export type Readiness = 'ready' | 'waiting' | 'failed';

export function readiness(container: ContainerStatus): Readiness {
  switch (container.state) {
    case 'running':
      if (container.health === 'healthy' || container.health === 'none') return 'ready';
      return container.health === 'unhealthy' ? 'failed' : 'waiting';
    case 'exited':
      return container.exitCode === 0 ? 'ready' : 'failed';
    case 'dead':
      return 'failed';
    default:
      // created (waiting on depends_on), restarting, paused, removing: not yet, maybe later.
      return 'waiting';
  }
}

interface InspectedContainer {
  Id: string;
  Name: string;
  Config: { Image: string; Labels?: Record<string, string> | null };
  State: { Status: string; ExitCode: number; Health?: { Status: string } | null };
}

/** The project's service containers (not `run` one-offs), as docker reports them now. */
export async function projectContainers(docker: DockerCli, project: string): Promise<ContainerStatus[]> {
  const listed = await docker.run(['ps', '--all', '--quiet', '--no-trunc', '--filter', `label=com.docker.compose.project=${project}`, '--filter', 'label=com.docker.compose.oneoff=False'], {
    timeoutMs: 60_000,
  });
  const ids = listed.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  if (ids.length === 0) return [];
  // A container can go between ps and inspect (compose replacing it): inspect what is still there.
  const inspected = await docker.run(['inspect', '--type', 'container', ...ids], { allowFailure: true, timeoutMs: 60_000 });
  const containers = JSON.parse(inspected.stdout.trim() || '[]') as InspectedContainer[];
  return containers
    .map((c) => ({
      id: c.Id,
      name: c.Name.replace(/^\//, ''),
      service: c.Config.Labels?.['com.docker.compose.service'] ?? '',
      image: c.Config.Image,
      state: c.State.Status,
      health: c.State.Health?.Status ?? 'none',
      exitCode: c.State.ExitCode,
    }))
    .sort((a, b) => a.service.localeCompare(b.service) || a.name.localeCompare(b.name));
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Replaced in tests, with `now`, to run the clock without waiting. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  onProgress?: (message: string) => void;
}

/** Why the wait ended without every service ready: the services at fault and what they showed. */
export class ServicesNotReadyError extends Error {
  constructor(
    readonly failing: readonly string[],
    readonly containers: readonly ContainerStatus[],
    readonly timedOut: boolean,
    detail: string,
  ) {
    super(detail);
    this.name = 'ServicesNotReadyError';
  }
}

export function describeContainer(container: ContainerStatus): string {
  if (container.state === 'exited') return `${container.name} exited with code ${container.exitCode}`;
  return `${container.name} ${container.state}${container.health === 'none' ? '' : `, ${container.health}`}`;
}

/**
 * Polls until every container of `services` is ready; each service needs at least one container.
 * Returns the final statuses; throws `ServicesNotReadyError` when one fails or the time is up.
 */
export async function waitForServices(docker: DockerCli, project: string, services: readonly string[], options: WaitOptions): Promise<ContainerStatus[]> {
  return pollUntil<ContainerStatus[], { notReady: string[]; containers: ContainerStatus[]; report: string }>(
    async () => {
      const containers = (await projectContainers(docker, project)).filter((c) => services.includes(c.service));
      const failed = containers.filter((c) => readiness(c) === 'failed');
      if (failed.length) {
        const failing = [...new Set(failed.map((c) => c.service))];
        throw new ServicesNotReadyError(failing, containers, false, `Service(s) ${failing.join(', ')} failed: ${failed.map(describeContainer).join('; ')}.`);
      }
      const notReady = services.filter((service) => {
        const own = containers.filter((c) => c.service === service);
        return own.length === 0 || own.some((c) => readiness(c) !== 'ready');
      });
      if (notReady.length === 0) return { done: containers };
      return { waiting: { notReady, containers, report: notReady.map((service) => describeService(service, containers)).join('; ') } };
    },
    {
      timeoutMs: options.timeoutMs,
      intervalMs: options.intervalMs ?? 2_000,
      now: options.now,
      sleep: options.sleep,
      describe: ({ report }) => report,
      onProgress: options.onProgress,
      timedOut: ({ notReady, containers, report }) =>
        new ServicesNotReadyError(notReady, containers, true, `Service(s) ${notReady.join(', ')} not ready after ${formatDuration(options.timeoutMs)}: ${report}.`),
    },
  );
}

function describeService(service: string, containers: readonly ContainerStatus[]): string {
  const own = containers.filter((c) => c.service === service);
  if (own.length === 0) return `${service} (no container)`;
  return `${service} (${own
    .filter((c) => readiness(c) !== 'ready')
    .map(describeContainer)
    .join('; ')})`;
}
