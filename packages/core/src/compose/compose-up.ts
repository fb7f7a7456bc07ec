/**
 * One compose deployment on one target, through its `Shell`: on the runner (files used where they
 * are) or on a host (files uploaded into a new release directory, `current` switched when the
 * services are up, the previous release applied again when they are not).
 */
import { posix } from 'node:path';
import * as core from '@actions/core';
import yaml from 'js-yaml';
import { DockerCli, RegistrySession, type RegistryCredentials } from '../docker.js';
import { formatDuration } from '../inputs.js';
import type { PhaseSpan } from '../host/timeline.js';
import { lastLines, type Shell } from '../shell.js';
import type { DeployLog } from '../log.js';
import { ComposeCli, type ComposeProject, type PullPolicy } from './compose-cli.js';
import type { ComposeModel } from './compose-file.js';
import { composeEnvFile } from './env-file.js';
import { ServicesNotReadyError, projectContainers, waitForServices, type ContainerStatus } from './health.js';
import { OVERRIDE_FILE_NAME, composeOverride } from './override.js';
import { RELEASE_META_DIR, type ReleaseStore, type ReleaseManifest } from './release.js';
import {
  StackNotConvergedError,
  activeNodeCount,
  checkSwarmManager,
  deployStack,
  describeNode,
  forwardedLoginNotice,
  movedTasks,
  serviceTaskErrors,
  stackTasks,
  startFirstAtLimit,
  waitForStack,
  withRollbackOnFailure,
  type SwarmNode,
  type SwarmServiceStatus,
  type SwarmTask,
} from './swarm.js';

export type DeployMode = 'compose' | 'swarm';

/** Everything a deployment needs, validated on the runner before any target is touched. */
export interface ComposePlan {
  project: string;
  mode: DeployMode;
  workspace: string;
  model: ComposeModel;
  /** service → image reference, for the generated override. */
  images: ReadonlyMap<string, string>;
  /** Services to start; empty for all. */
  services: readonly string[];
  /** Interpolation values (`env-file`, `env`, `vars`), written per target for its compose; none: no env file. */
  env?: ReadonlyMap<string, string>;
  /** Extra paths to upload, relative to the workspace (build contexts, configs). */
  uploads: readonly string[];
  pull: PullPolicy;
  build: boolean;
  wait: boolean;
  waitTimeoutMs: number;
  removeOrphans: boolean;
  registry?: RegistryCredentials;
  /** Remote only: where releases live (may start with `~`), and how many to keep. */
  remoteDir: string;
  keepReleases: number;
  releaseId: string;
  runUrl?: string;
}

export interface ServiceState {
  service: string;
  container: string;
  image: string;
  state: string;
  health: string;
}

export interface TargetResult {
  target: string;
  ok: boolean;
  /** `docker-compose 1.29.2`, `docker compose 2.24.5`. */
  compose?: string;
  release?: string;
  previousRelease?: string;
  /** The previous release was applied again after this one failed. */
  rolledBack: boolean;
  services: ServiceState[];
  /** Swarm: each task meant to be running, with its node and state (after a failure too). */
  tasks?: SwarmTask[];
  /** Swarm: nodes found down (or unknown) while the stack converged, `hostname (address)`. */
  nodesDown?: string[];
  /** On a host: when each phase of the deployment ran, for the summary's timeline. */
  phases?: PhaseSpan[];
  durationMs: number;
  error?: string;
}

/** How to reach this project again later (the post step's `down`). */
export interface LocalProjectState {
  command: 'plugin' | 'standalone';
  version: string;
  project: ComposeProject;
  /** Files we wrote and the post step removes. */
  generated: string[];
}

/** A deployment (compose `up`, or a swarm stack) that failed after it changed the target, with the failing services' logs. */
export class DeployError extends Error {
  constructor(
    message: string,
    readonly logs: string,
    /** Swarm: where the stack's tasks are, as it failed. */
    readonly tasks?: SwarmTask[],
    readonly nodesDown?: string[],
  ) {
    super(message);
    this.name = 'DeployError';
  }
}

export function serviceStates(containers: readonly ContainerStatus[]): ServiceState[] {
  return containers.map((c) => ({ service: c.service, container: c.name, image: c.image, state: c.state, health: c.health }));
}

interface Applied {
  cli: ComposeCli;
  containers: ContainerStatus[];
}

/** One target's compose commands, with the credentials of its registry session when there is one. */
export class Target {
  readonly docker: DockerCli;

  constructor(
    readonly shell: Shell,
    readonly plan: ComposePlan,
    readonly log: DeployLog,
  ) {
    this.docker = new DockerCli(shell);
  }

  /** Runs `fn` logged in to the registry (a throwaway DOCKER_CONFIG), or as is when there is no login. */
  async withRegistry<T>(cli: ComposeCli, parentDir: string | undefined, fn: (cli: ComposeCli, docker: DockerCli) => Promise<T>): Promise<T> {
    if (!this.plan.registry) return fn(cli, this.docker);
    const registry = this.plan.registry;
    const session = await this.log.group(`Log in to ${registry.registry} as ${registry.username}`, () => RegistrySession.open(this.docker, registry, parentDir));
    try {
      return await fn(cli.withConfigDir(session.configDir), session.docker);
    } finally {
      await session.close();
    }
  }

  /** config -q, pull per policy, up, and wait: the same for a new release and for a rollback. */
  async apply(cli: ComposeCli, docker: DockerCli, project: ComposeProject, options: { build: boolean; pull: PullPolicy; services: readonly string[]; beforeUp?: () => void }): Promise<Applied> {
    const { plan, log } = this;
    await cli.validate(project);
    const { selected, pullable } = chooseServices(yaml.load(await cli.resolvedConfig(project)), options.services);
    const pullNames = pullable.map((p) => p.service);
    if (options.pull === 'always' && pullNames.length) {
      await log.group(`Pull ${pullNames.join(', ')}`, () => cli.pull(project, pullNames));
    } else if (options.pull === 'never') {
      for (const { service, image } of pullable) {
        const found = await docker.run(['image', 'inspect', '--format', '{{.Id}}', image], { allowFailure: true });
        if (found.exitCode !== 0) throw new Error(`pull is never, and ${this.shell.target} has no image ${image} for service ${service}.`);
      }
    }

    const useComposeWait = plan.wait && cli.supportsWait;
    options.beforeUp?.();
    const up = await log.group(`${cli.name} up (${project.name})`, () =>
      cli.up(project, {
        services: options.services,
        build: options.build,
        removeOrphans: plan.removeOrphans,
        waitSeconds: useComposeWait ? Math.ceil(plan.waitTimeoutMs / 1000) : undefined,
      }),
    );
    if (up.exitCode !== 0 || up.timedOut) {
      const output = lastLines(`${up.stdout}\n${up.stderr}`.trim(), 30);
      throw new DeployError(`${cli.name} up failed on ${this.shell.target} (exit code ${up.exitCode}):\n${output}`, await this.failingLogs(cli, project, selected));
    }

    if (plan.wait && !useComposeWait) {
      log.info(`Waiting up to ${formatDuration(plan.waitTimeoutMs)} for ${selected.join(', ')} (healthy, or running without a healthcheck)`);
      try {
        const containers = await waitForServices(docker, project.name, selected, { timeoutMs: plan.waitTimeoutMs, onProgress: (m) => log.info(m) });
        return { cli, containers };
      } catch (error) {
        if (!(error instanceof ServicesNotReadyError)) throw error;
        throw new DeployError(error.message, await this.failingLogs(cli, project, error.failing));
      }
    }
    return { cli, containers: (await projectContainers(docker, project.name)).filter((c) => selected.includes(c.service)) };
  }

  async failingLogs(cli: ComposeCli, project: ComposeProject, services: readonly string[]): Promise<string> {
    return cli.logs(project, services, 100);
  }
}

interface ResolvedService {
  image?: string;
  build?: unknown;
  profiles?: string[];
  scale?: number;
  deploy?: { replicas?: number; mode?: string };
}

/**
 * From a resolved config (compose's `config`, parsed): the services a deployment starts (those
 * named, else every one `up` starts by default), and those of them pulled from a registry (an
 * image and nothing to build).
 */
export function chooseServices(document: unknown, services: readonly string[]): { selected: string[]; pullable: { service: string; image: string }[] } {
  const resolved = (document as { services?: Record<string, ResolvedService> } | null)?.services ?? {};
  const selected = services.length ? [...services] : Object.keys(resolved).filter((name) => startsByDefault(resolved[name]));
  const pullable = selected.filter((name) => resolved[name]?.image && !resolved[name]?.build).map((service) => ({ service, image: resolved[service].image! }));
  return { selected, pullable };
}

/** Services `up` starts without naming them: not behind a profile, not scaled to zero. */
function startsByDefault(service: ResolvedService | undefined): boolean {
  if (!service) return false;
  if (service.profiles?.length) return false;
  if (service.scale === 0 || service.deploy?.replicas === 0) return false;
  return true;
}

function describeCompose(cli: ComposeCli): string {
  return `${cli.name} ${cli.flavor.version}`;
}

/**
 * On the runner: the workspace's files as they are, plus our override and env file in `tempDir`.
 * Returns the result and how to reach the project again (for `down-on-exit`).
 */
export async function composeUpLocal(
  shell: Shell,
  plan: ComposePlan,
  tempDir: string,
  log: DeployLog,
  /** Called before anything starts, so a post step can take the project down even after a crash. */
  onProject?: (state: LocalProjectState) => void,
): Promise<{ result: TargetResult; state?: LocalProjectState }> {
  const started = Date.now();
  const target = new Target(shell, plan, log);
  const result: TargetResult = { target: shell.target, ok: false, rolledBack: false, services: [], durationMs: 0 };
  let state: LocalProjectState | undefined;
  try {
    const cli = await ComposeCli.detect(shell);
    result.compose = describeCompose(cli);
    log.info(`Using ${result.compose} on ${shell.target}`);
    const generated: string[] = [];
    const files = plan.model.files.map((file) => file.path);
    if (plan.images.size) {
      const override = posix.join(tempDir, OVERRIDE_FILE_NAME);
      await shell.writeFile(override, composeOverride(plan.images), 0o600);
      files.push(override);
      generated.push(override);
    }
    let envFile: string | undefined;
    if (plan.env) {
      envFile = posix.join(tempDir, 'slipway-compose.env');
      await shell.writeFile(envFile, composeEnvFile(plan.env, cli.isV1), 0o600);
      generated.push(envFile);
    }
    const project: ComposeProject = { name: plan.project, files, envFile };
    state = { command: cli.flavor.kind, version: cli.flavor.version, project, generated };
    onProject?.(state);

    if (plan.mode === 'swarm') {
      await checkSwarmManager(target.docker);
      const deployed = await target.withRegistry(cli, tempDir, (c, docker) => deploySwarm(target, c, docker, project, tempDir));
      result.services = deployed.services;
      result.tasks = deployed.tasks;
      result.nodesDown = deployed.nodesDown;
    } else {
      const applied = await target.withRegistry(cli, tempDir, (c, docker) => target.apply(c, docker, project, plan));
      result.services = serviceStates(applied.containers);
    }
    result.ok = true;
  } catch (error) {
    result.error = errorMessage(error);
    if (error instanceof DeployError && error.tasks) result.tasks = error.tasks;
    if (error instanceof DeployError && error.nodesDown) result.nodesDown = error.nodesDown;
    if (error instanceof DeployError && error.logs) log.attach(`Logs of the failing services on ${shell.target}`, error.logs);
  }
  result.durationMs = Date.now() - started;
  return { result, state };
}

/** Swarm: applies the previous release's stack again, as it was (its files, its env file, its images). */
export async function rollBackSwarm(target: Target, cli: ComposeCli, store: ReleaseStore, previous: ReleaseManifest): Promise<boolean> {
  const { log, shell } = target;
  const project = releaseProject(store.dir(previous.id), previous);
  try {
    return await log.group(`Re-apply the previous release ${previous.id} on ${shell.target}`, async () => {
      await target.withRegistry(cli, store.baseDir, (c, docker) => deploySwarm(target, c, docker, project, posix.join(store.dir(previous.id), RELEASE_META_DIR)));
      log.info(`Previous release ${previous.id} is running again on ${shell.target}`);
      return true;
    });
  } catch (error) {
    log.error(`Re-applying the previous release ${previous.id} on ${shell.target} failed too: ${errorMessage(error)}`);
    return false;
  }
}

function releaseProject(dir: string, manifest: ReleaseManifest): ComposeProject {
  return {
    name: manifest.project,
    files: manifest.files.map((file) => posix.join(dir, file)),
    envFile: manifest.envFile ? posix.join(dir, manifest.envFile) : undefined,
  };
}

export interface SwarmDeployed {
  services: ServiceState[];
  tasks?: SwarmTask[];
  nodesDown?: string[];
}

/**
 * Swarm: compose renders the files (merge and `--env-file` interpolation, which `docker stack deploy`
 * does not do from a file) into one 0600 file beside the release, and the stack is deployed from it.
 */
export async function deploySwarm(
  target: Target,
  cli: ComposeCli,
  docker: DockerCli,
  project: ComposeProject,
  metaDir: string,
  beforeDeploy?: () => void,
  /** The project's `config`, when the caller has it already. */
  resolved?: string,
): Promise<SwarmDeployed> {
  // The caller checked that the engine is a swarm manager; `config` validates as `config --quiet` does.
  const { plan, log, shell } = target;
  const rendered = posix.join(metaDir, 'stack.yml');
  const stackFile = withRollbackOnFailure(resolved ?? (await cli.resolvedConfig(project)));
  if (stackFile.defaulted.length) log.info(`update_config.failure_action: rollback for ${stackFile.defaulted.join(', ')} (swarm's default, pause, would leave a failed update half done)`);
  if (/max_replicas_per_node/.test(stackFile.text)) {
    const nodes = await activeNodeCount(docker);
    for (const service of startFirstAtLimit(stackFile.text, nodes)) {
      log.warning(
        `${service}: its replicas fill max_replicas_per_node on all ${nodes} active nodes, so an update with order: start-first has nowhere to start a new task and stays pending (moby/moby#40797): allow one more task per node, or use stop-first.`,
      );
    }
  }
  if (plan.registry) {
    // The swarm keeps the forwarded login and pulls with it whenever it starts a task on a node without the image.
    const notice = forwardedLoginNotice(plan.registry.registry, plan.registry.password);
    log[notice.level](notice.message);
  }
  // Where each slot runs now: a slot on a node that goes down is reported as moved.
  const before = plan.wait ? await stackTasks(docker, project.name) : [];
  await shell.writeFile(rendered, stackFile.text, 0o600);
  beforeDeploy?.();
  await log.group(`docker stack deploy ${project.name}`, () => deployStack(docker, project.name, rendered, plan.removeOrphans));
  if (!plan.wait) return { services: [] };
  log.info(`Waiting up to ${formatDuration(plan.waitTimeoutMs)} for every service of stack ${project.name} to converge`);
  const down: SwarmNode[] = [];
  const onNodeDown = (node: SwarmNode) => {
    down.push(node);
    log.warning(`Swarm node ${describeNode(node)} is ${node.state}: swarm starts its tasks on the other nodes.`);
  };
  const placed = async (): Promise<{ tasks: SwarmTask[]; nodesDown?: string[] }> => {
    const tasks = await stackTasks(docker, project.name);
    const moved = movedTasks(before, tasks, down);
    for (const task of moved) log.info(`${task.task} moved from ${task.movedFrom}, which is down, to ${describeNode({ hostname: task.node, address: task.nodeAddress })}`);
    return { tasks: tasks.map((task) => moved.find((m) => m.task === task.task) ?? task), nodesDown: down.length ? down.map(describeNode) : undefined };
  };
  try {
    const onUpdateLeftToSwarm = (service: SwarmServiceStatus, nodes: readonly SwarmNode[]) =>
      log.warning(
        `${service.name}: every replica runs the new image on the nodes that are up; swarm keeps its update open for the slot on ${nodes.map(describeNode).join(', ')} (down) and finishes it when that node is back.`,
      );
    const onUpdateResumed = (service: SwarmServiceStatus, nodes: readonly SwarmNode[]) =>
      log.warning(
        `${service.name}: swarm's update waits for a task it had given ${nodes.map(describeNode).join(', ')} (down) and keeps that slot's previous version running; ` +
          'a new update (a label on the service) replaces what still runs the previous version.',
      );
    const services = await waitForStack(docker, project.name, { timeoutMs: plan.waitTimeoutMs, onProgress: (m) => log.info(m), onNodeDown, onUpdateLeftToSwarm, onUpdateResumed });
    const { tasks, nodesDown } = await placed();
    for (const task of tasks) log.info(`${task.task}: ${task.state} on ${task.node}${task.nodeAddress ? ` (${task.nodeAddress})` : ''}`);
    return {
      services: services.map((s) => ({ service: s.name, container: '', image: s.image, state: `${s.running}/${s.desired} replicas`, health: s.updateState || 'none' })),
      tasks,
      nodesDown,
    };
  } catch (error) {
    if (!(error instanceof StackNotConvergedError)) throw error;
    const logs: string[] = [];
    for (const service of error.failing) logs.push(`--- ${service}\n${await serviceTaskErrors(docker, service)}`);
    const { tasks, nodesDown } = await placed();
    throw new DeployError(error.message, logs.join('\n'), tasks, nodesDown);
  }
}

/** `down` for the post step of a local run: logs first, then containers and networks, never volumes. */
export async function composeDownLocal(shell: Shell, state: LocalProjectState, removeOrphans: boolean): Promise<void> {
  const cli = new ComposeCli(shell, { kind: state.command, version: state.version });
  await core.group(`Logs of ${state.project.name}`, async () => core.info(await cli.logs(state.project, [], 200)));
  await core.group(`${cli.name} down (${state.project.name})`, () => cli.down(state.project, removeOrphans));
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
