/**
 * `mode: swarm`: the same compose files deployed as a stack on a swarm manager, for users who have
 * outgrown one host. `docker stack deploy` returns once the services are *updated*, not running, so
 * convergence (every service at its desired replicas, its update finished) is polled here.
 */
import type { DockerCli } from '../docker.js';
import { formatDuration } from '../inputs.js';
import { sleep as realSleep } from '../retry.js';
import type { WaitOptions } from './health.js';

export interface SwarmServiceStatus {
  name: string;
  /** Running tasks / desired, as `docker service ls` shows it: `2/2`. */
  replicas: string;
  running: number;
  desired: number;
  /** updating, completed, paused, rollback_started, rollback_completed…; '' before any update. */
  updateState: string;
  image: string;
}

export class NotASwarmManagerError extends Error {
  constructor(target: string, state: string) {
    super(
      `mode: swarm needs a swarm manager, and ${target}'s engine is ${state === 'active' ? 'a swarm worker' : `not in a swarm (${state || 'inactive'})`}: ` +
        'run `docker swarm init` there once, or deploy to a manager.',
    );
    this.name = 'NotASwarmManagerError';
  }
}

export async function checkSwarmManager(docker: DockerCli): Promise<void> {
  const info = await docker.run(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'], { timeoutMs: 60_000 });
  const [state, control] = info.stdout.trim().split(' ');
  if (state !== 'active' || control !== 'true') throw new NotASwarmManagerError(docker.shell.target, state);
}

/**
 * Deploys the stack from one rendered compose file. `--with-registry-auth` hands the manager's
 * login (our throwaway DOCKER_CONFIG) to the nodes, which pull privately with it.
 */
export async function deployStack(docker: DockerCli, stack: string, composeFile: string, prune: boolean): Promise<void> {
  const args = ['stack', 'deploy', '--with-registry-auth', '--compose-file', composeFile];
  if (prune) args.push('--prune');
  // Docker 26+ waits for convergence itself unless detached; our own wait below has the timeout.
  const detach = await docker.run(['stack', 'deploy', '--help'], { allowFailure: true, timeoutMs: 30_000 });
  if (/--detach\b/.test(detach.stdout + detach.stderr)) args.push('--detach=true');
  args.push(stack);
  await docker.run(args, { stream: true, timeoutMs: 600_000 });
}

export async function stackServices(docker: DockerCli, stack: string): Promise<SwarmServiceStatus[]> {
  const listed = await docker.run(['service', 'ls', '--filter', `label=com.docker.stack.namespace=${stack}`, '--format', '{{.Name}}\t{{.Replicas}}\t{{.Image}}'], {
    timeoutMs: 60_000,
  });
  const rows = listed.stdout.split('\n').filter((line) => line.trim());
  const services: SwarmServiceStatus[] = [];
  for (const row of rows) {
    const [name, replicas, image] = row.split('\t');
    const match = /^(\d+)\/(\d+)/.exec(replicas ?? '');
    const update = await docker.run(['service', 'inspect', '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}', name], {
      allowFailure: true,
      timeoutMs: 60_000,
    });
    services.push({
      name,
      replicas,
      running: match ? Number(match[1]) : 0,
      desired: match ? Number(match[2]) : 0,
      updateState: update.stdout.trim(),
      image: image ?? '',
    });
  }
  return services.sort((a, b) => a.name.localeCompare(b.name));
}

export class StackNotConvergedError extends Error {
  constructor(
    readonly failing: readonly string[],
    readonly services: readonly SwarmServiceStatus[],
    message: string,
  ) {
    super(message);
    this.name = 'StackNotConvergedError';
  }
}

const FAILED_UPDATE_STATES = new Set(['paused', 'rollback_started', 'rollback_paused', 'rollback_completed']);


/** Waits until every service of the stack runs its desired replicas and no update is in progress. */
export async function waitForStack(docker: DockerCli, stack: string, options: WaitOptions): Promise<SwarmServiceStatus[]> {
  const sleep = options.sleep ?? realSleep;
  const now = options.now ?? Date.now;
  const deadline = now() + options.timeoutMs;
  let lastReport = '';
  for (;;) {
    const services = await stackServices(docker, stack);
    const failed = services.filter((s) => FAILED_UPDATE_STATES.has(s.updateState));
    if (failed.length) {
      throw new StackNotConvergedError(
        failed.map((s) => s.name),
        services,
        `Stack ${stack}: the update of ${failed.map((s) => `${s.name} ended ${s.updateState}`).join(', ')}.`,
      );
    }
    const pending = services.filter((s) => s.running !== s.desired || s.updateState === 'updating' || s.updateState === 'rollback_started');
    if (services.length && pending.length === 0) return services;
    const report = services.length ? pending.map((s) => `${s.name} ${s.replicas}${s.updateState ? ` (${s.updateState})` : ''}`).join(', ') : 'no services yet';
    if (report !== lastReport) options.onProgress?.(`Waiting for ${report}`);
    lastReport = report;
    if (now() >= deadline) {
      throw new StackNotConvergedError(
        pending.map((s) => s.name),
        services,
        `Stack ${stack} did not converge in ${formatDuration(options.timeoutMs)}: ${report}.`,
      );
    }
    await sleep(Math.min(options.intervalMs ?? 2_000, Math.max(0, deadline - now())));
  }
}

/** The tasks of a service that did not start, with docker's reason: what a user needs to see. */
export async function serviceTaskErrors(docker: DockerCli, service: string): Promise<string> {
  const tasks = await docker.run(['service', 'ps', '--no-trunc', '--format', '{{.Name}} {{.CurrentState}} {{.Error}}', service], {
    allowFailure: true,
    timeoutMs: 60_000,
  });
  const logs = await docker.run(['service', 'logs', '--no-task-ids', '--tail', '50', service], { allowFailure: true, timeoutMs: 60_000 });
  return `${tasks.stdout}${tasks.stderr}\n${logs.stdout}${logs.stderr}`.trim();
}
