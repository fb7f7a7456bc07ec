/**
 * One host's compose deployment, run on the host by the program in program.ts: `prepare` (lock,
 * leftovers, compose, the current release, the new release's files, its `config`), then `apply`
 * (login, pull, up, health, `current`, prune, unlock). Between them the runner reads the `config`
 * to choose the services. A failed release is followed by the previous one's `config` and `apply`.
 * Swarm mode deploys the stack from the runner between `prepare` and `commit` (see swarm.ts).
 */
import { posix } from 'node:path';
import yaml from 'js-yaml';
import { loginFailure } from '../docker.js';
import { LockTimeoutError } from '../host/deploy-lock.js';
import type { HostLock } from '../host/run-locks.js';
import { runHostProgram } from '../host/host-program.js';
import { LOCK_NAME } from '../host/layout.js';
import { formatDuration } from '../inputs.js';
import { howItEnded, lastLines, type CommandResult, type Shell } from '../shell.js';
import { isPhase, PhaseTimeline } from '../host/timeline.js';
import { ComposeCli, ComposeNotFoundError, upArgs, type ComposeFlavor, type ComposeProject, type PullPolicy } from './compose-cli.js';
import type { DeployLog } from '../log.js';
import { Target, DeployError, chooseServices, deploySwarm, rollBackSwarm, serviceStates, type ComposePlan, type TargetResult } from './compose-up.js';
import { composeEnvFile } from './env-file.js';
import type { ContainerStatus } from './health.js';
import { OVERRIDE_FILE_NAME, composeOverride } from './override.js';
import { RELEASE_ENV_FILE, composeProgramText, type ComposeProgramValues, type ComposeStage } from './program.js';
import { RELEASE_META_DIR, ReleaseStore, packFiles, type ReleaseManifest } from './release.js';
import { NotASwarmManagerError } from './swarm.js';

/** The exit status ssh gives when the connection, not the command, failed. */
const CONNECTION_LOST_EXIT = 255;
/** The program's status for a failure after `up` changed the services. */
const CHANGED_EXIT = 5;

/** What one stage reported. */
interface StageReport {
  base?: string;
  compose?: ComposeFlavor;
  current?: string;
  manifest: string[];
  config: string[];
  containers: ContainerStatus[];
  logs: string[];
  upOutput: string[];
  fail?: { step: string; message: string };
  lockTimeout?: { holder: string; expiresAt: number; waitedMs: number };
  loginFailed?: { registry: string; output: string };
  noCompose?: string;
  notManager?: string;
}

interface Staged {
  report: StageReport;
  result: CommandResult;
}

/** A release to apply: its directory's files, and what to start. */
interface Applying {
  id: string;
  manifest: Pick<ReleaseManifest, 'files' | 'envFile'>;
  config: string;
  services: readonly string[];
  build: boolean;
  pull: PullPolicy;
  /** A new release: `current` moves to it. */
  commit: boolean;
  holdOnChange: boolean;
}

type Applied = { ok: true; containers: ContainerStatus[] } | { ok: false; changed: boolean; error: Error };

class ComposeHost {
  readonly timeline = new PhaseTimeline();
  base?: string;
  cli?: ComposeCli;

  constructor(
    readonly shell: Shell,
    readonly plan: ComposePlan,
    readonly log: DeployLog,
    readonly lock: HostLock,
  ) {}

  private values(stage: ComposeStage, release: string): ComposeProgramValues {
    const { plan, lock } = this;
    const dir = plan.remoteDir;
    const base = posix.isAbsolute(dir) ? { absolute: posix.normalize(dir) } : { fromHome: dir === '~' ? '' : posix.normalize(dir.replace(/^~\//, '')).replace(/^\.$/, '') };
    return {
      stage,
      project: plan.project,
      base,
      mode: plan.mode,
      lock: { token: lock.owner.token, ttlSeconds: Math.max(1, Math.ceil(lock.expiryMs / 1000)), info: lock.owner.description, waitSeconds: Math.ceil(lock.waitMs / 1000) },
      target: this.shell.target,
      release,
    };
  }

  private lockPath(values: ComposeProgramValues): string {
    return 'absolute' in values.base ? posix.join(values.base.absolute, LOCK_NAME) : posix.join(values.base.fromHome, LOCK_NAME);
  }

  /** Runs one stage, logging its progress as it comes. */
  private async run(values: ComposeProgramValues): Promise<Staged> {
    const { log, shell } = this;
    const report: StageReport = { manifest: [], config: [], containers: [], logs: [], upOutput: [] };
    const onEvent = (event: string, fields: string[]): void => {
      switch (event) {
        case 'base':
          this.base = fields[0];
          this.lock.taking(posix.join(fields[0], LOCK_NAME));
          break;
        case 'phase':
          if (isPhase(fields[0])) this.timeline.start(fields[0]);
          if (fields[0] === 'upload') log.info(`── Upload release ${values.release} to ${posix.join(this.base ?? '', 'releases', values.release)}`);
          break;
        case 'locked':
          log.info(`Deploy lock taken (${fields[0]}).`);
          break;
        case 'lock-wait':
          log.info(`Waiting for the deploy lock, held by ${fields[0] || 'another deployment'} (up to ${formatDuration(this.lock.waitMs)}).`);
          break;
        case 'took-over':
          log.info(`Took over an expired deploy lock from ${fields[0] || 'an unknown holder'}.`);
          break;
        case 'lock-timeout':
          report.lockTimeout = { holder: fields[0], expiresAt: Number(fields[1]) || 0, waitedMs: Number(fields[2]) * 1000 };
          break;
        case 'leftover':
          log.warning(`${shell.target}: removed ${fields[0]}, which an interrupted deployment left.`);
          break;
        case 'compose':
          report.compose = { kind: fields[0] === 'plugin' ? 'plugin' : 'standalone', version: fields[1] };
          break;
        case 'no-compose':
          report.noCompose = fields[0];
          break;
        case 'not-a-manager':
          report.notManager = fields[0] || 'inactive';
          break;
        case 'current':
          report.current = fields[0];
          break;
        case 'manifest':
          report.manifest.push(fields.join('\t'));
          break;
        case 'config':
          report.config.push(fields.join('\t'));
          break;
        case 'login':
          log.info(`── Log in to ${fields[0]} as ${fields[1]}`);
          break;
        case 'login-failed':
          report.loginFailed = { registry: fields[0], output: fields[1] ?? '' };
          break;
        case 'pull':
          log.info(`── Pull ${fields[0]}`);
          break;
        case 'up':
          log.info(`── ${this.cli?.name ?? 'compose'} up (${this.plan.project})`);
          break;
        case 'up-output':
          report.upOutput.push(fields.join('\t'));
          break;
        case 'wait':
          log.info(`Waiting up to ${formatDuration(this.plan.waitTimeoutMs)} for ${fields[0].split(' ').join(', ')} (healthy, or running without a healthcheck)`);
          break;
        case 'waiting':
          log.info(`Waiting for ${fields[0]}`);
          break;
        case 'logs':
          report.logs.push(fields.join('\t'));
          break;
        case 'container': {
          const [service, name, image, state, health, exitCode, id] = fields;
          report.containers.push({ id, name, service, image, state, health, exitCode: Number(exitCode) || 0 });
          break;
        }
        case 'pruned':
          log.info(`Removed old releases ${fields[0]}`);
          break;
        case 'unlocked':
          this.lock.released();
          if (fields[0] === 'released') log.info('Deploy lock released.');
          else log.warning(`${shell.target}: the deploy lock: ${fields[0]}`);
          break;
        case 'fail':
          report.fail = { step: fields[0], message: fields[1] ?? '' };
          break;
      }
    };
    if (!this.base) this.lock.taking(this.lockPath(values));
    const result = await runHostProgram(shell, composeProgramText(values), {
      timeoutMs: this.lock.waitMs + 2 * this.plan.waitTimeoutMs + 30 * 60_000,
      onEvent,
      onOutput: (line) => log.info(line),
    });
    this.timeline.end();
    return { report, result };
  }

  /** The error a stage that did not succeed stands for. */
  private failure({ report, result }: Staged): Error | undefined {
    if (result.exitCode === 0 && !result.signal && !result.timedOut && !report.fail && !report.noCompose && !report.notManager) return undefined;
    const target = this.shell.target;
    if (report.lockTimeout) {
      const { holder, expiresAt, waitedMs } = report.lockTimeout;
      return new LockTimeoutError(target, holder ? { token: '', expiresAt, description: holder } : undefined, waitedMs);
    }
    if (report.noCompose !== undefined) return new ComposeNotFoundError(target, report.noCompose);
    if (report.notManager !== undefined) return new NotASwarmManagerError(target, report.notManager);
    if (report.loginFailed && this.plan.registry) return loginFailure(this.plan.registry, target, report.loginFailed.output);
    if (report.fail) {
      const output = report.upOutput.length ? `:\n${report.upOutput.join('\n')}` : '';
      const message = report.fail.step === 'lock' ? `${target}: ${report.fail.message}` : `${report.fail.message}${output}`;
      return report.logs.length ? new DeployError(message, report.logs.join('\n')) : new Error(message);
    }
    const phase = this.timeline.spans.at(-1)?.phase ?? 'connect';
    const detail = lastLines(result.stderr, 3);
    const how = result.exitCode === CONNECTION_LOST_EXIT && !result.signal && !result.timedOut ? 'the connection to the host was lost' : `the deployment ${howItEnded(result)}`;
    return new Error(`${how} during ${phase}${detail ? ` (${detail.replace(/\n/g, '; ')})` : ''}`);
  }

  /** Lock, leftovers, compose, the current release, and the new release made on the host with its `config`. */
  async prepare(): Promise<{ previous?: ReleaseManifest; config: string; manifest: ReleaseManifest }> {
    const { plan } = this;
    const paths = [...new Set([...plan.model.files.map((file) => file.relativePath), ...plan.uploads])];
    const files = plan.model.files.map((file) => file.relativePath);
    if (plan.images.size) files.push(posix.join(RELEASE_META_DIR, OVERRIDE_FILE_NAME));
    const manifest: ReleaseManifest = {
      id: plan.releaseId,
      project: plan.project,
      mode: plan.mode,
      files,
      envFile: plan.env ? RELEASE_ENV_FILE : undefined,
      services: [...plan.services],
      createdAt: new Date().toISOString(),
      runUrl: plan.runUrl,
    };
    const values = this.values('prepare', plan.releaseId);
    values.files = {
      archive: await packFiles(plan.workspace, paths),
      override: plan.images.size ? composeOverride(plan.images) : undefined,
      // Kept with the release (0600, in a 0700 directory): re-applying it later needs the same values.
      env: plan.env ? { v1: composeEnvFile(plan.env, true), v2: composeEnvFile(plan.env, false) } : undefined,
      manifest: JSON.stringify(manifest, null, 2),
    };
    values.releaseFiles = manifest;
    const staged = await this.run(values);
    if (staged.report.compose) {
      this.cli = new ComposeCli(this.shell, staged.report.compose);
      this.log.info(`Using ${this.cli.name} ${this.cli.flavor.version} on ${this.shell.target}`);
    }
    const error = this.failure(staged);
    if (error) throw error;
    const previous = staged.report.manifest.length ? (JSON.parse(staged.report.manifest.join('\n')) as ReleaseManifest) : undefined;
    return { previous, config: staged.report.config.join('\n'), manifest };
  }

  /** The `config` of a release already on the host (the previous one, to apply it again). */
  async config(release: ReleaseManifest): Promise<string> {
    const values = this.values('config', release.id);
    values.releaseFiles = release;
    const staged = await this.run(values);
    const error = this.failure(staged);
    if (error) throw error;
    return staged.report.config.join('\n');
  }

  project(release: Pick<Applying, 'id' | 'manifest'>): ComposeProject {
    const dir = posix.join(this.base!, 'releases', release.id);
    return {
      name: this.plan.project,
      files: release.manifest.files.map((file) => posix.join(dir, file)),
      envFile: release.manifest.envFile ? posix.join(dir, release.manifest.envFile) : undefined,
    };
  }

  /** Login, pull, up, health; then `current` (a new release) and the unlock. */
  async apply(release: Applying): Promise<Applied> {
    const { plan } = this;
    const cli = this.cli!;
    const project = this.project(release);
    const { selected, pullable } = chooseServices(yaml.load(release.config), release.services);
    const pullNames = pullable.map((p) => p.service);
    const useComposeWait = plan.wait && cli.supportsWait;
    const values = this.values('apply', release.id);
    values.apply = {
      composeName: cli.name,
      registry: plan.registry ? { host: plan.registry.registry, username: plan.registry.username, password: plan.registry.password } : undefined,
      pull: release.pull === 'always' && pullNames.length ? cli.command(project, ['pull', ...pullNames]) : undefined,
      pullServices: pullNames,
      up: cli.command(
        project,
        upArgs(cli, { services: release.services, build: release.build, removeOrphans: plan.removeOrphans, waitSeconds: useComposeWait ? Math.ceil(plan.waitTimeoutMs / 1000) : undefined }),
      ),
      logs: cli.command(project, ['logs', '--no-color', '--tail', '100']),
      mustHave: release.pull === 'never' ? pullable.map((p) => [p.service, p.image] as const) : [],
      selected,
      wait: plan.wait && !useComposeWait ? { timeoutSeconds: Math.ceil(plan.waitTimeoutMs / 1000), timeoutText: formatDuration(plan.waitTimeoutMs) } : undefined,
      commit: release.commit ? { keep: plan.keepReleases } : undefined,
      holdOnChange: release.holdOnChange,
    };
    const from = this.timeline.spans.length;
    const staged = await this.run(values);
    const error = this.failure(staged);
    // Cut off without a word from the program (a lost connection): changed once `up` may have run.
    const cutOffAfterUp = !staged.report.fail && this.timeline.spans.slice(from).some((span) => span.phase === 'start');
    if (error) return { ok: false, changed: staged.result.exitCode === CHANGED_EXIT || cutOffAfterUp, error };
    return { ok: true, containers: staged.report.containers.sort((a, b) => a.service.localeCompare(b.service) || a.name.localeCompare(b.name)) };
  }

  async stage(stage: 'commit' | 'unlock'): Promise<void> {
    const values = this.values(stage, this.plan.releaseId);
    values.keep = this.plan.keepReleases;
    const error = this.failure(await this.run(values));
    if (error) throw error;
  }
}

/** On a host: a new release directory, `up`, then `current` switched, or the previous release re-applied. */
export async function composeUpRemote(shell: Shell, plan: ComposePlan, log: DeployLog, lock: HostLock): Promise<TargetResult> {
  const started = Date.now();
  const host = new ComposeHost(shell, plan, log, lock);
  const result: TargetResult = { target: shell.target, ok: false, rolledBack: false, services: [], durationMs: 0 };
  try {
    const prepared = await host.prepare();
    result.compose = `${host.cli!.name} ${host.cli!.flavor.version}`;
    result.previousRelease = prepared.previous?.id;
    result.release = plan.releaseId;
    if (plan.mode === 'swarm') await deployStack(host, prepared, result);
    else await deployProject(host, prepared, result);
  } catch (error) {
    result.error = (error as Error).message;
  }
  result.phases = host.timeline.spans;
  result.durationMs = Date.now() - started;
  return result;
}

async function deployProject(host: ComposeHost, prepared: Awaited<ReturnType<ComposeHost['prepare']>>, result: TargetResult): Promise<void> {
  const { plan, log, shell } = host;
  const previous = prepared.previous;
  const applied = await host.apply({
    id: plan.releaseId,
    manifest: prepared.manifest,
    config: prepared.config,
    services: plan.services,
    build: plan.build,
    pull: plan.pull,
    commit: true,
    holdOnChange: !!previous,
  });
  if (applied.ok) {
    result.services = serviceStates(applied.containers);
    result.ok = true;
    return;
  }
  result.error = applied.error.message;
  if (applied.error instanceof DeployError && applied.error.logs) log.attach(`Logs of the failing services on ${shell.target}`, applied.error.logs);
  if (!applied.changed) return;
  if (!previous) {
    result.error += ' There is no previous release to go back to.';
    return;
  }
  // Its build contexts are there too; rebuilding restores images that the failed release retagged.
  log.info(`── Re-apply the previous release ${previous.id} on ${shell.target}`);
  try {
    const config = await host.config(previous);
    const again = await host.apply({ id: previous.id, manifest: previous, config, services: previous.services, build: true, pull: 'missing', commit: false, holdOnChange: false });
    if (!again.ok) throw again.error;
    log.info(`Previous release ${previous.id} is running again on ${shell.target}`);
    result.rolledBack = true;
    result.error += ` The previous release ${previous.id} is running again.`;
  } catch (error) {
    log.error(`Re-applying the previous release ${previous.id} on ${shell.target} failed too: ${(error as Error).message}`);
  }
}

/** Swarm: the stack deployed from the runner under the lock `prepare` took, then `commit`, or the previous release again. */
async function deployStack(host: ComposeHost, prepared: Awaited<ReturnType<ComposeHost['prepare']>>, result: TargetResult): Promise<void> {
  const { plan, log, shell } = host;
  const cli = host.cli!;
  const target = new Target(shell, plan, log);
  const store = new ReleaseStore(shell, host.base!);
  const project = host.project({ id: plan.releaseId, manifest: prepared.manifest });
  let changed = false;
  let locked = true;
  try {
    const deployed = await target.withRegistry(cli, store.baseDir, (c, docker) =>
      deploySwarm(target, c, docker, project, posix.join(store.dir(plan.releaseId), RELEASE_META_DIR), () => (changed = true), prepared.config),
    );
    result.services = deployed.services;
    result.tasks = deployed.tasks;
    result.nodesDown = deployed.nodesDown;
    locked = false;
    await host.stage('commit');
    result.ok = true;
  } catch (error) {
    result.error = (error as Error).message;
    if (error instanceof DeployError && error.tasks) result.tasks = error.tasks;
    if (error instanceof DeployError && error.nodesDown) result.nodesDown = error.nodesDown;
    if (error instanceof DeployError && error.logs) log.attach(`Logs of the failing services on ${shell.target}`, error.logs);
    if (changed && prepared.previous) {
      result.rolledBack = await rollBackSwarm(target, cli, store, prepared.previous);
      if (result.rolledBack) result.error += ` The previous release ${prepared.previous.id} is running again.`;
    } else if (changed) {
      result.error += ' There is no previous release to go back to.';
    }
    if (locked) await host.stage('unlock').catch((unlockError: Error) => log.warning(`${shell.target}: could not release the deploy lock: ${unlockError.message}`));
  }
}
