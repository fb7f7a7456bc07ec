/**
 * `mode: swarm`: the same compose files deployed as a stack on a swarm manager, for users who have
 * outgrown one host. `docker stack deploy` returns once the services are *updated*, not running, so
 * convergence (every service at its desired replicas, its update finished) is polled here.
 */
import yaml from 'js-yaml';
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
  /** Docker's word on the last update: why it paused or rolled back. */
  updateMessage: string;
  image: string;
}

/** One task (a replica) of a stack that should be running: where it runs and in what state. */
export interface SwarmTask {
  service: string;
  /** `stack_app.1` */
  task: string;
  /** The node's hostname, and the address it has in the swarm (EC2 hostnames say little; sandbox nodes share one). */
  node: string;
  nodeAddress: string;
  /** new, pending, preparing, starting, running, failed… (the task's own state, not the desired one). */
  state: string;
  image: string;
  error: string;
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
 * A failed update's default `failure_action` is `pause`: the service is left half updated, `paused`,
 * until someone acts. Services that do not choose get `rollback` in the rendered stack file: swarm
 * then puts the previous version back by itself. Returns the file and the services given the default.
 */
export function withRollbackOnFailure(rendered: string): { text: string; defaulted: string[] } {
  const document = yaml.load(rendered) as { services?: Record<string, { deploy?: { update_config?: Record<string, unknown> } | null } | null> } | null;
  const defaulted: string[] = [];
  for (const [name, service] of Object.entries(document?.services ?? {})) {
    if (!service) continue;
    const deploy = (service.deploy ??= {});
    const update = (deploy.update_config ??= {});
    if (update.failure_action === undefined) {
      update.failure_action = 'rollback';
      defaulted.push(name);
    }
  }
  return defaulted.length ? { text: yaml.dump(document, { lineWidth: -1, noRefs: true }), defaulted } : { text: rendered, defaulted };
}

type StackDeploy = { mode?: string; replicas?: number; update_config?: { order?: string }; placement?: { max_replicas_per_node?: number } };

/**
 * Services whose updates start each new task before stopping its old one (`order: start-first`)
 * while every node is at its `max_replicas_per_node` (replicas ≥ limit × nodes that take tasks): the
 * new task has nowhere to start, and the update stays pending for ever (moby/moby#40797).
 */
export function startFirstAtLimit(rendered: string, nodes: number): string[] {
  const document = yaml.load(rendered) as { services?: Record<string, { deploy?: StackDeploy | null } | null> } | null;
  return Object.entries(document?.services ?? {})
    .filter(([, service]) => {
      const deploy = service?.deploy;
      const limit = deploy?.placement?.max_replicas_per_node;
      if (!deploy || deploy.update_config?.order !== 'start-first' || !limit || deploy.mode === 'global') return false;
      return (deploy.replicas ?? 1) >= limit * nodes;
    })
    .map(([name]) => name);
}

/** Nodes that take tasks: ready, and available (not paused or drained). */
export async function activeNodeCount(docker: DockerCli): Promise<number> {
  const listed = await docker.run(['node', 'ls', '--format', '{{.Status}} {{.Availability}}'], { timeoutMs: 60_000 });
  return listed.stdout.split('\n').filter((line) => line.trim() === 'Ready Active').length;
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
    const update = await docker.run(['service', 'inspect', '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}\t{{.UpdateStatus.Message}}{{end}}', name], {
      allowFailure: true,
      timeoutMs: 60_000,
    });
    const [updateState = '', updateMessage = ''] = update.stdout.trim().split('\t');
    services.push({
      name,
      replicas,
      running: match ? Number(match[1]) : 0,
      desired: match ? Number(match[2]) : 0,
      updateState,
      updateMessage,
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

/** Updates that ended badly. `rollback_started` is not one yet: swarm is putting the previous version back, wait for it. */
const FAILED_UPDATE_STATES = new Set(['paused', 'rollback_paused', 'rollback_completed']);

/** What a failed update left, in words: `rollback_completed` means the previous version runs again. */
export function describeFailedUpdate(service: SwarmServiceStatus): string {
  const why = service.updateMessage ? ` (${service.updateMessage})` : '';
  switch (service.updateState) {
    case 'rollback_completed':
      return `swarm rolled ${service.name} back to its previous version after its update failed${why}`;
    case 'rollback_paused':
      return `the rollback of ${service.name} paused${why}: run \`docker service rollback ${service.name}\` or deploy again`;
    default:
      return `the update of ${service.name} ended ${service.updateState}${why}`;
  }
}

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
        `Stack ${stack}: ${failed.map(describeFailedUpdate).join('; ')}.`,
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

/**
 * The tasks meant to be running (desired state running) of a stack, with the node each is on:
 * `stack ps` names nodes by hostname only, so the node IDs come from the tasks and their
 * addresses from the nodes.
 */
export async function stackTasks(docker: DockerCli, stack: string): Promise<SwarmTask[]> {
  const listed = await docker.run(
    ['stack', 'ps', '--no-trunc', '--filter', 'desired-state=running', '--format', '{{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Error}}', stack],
    { allowFailure: true, timeoutMs: 60_000 },
  );
  const rows = listed.stdout.split('\n').filter((line) => line.trim()).map((line) => line.split('\t'));
  if (listed.exitCode !== 0 || rows.length === 0) return [];
  const inspected = await docker.run(['inspect', '--type', 'task', '--format', '{{.ID}}\t{{.NodeID}}\t{{.Status.State}}', ...rows.map((r) => r[0])], {
    allowFailure: true,
    timeoutMs: 60_000,
  });
  const byTask = new Map<string, { node: string; state: string }>();
  for (const line of inspected.stdout.split('\n').filter((l) => l.trim())) {
    const [id, node, state] = line.split('\t');
    byTask.set(id, { node, state });
  }
  const nodeIds = [...new Set([...byTask.values()].map((t) => t.node).filter(Boolean))];
  const nodes = new Map<string, { hostname: string; addr: string }>();
  if (nodeIds.length) {
    const described = await docker.run(['node', 'inspect', '--format', '{{.ID}}\t{{.Description.Hostname}}\t{{.Status.Addr}}', ...nodeIds], { allowFailure: true, timeoutMs: 60_000 });
    for (const line of described.stdout.split('\n').filter((l) => l.trim())) {
      const [id, hostname, addr] = line.split('\t');
      nodes.set(id, { hostname, addr });
    }
  }
  return rows
    .map(([id, name, image, error]) => {
      const task = byTask.get(id);
      const node = task ? nodes.get(task.node) : undefined;
      return {
        service: name.replace(/\.[^.]*$/, ''),
        task: name,
        node: node?.hostname ?? task?.node ?? '',
        nodeAddress: node?.addr ?? '',
        state: task?.state ?? '',
        image,
        error: error ?? '',
      };
    })
    .sort((a, b) => a.task.localeCompare(b.task, undefined, { numeric: true }));
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
