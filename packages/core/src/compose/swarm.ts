/**
 * `mode: swarm`: the same compose files deployed as a stack on a swarm manager, for users who have
 * outgrown one host. `docker stack deploy` returns once the services are *updated*, not running, so
 * convergence (every service at its desired replicas, its update finished) is polled here.
 */
import { createHash } from 'node:crypto';
import yaml from 'js-yaml';
import type { DockerCli } from '../docker.js';
import { lockWait, type AcquireOptions, type LockOwner } from '../host/deploy-lock.js';
import { pollUntil } from '../poll.js';
import { formatDuration } from '../inputs.js';
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
  /** The node this task's slot ran on before that node went down (swarm started it again elsewhere). */
  movedFrom?: string;
}

/** A node of the swarm as the managers see it. */
export interface SwarmNode {
  id: string;
  hostname: string;
  address: string;
  /** ready, down, unknown, disconnected. */
  state: string;
  /** active, pause, drain. */
  availability: string;
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

export async function swarmNodes(docker: DockerCli): Promise<SwarmNode[]> {
  const ids = (await docker.run(['node', 'ls', '-q'], { timeoutMs: 60_000 })).stdout.split('\n').filter((id) => id.trim());
  if (!ids.length) return [];
  const described = await docker.run(['node', 'inspect', '--format', '{{.ID}}\t{{.Description.Hostname}}\t{{.Status.Addr}}\t{{.Status.State}}\t{{.Spec.Availability}}', ...ids], {
    allowFailure: true,
    timeoutMs: 60_000,
  });
  return described.stdout
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const [id, hostname, address, state, availability] = line.split('\t');
      return { id, hostname, address, state, availability };
    });
}

/** `ip-10-0-1-11 (10.0.1.11)`: EC2 hostnames say little, and nodes may share one. */
export function describeNode(node: Pick<SwarmNode, 'hostname' | 'address'>): string {
  return node.address ? `${node.hostname} (${node.address})` : node.hostname;
}

/**
 * The tasks now running in a slot that ran, before the deployment, on a node that is down since:
 * swarm started them again on another node. Each gets `movedFrom`.
 */
export function movedTasks(before: readonly SwarmTask[], after: readonly SwarmTask[], down: readonly SwarmNode[]): SwarmTask[] {
  const downAddresses = new Set(down.map((node) => node.address).filter(Boolean));
  return after.flatMap((task) => {
    const was = before.find((old) => old.task === task.task && downAddresses.has(old.nodeAddress));
    return was && was.nodeAddress !== task.nodeAddress ? [{ ...task, movedFrom: describeNode({ hostname: was.node, address: was.nodeAddress }) }] : [];
  });
}

/**
 * GitHub's workflow token (and any GitHub App installation token) starts `ghs_` and dies with the
 * job, or within the hour: a swarm keeps the forwarded login and pulls with it whenever it starts
 * a task on a node without the image, long after the job.
 * https://github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats/
 */
export function isShortLivedGitHubToken(password: string): boolean {
  return password.startsWith('ghs_');
}

/** What a swarm deployment with a registry login says about it: a warning when the token dies with the job. */
export function forwardedLoginNotice(registry: string, password: string): { level: 'warning' | 'info'; message: string } {
  const advice = 'give a long-lived read-only token (GHCR: a read:packages token, or a GitHub App token refreshed on the hosts), or have the images on every node';
  if (isShortLivedGitHubToken(password)) {
    return {
      level: 'warning',
      message: `registry-password is a GitHub token that dies with this job (ghs_…), and the swarm keeps it for later pulls: a task rescheduled after the job on a node without the image will fail to pull. For mode: swarm, ${advice}.`,
    };
  }
  return { level: 'info', message: `The swarm keeps the login to ${registry} for later pulls (tasks rescheduled after this job): it must outlive the job; otherwise ${advice}.` };
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

/**
 * How long a task may stay pending with "no suitable node" before the wait gives up on it. Swarm
 * places it only once the swarm changes (a node comes back or joins, a constraint or limit is
 * changed), which a deployment does not do by waiting; a few polls' grace covers the moments of an
 * update when a node is briefly full (a replaced task still stopping).
 */
export const UNPLACEABLE_GRACE_MS = 30_000;

/**
 * How long an update open across a lost node may show no change in its tasks before the wait sets
 * it going again (`resumeUpdate`): swarm's updater may be waiting for a task it gave that node.
 */
export const STALLED_UPDATE_MS = 30_000;

export interface StackWaitOptions extends WaitOptions {
  /** Default `UNPLACEABLE_GRACE_MS`. */
  unplaceableGraceMs?: number;
  /** Default `STALLED_UPDATE_MS`. */
  stalledUpdateMs?: number;
  /** Told once for each node found down (or unknown, disconnected) while the stack converges. */
  onNodeDown?: (node: SwarmNode) => void;
  /**
   * Told once for each service whose update swarm keeps `updating` only for a slot on a node that
   * is down, while every replica it wants runs the new image on the nodes that are up: the wait
   * ends there, and swarm finishes that slot when the node comes back.
   */
  onUpdateLeftToSwarm?: (service: SwarmServiceStatus, nodes: readonly SwarmNode[]) => void;
  /**
   * Told once for each service whose update the wait set going again: swarm's updater waits for a
   * new task it had given a node now down, and keeps that slot's previous task running meanwhile
   * (seen at once when every slot runs the new image beside a previous one, else after the tasks
   * have not changed for `stalledUpdateMs`).
   */
  onUpdateResumed?: (service: SwarmServiceStatus, nodes: readonly SwarmNode[]) => void;
}

/** Tasks swarm found no node for: node constraints, max_replicas_per_node, resources, nodes down. */
function unplaceableTasks(tasks: readonly SwarmTask[]): SwarmTask[] {
  return tasks.filter((task) => task.state === 'pending' && /no suitable node/i.test(task.error));
}

/**
 * Waits until every service of the stack runs its desired replicas and no update is in progress.
 * While it waits it looks at the nodes (one down: said once, its tasks move to the others) and at
 * the tasks: a task swarm cannot place fails the wait after `unplaceableGraceMs`, with docker's
 * reason, rather than at the timeout. Not while an update open across a lost node is still to be
 * set going again: its start-first tasks may be what fills the nodes that are up, and the grace
 * starts again once it is.
 */
export async function waitForStack(docker: DockerCli, stack: string, options: StackWaitOptions): Promise<SwarmServiceStatus[]> {
  const now = options.now ?? Date.now;
  const grace = options.unplaceableGraceMs ?? UNPLACEABLE_GRACE_MS;
  const down = new Map<string, SwarmNode>();
  const leftToSwarm = new Set<string>();
  const resumed = new Set<string>();
  const stalled = new Map<string, { tasks: string; since: number }>();
  /** How long the service's tasks (where, in what state, on what image) have looked the same. */
  const stalledFor = (service: string, tasks: readonly SwarmTask[]): number => {
    const seen = tasks
      .filter((t) => t.service === service)
      .map((t) => `${t.task} ${t.nodeAddress} ${t.state} ${t.image}`)
      .sort()
      .join('\n');
    const since = stalled.get(service)?.tasks === seen ? stalled.get(service)!.since : now();
    stalled.set(service, { tasks: seen, since });
    return now() - since;
  };
  let unplaceableSince: number | undefined;
  return pollUntil<SwarmServiceStatus[], { pending: SwarmServiceStatus[]; services: SwarmServiceStatus[]; report: string }>(
    async () => {
      const services = await stackServices(docker, stack);
      const failed = services.filter((s) => FAILED_UPDATE_STATES.has(s.updateState));
      if (failed.length) {
        throw new StackNotConvergedError(
          failed.map((s) => s.name),
          services,
          `Stack ${stack}: ${failed.map(describeFailedUpdate).join('; ')}.`,
        );
      }
      const notReady = (await swarmNodes(docker)).filter((node) => node.state !== 'ready');
      for (const node of notReady) {
        if (down.has(node.id)) continue;
        down.set(node.id, node);
        options.onNodeDown?.(node);
      }
      let pending = services.filter((s) => s.running !== s.desired || updateInProgress(s));
      const tasks = services.length && (pending.length || notReady.length) ? await stackTasks(docker, stack) : [];
      // An update open across a lost node that the wait has not yet set going again: until it has,
      // a task with no node may be waiting only for that update's extra start-first task to stop.
      let resumePending = false;
      if (notReady.length) {
        const updates = countWithoutNodes(services, tasks, notReady);
        for (const s of services) {
          const update = updates.get(s.name);
          if (update === 'done') {
            if (!leftToSwarm.has(s.name)) options.onUpdateLeftToSwarm?.(s, notReady);
            leftToSwarm.add(s.name);
          } else if (update && !resumed.has(s.name)) {
            if (update === 'stuck' || stalledFor(s.name, tasks) >= (options.stalledUpdateMs ?? STALLED_UPDATE_MS)) {
              resumed.add(s.name);
              await resumeUpdate(docker, s.name);
              options.onUpdateResumed?.(s, notReady);
              // The new update frees a slot's node: the grace for a task with no node starts again.
              unplaceableSince = undefined;
            } else {
              resumePending = true;
            }
          }
        }
        pending = services.filter((s) => s.running !== s.desired || (updateInProgress(s) && updates.get(s.name) !== 'done'));
      }
      if (services.length && pending.length === 0) return { done: services };

      const unplaceable = unplaceableTasks(tasks);
      unplaceableSince = unplaceable.length ? (unplaceableSince ?? now()) : undefined;
      if (unplaceableSince !== undefined && !resumePending && now() - unplaceableSince >= grace) {
        const nodesDown = [...down.values()].map((node) => `${describeNode(node)} ${node.state}`);
        throw new StackNotConvergedError(
          [...new Set(unplaceable.map((task) => task.service))],
          services,
          `Stack ${stack}: swarm has no node for ${unplaceable.map((t) => `${t.task} (${t.error})`).join(', ')}, pending for ${formatDuration(now() - unplaceableSince)}` +
            `${nodesDown.length ? `; node${nodesDown.length > 1 ? 's' : ''} ${nodesDown.join(', ')}` : ''}. It starts once a node can take it: bring a node back or add one, ` +
            'or lower replicas or loosen placement (constraints, max_replicas_per_node, reservations).',
        );
      }
      const report = services.length
        ? pending.map((s) => `${s.name} ${s.replicas}${s.updateState ? ` (${s.updateState})` : ''}`).join(', ') + unplaceable.map((t) => `; ${t.task} pending: ${t.error}`).join('')
        : 'no services yet';
      return { waiting: { pending, services, report } };
    },
    {
      timeoutMs: options.timeoutMs,
      intervalMs: options.intervalMs ?? 2_000,
      now: options.now,
      sleep: options.sleep,
      describe: ({ report }) => report,
      onProgress: options.onProgress,
      timedOut: ({ pending, services, report }) =>
        new StackNotConvergedError(
          pending.map((s) => s.name),
          services,
          `Stack ${stack} did not converge in ${formatDuration(options.timeoutMs)}: ${report}.`,
        ),
    },
  );
}

function updateInProgress(service: SwarmServiceStatus): boolean {
  return service.updateState === 'updating' || service.updateState === 'rollback_started';
}

/**
 * While nodes are down, counts each service's running replicas from its tasks on the nodes that are
 * up: a task on a node that is down still counts as running in `service ls` (`4/3`, or a full `5/5`
 * with one task pending), since its node cannot report otherwise.
 *
 * And says how far an update open across a lost node got. Swarm restarts a down node's tasks on the
 * other nodes at once, but its updater waits for the new task it had started in that node's slot,
 * which cannot report, and stays `updating` until the node is back. `done`: the wanted replicas run
 * the new image on the nodes that are up. `stuck`: every slot runs the new image there, but the
 * updater had given a slot's new task to the lost node and keeps that slot's previous task running
 * beside its replacement. `open`: not there yet (the caller watches whether it moves at all).
 */
function countWithoutNodes(services: SwarmServiceStatus[], tasks: readonly SwarmTask[], down: readonly SwarmNode[]): Map<string, 'done' | 'stuck' | 'open'> {
  const gone = new Set(down.map((node) => node.address).filter(Boolean));
  const updates = new Map<string, 'done' | 'stuck' | 'open'>();
  for (const s of services) {
    const running = tasks.filter((t) => t.service === s.name && t.state === 'running' && !gone.has(t.nodeAddress));
    Object.assign(s, { running: running.length, replicas: s.replicas.replace(/^\d+\/\d+/, `${running.length}/${s.desired}`) });
    if (s.updateState !== 'updating') continue;
    const freshSlots = new Set(running.filter((t) => t.image === s.image).map((t) => t.task));
    if (freshSlots.size < s.desired) updates.set(s.name, 'open');
    else updates.set(s.name, running.every((t) => t.image === s.image) ? 'done' : 'stuck');
  }
  return updates;
}

/**
 * Starts a new update of `service` that supersedes one stuck on a lost node: a label on the service
 * (not on its tasks) changes the spec, and the new updater replaces only the tasks still on the
 * previous version. The image is kept as pinned (`--no-resolve-image`), with the service's registry
 * auth; `stack deploy` drops the label again next time.
 */
export async function resumeUpdate(docker: DockerCli, service: string): Promise<void> {
  await docker.run(['service', 'update', '--detach', '--no-resolve-image', '--label-add', `com.slipway.update-resumed=${new Date().toISOString()}`, service], { timeoutMs: 60_000 });
}

/**
 * The tasks meant to be running (desired state running) of a stack, with the node each is on:
 * `stack ps` names nodes by hostname only, so the node IDs come from the tasks and their
 * addresses from the nodes.
 */
export async function stackTasks(docker: DockerCli, stack: string): Promise<SwarmTask[]> {
  const listed = await docker.run(['stack', 'ps', '--no-trunc', '--filter', 'desired-state=running', '--format', '{{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Error}}', stack], {
    allowFailure: true,
    timeoutMs: 60_000,
  });
  const rows = listed.stdout
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => line.split('\t'));
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

/**
 * One deployment of a stack at a time across the whole swarm. The deploy lock beside the release
 * directory is per manager: two runs going through different managers would not see each other's.
 * This lock is a swarm config named after the project: the managers' Raft store refuses a second
 * config of one name (AlreadyExists), so `config create` is an atomic take, on whichever manager.
 * The holder's token and expiry are labels (configs are immutable); an expired lock is removed by
 * its ID, so two waiters that both saw it expire cannot remove each other's new lock.
 */
export const SWARM_LOCK_LABELS = { token: 'dev.slipway.lock.token', expires: 'dev.slipway.lock.expires', owner: 'dev.slipway.lock.owner' } as const;

/** A swarm lock this run holds: enough for its post step to release it after a cancel. */
export interface HeldSwarmLock {
  name: string;
  id: string;
  token: string;
}

interface SwarmLockHolder {
  id: string;
  token: string;
  /** Epoch seconds, the clock of the runner that took it. */
  expiresAt: number;
  description: string;
}

/** Config names are at most 64 characters: a long project name is replaced by its hash. */
export function swarmLockName(project: string): string {
  const name = `slipway-deploy-lock-${project}`;
  return name.length <= 64 ? name : `slipway-deploy-lock-${createHash('sha256').update(project).digest('hex').slice(0, 32)}`;
}

export class SwarmLock {
  readonly name: string;

  constructor(
    readonly docker: DockerCli,
    project: string,
  ) {
    this.name = swarmLockName(project);
  }

  private async holder(ref: string): Promise<SwarmLockHolder | undefined> {
    const label = (name: string) => `{{index .Spec.Labels "${name}"}}`;
    const format = ['{{.ID}}', label(SWARM_LOCK_LABELS.token), label(SWARM_LOCK_LABELS.expires), label(SWARM_LOCK_LABELS.owner)].join('\t');
    const inspected = await this.docker.run(['config', 'inspect', '--format', format, ref], { allowFailure: true, timeoutMs: 60_000 });
    if (inspected.exitCode !== 0) return undefined;
    const [id, token, expires, description] = inspected.stdout.trim().split('\t');
    return { id, token, expiresAt: Number(expires) || 0, description: description ?? '' };
  }

  private async create(owner: LockOwner, expiryMs: number, now: number): Promise<string | undefined> {
    const expires = Math.ceil((now + expiryMs) / 1000);
    const args = ['config', 'create', '--label', `${SWARM_LOCK_LABELS.token}=${owner.token}`, '--label', `${SWARM_LOCK_LABELS.expires}=${expires}`];
    args.push('--label', `${SWARM_LOCK_LABELS.owner}=${owner.description.replace(/[\r\n]+/g, ' ')}`, this.name, '-');
    const created = await this.docker.run(args, { stdin: owner.token, allowFailure: true, timeoutMs: 60_000 });
    if (created.exitCode === 0) return created.stdout.trim();
    if (/already exists|AlreadyExists/i.test(created.stderr)) return undefined;
    throw new Error(`${this.docker.shell.target}: could not take the swarm deploy lock (config ${this.name}): ${lastLine(created.stderr || created.stdout)}`);
  }

  /** One attempt: taken (with its config ID), or who holds it. An expired holder's lock is removed first. */
  async tryAcquire(owner: LockOwner, expiryMs: number, now: number): Promise<{ id: string; tookOverFrom?: string } | { holder?: SwarmLockHolder }> {
    const id = await this.create(owner, expiryMs, now);
    if (id) return { id };
    const holder = await this.holder(this.name);
    if (!holder) return {};
    if (holder.token === owner.token) return { id: holder.id };
    if (holder.expiresAt * 1000 > now) return { holder };
    await this.docker.run(['config', 'rm', holder.id], { allowFailure: true, timeoutMs: 60_000 });
    const taken = await this.create(owner, expiryMs, now);
    return taken ? { id: taken, tookOverFrom: holder.description || 'an unknown holder' } : { holder: await this.holder(this.name) };
  }

  /** Takes the lock, waiting for another holder up to `waitMs`. */
  async acquire(owner: LockOwner, options: AcquireOptions): Promise<HeldSwarmLock> {
    const now = options.now ?? Date.now;
    return pollUntil<HeldSwarmLock, SwarmLockHolder | undefined>(
      async () => {
        const attempt = await this.tryAcquire(owner, options.expiryMs, now());
        if (!('id' in attempt)) return { waiting: attempt.holder };
        if (attempt.tookOverFrom) options.onWait?.(`Took over an expired swarm deploy lock from ${attempt.tookOverFrom}.`);
        return { done: { name: this.name, id: attempt.id, token: owner.token } };
      },
      {
        ...lockWait(options),
        onFirstWait: (holder) =>
          options.onWait?.(`Waiting for the swarm deploy lock (config ${this.name}), held by ${holder?.description || 'another deployment'} (up to ${formatDuration(options.waitMs)}).`),
        timedOut: (holder, waited) =>
          new Error(
            `${this.docker.shell.target}: another deployment of this stack holds the swarm deploy lock (config ${this.name}, ${holder?.description || 'holder unknown'}); ` +
              `gave up after waiting ${formatDuration(waited)}. It is released when that deployment ends, or expires at ${holder ? new Date(holder.expiresAt * 1000).toISOString() : 'its expiry'}.`,
          ),
      },
    );
  }

  /** Removes the lock if it is still the one `held` took (by its ID): never a lock taken over since. */
  async release(held: HeldSwarmLock): Promise<boolean> {
    const holder = await this.holder(held.id);
    if (!holder || holder.token !== held.token) return false;
    const removed = await this.docker.run(['config', 'rm', held.id], { allowFailure: true, timeoutMs: 60_000 });
    return removed.exitCode === 0;
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}
