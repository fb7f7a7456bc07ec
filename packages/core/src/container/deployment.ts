/**
 * One host's container deployment, run on the host by the program in program.ts in one exchange:
 * `prepare` (lock, repair, what runs now, the history, the pull), then `release` (replace, health,
 * record, prune, unlock). At `prepared` the program waits while the runner decides what to release
 * and writes its record, then reads the release on the same stdin.
 * Volumes are never removed: containers are removed without `-v` and nothing prunes volumes.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { loginFailure } from '../docker.js';
import { parseImageRef } from '../image-ref.js';
import { formatDuration } from '../inputs.js';
import { LockTimeoutError, type LockOwner } from '../host/deploy-lock.js';
import { runHostProgram } from '../host/host-program.js';
import { deploymentLock, LOCK_NAME } from '../host/layout.js';
import { imagesToPrune, parseHistory, rollbackTarget, type ReleaseRecord } from '../host/release-history.js';
import { howItEnded, lastLines, type CommandResult, type Shell } from '../shell.js';
import type { DeployLog } from '../log.js';
import { IMAGE_LABEL, PREVIOUS_SUFFIX, programText, releasePart, unlockPart, type ProgramValues, type ProxyValues, type Stage } from './program.js';
import { isPhase, PhaseTimeline } from '../host/timeline.js';
import type { ContainerSpec, HealthCheck, ProxySpec } from './spec.js';

/** The exit status ssh gives when the connection, not the command, failed. */
const CONNECTION_LOST_EXIT = 255;

/** How long a container without any check must keep running to count as healthy. */
const SETTLE_MS = 5_000;

export interface DeploymentOptions {
  container: ContainerSpec;
  health: HealthCheck;
  healthTimeoutMs: number;
  keepReleases: number;
  registryAuth?: { username: string; password: string };
  runUrl?: string;
  /** Bound of the pull. */
  pullTimeoutMs: number;
  lock: { owner: LockOwner; expiryMs: number; waitMs: number };
  /** Proxy mode: releases side by side behind a proxy container instead of stop-and-start. */
  proxy?: ProxySpec;
  /** The new release container's name in proxy mode (default: the name and the time). */
  releaseName?: string;
}

/** What the caller hears of the deploy lock, to keep the post step's state true. */
export interface LockEvents {
  /** The lock path, relative first, then absolute once the host said which directory the deployment keeps. */
  taking(path: string): void;
  released(): void;
}

/** A release that is up and healthy (a failed one throws `ReleaseFailedError`). */
export interface ReleaseOutcome {
  image: string;
  imageId: string;
  digest?: string;
  previousImage?: string;
  /** How health was decided. */
  health: string;
  /** Proxy mode: the release container that serves, when the proxy switched to it, how long the old one drained. */
  release?: string;
  switchedAt?: string;
  drainMs?: number;
}

/** A deployment that failed after it changed the host; `rolledBack` says whether the previous container is back. */
export class ReleaseFailedError extends Error {
  previousImage?: string;
  imageId?: string;

  constructor(
    message: string,
    readonly rolledBack: boolean,
  ) {
    super(message);
    this.name = 'ReleaseFailedError';
  }
}

interface RunningContainer {
  imageId: string;
  status: string;
  /** The reference it was deployed as: our label, else docker's Config.Image. */
  image: string;
}

/** What one stage's program said as it ran. */
interface StageEvents {
  current?: RunningContainer;
  history: ReleaseRecord[];
  pulled?: { id: string; digests: string[] };
  healthy?: string;
  /** Proxy mode: the release container the proxy routes to. */
  currentRelease?: string;
  switched?: { release: string; at: string };
  drainMs?: number;
  preDeployOutput: string[];
  unlocked: boolean;
  fail?: { step: string; message: string };
  lockTimeout?: { holder: string; expiresAt: number; waitedMs: number };
  loginFailed?: { registry: string; output: string };
  logs: string[];
}

/** What one stage reported, and how its program ended: no result yet at `prepared`, where the program waits for its release. */
interface StageReport extends StageEvents {
  result?: CommandResult;
}

/** The program on the host, from its start to its end in one exchange. */
interface HostRun {
  /** Resolves with prepare's report at `prepared` (the program then waits for its next part), or when the program ended before. */
  prepared: Promise<StageReport>;
  /**
   * Sends the next part (a release, pulling `pulling` when it is not on the host, or the unlock when
   * there is nothing to release) and resolves with its report when the program ends.
   */
  finish(next: ProgramValues | 'unlock', pulling?: string): Promise<StageReport>;
  /** Ends a program still waiting for its next part, giving the lock back: for when the runner fails between the two. */
  abandon(): Promise<void>;
}

/**
 * `reg/app:tag@sha256:…` → `reg/app`, as docker writes it in an image's RepoDigests: Docker Hub's
 * images by their short name (`docker.io/library/nginx` is `nginx` there).
 */
export function repositoryOf(image: string): string {
  return image
    .replace(/@.*$/, '')
    .replace(/:[^/:]*$/, '')
    .replace(/^docker\.io\//, '')
    .replace(/^library\//, '');
}

export class ContainerDeployment {
  readonly timeline = new PhaseTimeline();
  private lockPath: string;
  /** When this deployment took the lock: where its release record starts, as it always has. */
  private lockedAt = Date.now();

  constructor(
    readonly shell: Shell,
    readonly options: DeploymentOptions,
    readonly log: DeployLog,
    readonly lockEvents: LockEvents,
  ) {
    this.lockPath = deploymentLock(options.container.name);
  }

  /** Deploys `image` (deploy mode). */
  async deploy(image: string): Promise<ReleaseOutcome> {
    const host = this.start(image);
    try {
      const prepared = await this.prepared(host);
      const pulled = prepared.pulled!;
      const digest = pulled.digests.find((ref) => repositoryOf(ref) === repositoryOf(image))?.replace(/^.*@/, '');
      return await this.release(host, prepared, { action: 'deploy', image, imageId: pulled.id, digest, run: image });
    } finally {
      await host.abandon();
    }
  }

  /** Switches back to the newest earlier release (rollback mode). */
  async rollback(): Promise<ReleaseOutcome> {
    const host = this.start();
    try {
      const prepared = await this.prepared(host);
      const target = rollbackTarget(prepared.history, prepared.current?.imageId);
      if (!target) {
        await host.finish('unlock');
        throw new Error(
          `no earlier release to roll back to in ${posix.join(posix.dirname(this.lockPath), 'releases.jsonl')} (running: ${prepared.current?.image ?? 'nothing'}); ` +
            `releases are recorded by ec2-deploy from its first deployment on.`,
        );
      }
      this.log.info(`Rolling back from ${prepared.current?.image ?? 'nothing'} to ${target.image} (${target.imageId.slice(0, 19)})`);
      const pullRef = target.digest ? `${repositoryOf(target.image)}@${target.digest}` : undefined;
      return await this.release(host, prepared, { action: 'rollback', image: target.image, imageId: target.imageId, digest: target.digest, run: target.imageId, pullRef });
    } finally {
      await host.abandon();
    }
  }

  /** Starts the program with stage `prepare`: deploying, it pulls `image`. */
  private start(image?: string): HostRun {
    this.lockEvents.taking(this.lockPath);
    const values: ProgramValues = { ...this.baseValues('prepare'), image };
    const proxyImage = this.options.proxy?.image;
    if (values.proxy && image && proxyImage) values.proxy.pullWithLogin = parseImageRef('proxy-image', proxyImage).registry === parseImageRef('image', image).registry;
    return this.run(values, image);
  }

  /** Prepare's report, once the program waits for its release; throws what a failed prepare stands for. */
  private async prepared(host: HostRun): Promise<StageReport> {
    const report = await host.prepared;
    if (report.lockTimeout) {
      const { holder, expiresAt, waitedMs } = report.lockTimeout;
      throw new LockTimeoutError(this.shell.target, holder ? { token: '', expiresAt, description: holder } : undefined, waitedMs);
    }
    this.raiseFailure(report, false);
    if (report.result) throw new Error(`${this.shell.target}: the deployment program ended during prepare without saying why (${howItEnded(report.result)}).`);
    const current = report.current;
    if (current) this.log.info(`Running now: ${current.image} (${current.imageId.slice(0, 19)}, ${current.status})`);
    else this.log.info(`No container ${this.options.container.name} yet: first deployment on this host.`);
    return report;
  }

  private async release(
    host: HostRun,
    prepared: StageReport,
    release: { action: 'deploy' | 'rollback'; image: string; imageId: string; digest?: string; run: string; pullRef?: string },
  ): Promise<ReleaseOutcome> {
    const previous = prepared.current;
    const record: Omit<ReleaseRecord, 'result'> = {
      time: new Date(this.lockedAt).toISOString(),
      action: release.action,
      image: release.image,
      imageId: release.imageId,
      digest: release.digest,
      previousImage: previous?.image,
      previousImageId: previous?.imageId,
      runUrl: this.options.runUrl,
    };
    const prune = imagesToPrune([...prepared.history, { ...record, result: 'ok' }], this.options.keepReleases, new Set([release.imageId]));
    const spec = this.options.container;
    const health = this.options.health;
    const proxy = this.options.proxy;
    const releaseName = proxy ? (this.options.releaseName ?? releaseContainerName(spec.name, new Date())) : undefined;
    const base = this.baseValues('release');
    if (proxy && releaseName && base.proxy) {
      base.proxy.release = releaseName;
      base.proxy.releaseArgs = proxyRunArguments(spec, releaseName, release.image, release.run);
      if (proxy.preDeploy?.length && release.action === 'deploy') base.proxy.preDeployArgs = preDeployArguments(spec, release.run, proxy.preDeploy);
      base.proxy.userNetwork = spec.network;
    }
    const report = await host.finish(
      {
        ...base,
        run: {
          action: release.action,
          label: release.image,
          image: release.run,
          pullRef: release.pullRef,
          args: runArguments(spec, release.image, release.run),
          env: [...spec.env].map(([key, value]) => `${key}=${value}\n`).join(''),
          health: {
            kind: health.kind,
            command: health.kind === 'cmd' ? health.command : undefined,
            url: health.kind === 'url' ? (proxy ? urlPath(health.url) : health.url) : undefined,
            timeoutSeconds: Math.ceil(this.options.healthTimeoutMs / 1000),
            settleSeconds: Math.ceil(Math.min(SETTLE_MS, this.options.healthTimeoutMs) / 1000),
          },
          recordHead: `${JSON.stringify(record).slice(0, -1)},"result":`,
          previousImage: previous?.image,
          prune,
          elapsedMs: Date.now() - this.lockedAt,
        },
      },
      release.pullRef ?? release.image,
    );
    if (report.logs.length) this.log.attach(`${this.shell.target}: last logs of the failed container ${spec.name}`, report.logs.join('\n').trimEnd() || '(no output)');
    try {
      this.raiseFailure(report, true, previous);
    } catch (error) {
      if (error instanceof ReleaseFailedError) {
        error.previousImage = previous?.image;
        error.imageId = release.imageId;
      }
      throw error;
    }
    return {
      image: release.image,
      imageId: release.imageId,
      digest: release.digest,
      previousImage: previous?.image,
      health: report.healthy ?? '',
      release: report.switched?.release,
      switchedAt: report.switched?.at,
      drainMs: proxy ? (report.drainMs ?? 0) : undefined,
    };
  }

  private baseValues(stage: Stage): ProgramValues {
    const { lock, container, proxy } = this.options;
    return {
      stage,
      name: container.name,
      lock: { token: lock.owner.token, ttlSeconds: Math.max(1, Math.ceil(lock.expiryMs / 1000)), info: lock.owner.description, waitSeconds: Math.ceil(lock.waitMs / 1000) },
      proxy: proxy ? proxyValues(container.name, proxy) : undefined,
    };
  }

  /** The values with the registry login, when the stage pulls `pulling` and there is one. */
  private withRegistry(values: ProgramValues, pulling?: string): ProgramValues {
    const auth = this.options.registryAuth;
    if (auth && pulling) values.registry = { host: parseImageRef('image', pulling).registry, username: auth.username, password: auth.password };
    return values;
  }

  /**
   * Starts the program (stage `prepare`), logging its progress as it comes. At `prepared` it waits
   * for its next part on the same stdin: the release, or the unlock.
   */
  private run(first: ProgramValues, firstPulling?: string): HostRun {
    const partEnd = `@@slipway-end-${randomBytes(12).toString('hex')}`;
    let pulling = firstPulling;
    let values = this.withRegistry(first, pulling);
    let report: StageEvents = newStageEvents();
    let write: ((text: string) => void) | undefined;
    let sent = false;
    let reachPrepared: (report: StageReport) => void = () => {};
    let failPrepared: (error: unknown) => void = () => {};
    const prepared = new Promise<StageReport>((resolve, reject) => ((reachPrepared = resolve), (failPrepared = reject)));
    const name = this.options.container.name;
    const onEvent = (event: string, fields: string[]): void => {
      switch (event) {
        case 'prepared':
          this.timeline.end();
          reachPrepared({ ...report });
          break;
        case 'dir':
          this.lockPath = posix.join(fields[0], LOCK_NAME);
          this.lockEvents.taking(this.lockPath);
          break;
        case 'phase':
          if (isPhase(fields[0])) this.timeline.start(fields[0]);
          if (fields[0] === 'pull' && pulling) this.log.info(`Pulling ${pulling}`);
          break;
        case 'locked':
          this.lockedAt = Date.now();
          this.log.info(`Deploy lock taken (${fields[0]}).`);
          break;
        case 'lock-wait':
          this.log.info(`Waiting for the deploy lock, held by ${fields[0] || 'another deployment'} (up to ${formatDuration(this.options.lock.waitMs)}).`);
          break;
        case 'took-over':
          this.log.info(`Took over an expired deploy lock from ${fields[0] || 'an unknown holder'}.`);
          break;
        case 'lock-timeout':
          report.lockTimeout = { holder: fields[0], expiresAt: Number(fields[1]) || 0, waitedMs: Number(fields[2]) * 1000 };
          break;
        case 'leftover':
          this.log.warning(`${this.shell.target}: removed ${fields[0]}, which an interrupted deployment left.`);
          break;
        case 'restoring':
          this.log.warning(`${fields[0]} was left by an interrupted deployment: restoring it as ${name} (volumes are kept).`);
          break;
        case 'current': {
          const [imageId, status, label, configImage] = fields;
          report.current = { imageId, status, image: label && label !== '-' ? label : configImage };
          break;
        }
        case 'history':
          report.history.push(...parseHistory(fields[0]));
          break;
        case 'retry':
          this.log.warning(`${this.shell.target}: pull of ${fields[0]} failed (attempt ${fields[1]} of 3), trying again in ${fields[2]}s: ${fields[3]}`);
          break;
        case 'image': {
          const [id, ...digests] = fields[0].split(' ').filter(Boolean);
          report.pulled = { id, digests };
          break;
        }
        case 'login-failed':
          report.loginFailed = { registry: fields[0], output: fields[1] ?? '' };
          break;
        case 'starting':
          this.log.info(`Starting ${fields[0] || name} from ${values.run?.label}`);
          break;
        case 'release':
          report.currentRelease = fields[0];
          this.log.info(`The proxy routes to ${fields[0]}.`);
          break;
        case 'proxy-pull':
          this.log.info(`Pulling the proxy image ${fields[0]}`);
          break;
        case 'pre-deploy':
          this.log.info(`Running pre-deploy in a one-off container of ${values.run?.label}`);
          break;
        case 'pre-deploy-output':
          report.preDeployOutput.push(fields.join('\t'));
          this.log.info(`pre-deploy: ${fields.join('\t')}`);
          break;
        case 'proxy-started':
          this.log.info(`Proxy ${fields[0]} started.`);
          break;
        case 'proxy-replaced':
          this.log.warning(`${this.shell.target}: the proxy ${fields[0]} was made with another proxy-image or proxy-port: replacing it (requests are refused until the new one listens).`);
          break;
        case 'legacy-removed':
          this.log.warning(`${this.shell.target}: removed ${fields[0]}, the container of stop-and-start mode, so the proxy can take the host ports.`);
          break;
        case 'stray-removed':
          this.log.info(`Removed ${fields[0]}, a release that never served (an interrupted deployment left it).`);
          break;
        case 'switched':
          report.switched = { release: fields[0], at: fields[1] };
          this.log.info(`Switched the proxy to ${fields[0]} at ${fields[1]}.`);
          break;
        case 'drain-timeout':
          this.log.warning(`${this.shell.target}: ${fields[0]} still had ${fields[1]} request(s) in flight after drain-timeout; stopping it.`);
          break;
        case 'drained':
          report.drainMs = Number(fields[1]) || 0;
          this.log.info(`Drained ${fields[0]} in ${formatDuration(report.drainMs)}; stopped it.`);
          break;
        case 'healthy':
          report.healthy = fields[0];
          this.log.info(`Healthy: ${fields[0]}.`);
          break;
        case 'unhealthy':
          this.log.error(`${this.shell.target}: the new container failed: ${fields[0]}`);
          break;
        case 'logs':
          report.logs.push(fields.join('\t'));
          break;
        case 'restored':
          this.log.warning(`${this.shell.target}: restored the previous container, ${values.run?.previousImage}.`);
          break;
        case 'pruned':
          this.log.info(`Pruned ${fields[0]} (older than the last ${this.options.keepReleases} releases).`);
          break;
        case 'prune-failed':
          this.log.warning(`Could not prune ${fields[0]}: ${fields[1]}`);
          break;
        case 'warning':
          this.log.warning(`${this.shell.target}: ${fields[0]}`);
          break;
        case 'unlocked':
          report.unlocked = true;
          this.lockEvents.released();
          if (fields[0] === 'released') this.log.info('Deploy lock released.');
          else this.log.warning(`${this.shell.target}: the deploy lock ${this.lockPath}: ${fields[0]}`);
          break;
        case 'fail':
          report.fail = { step: fields[0], message: fields[1] ?? '' };
          break;
      }
    };
    const end = runHostProgram(this.shell, programText(values, partEnd), {
      timeoutMs: this.options.lock.waitMs + 2 * this.options.pullTimeoutMs + this.options.healthTimeoutMs + 10 * 60_000,
      onEvent,
      onOutput: (line) => this.log.info(line),
      feed: (writer) => (write = writer),
    }).then(
      (result): StageReport => {
        this.timeline.end();
        const last = { ...report, result };
        reachPrepared(last);
        return last;
      },
      (error: unknown) => {
        // The shell could not run it (the connection was gone): whoever waits hears it.
        this.timeline.end();
        failPrepared(error);
        throw error;
      },
    );
    // Awaited by finish or abandon, or not at all when prepare failed: never an unhandled rejection.
    end.catch(() => {});
    // A program that has ended reads nothing more: the shells drop what is written after its end.
    const send = (text: string): void => {
      sent = true;
      write?.(text);
    };
    return {
      prepared,
      finish: (next, nextPulling) => {
        if (!sent) {
          report = newStageEvents();
          pulling = nextPulling;
          if (next === 'unlock') send(unlockPart(partEnd));
          else send(releasePart((values = this.withRegistry(next, pulling)), partEnd));
        }
        return end;
      },
      abandon: async () => {
        if (sent) return;
        send(unlockPart(partEnd));
        // What failed is already being thrown; this only waits for the program to end.
        await end.catch(() => {});
      },
    };
  }

  /** Throws the error a stage that did not succeed stands for. */
  private raiseFailure(report: StageReport, releasing: boolean, previous?: RunningContainer): void {
    const { result, fail } = report;
    // No result: the program reached `prepared` and waits for its release.
    if (!result || (result.exitCode === 0 && !result.signal && !result.timedOut && !fail)) return;
    if (report.loginFailed) {
      throw loginFailure({ registry: report.loginFailed.registry, inputs: ['registry-username', 'registry-password'], access: 'pull' }, this.shell.target, report.loginFailed.output);
    }
    if (fail) {
      // Exit 6: the new container failed and the previous one runs again; 5: it failed and could not be.
      if (releasing && (result.exitCode === 5 || result.exitCode === 6)) throw new ReleaseFailedError(fail.message, result.exitCode === 6);
      const output = fail.step === 'pre-deploy' && report.preDeployOutput.length ? `: ${report.preDeployOutput.slice(-5).join('; ')}` : '';
      throw new Error(fail.step === 'lock' ? `${this.shell.target}: ${fail.message}` : `${fail.step}: ${fail.message}${output}`);
    }
    // No word from the program about why: the connection went, or it was killed or timed out.
    const phase = this.timeline.spans.at(-1)?.phase ?? 'connect';
    const detail = lastLines(result.stderr, 3);
    const how = result.exitCode === CONNECTION_LOST_EXIT && !result.signal && !result.timedOut ? 'the connection to the host was lost' : `the deployment ${howItEnded(result)}`;
    const aside = `${this.options.container.name}${PREVIOUS_SUFFIX}`;
    const left =
      releasing && previous && !this.options.proxy && ['start', 'health', 'commit'].includes(phase)
        ? `; ${previous.image} is kept as ${aside} if it was not restored, and this run's post step or the next deployment to this host puts it back first`
        : '';
    throw new ReleaseFailedError(`${how} during ${phase}${detail ? ` (${detail.replace(/\n/g, '; ')})` : ''}${left}`, false);
  }
}

function newStageEvents(): StageEvents {
  return { history: [], logs: [], preDeployOutput: [], unlocked: false };
}

/** `docker run` arguments after `run`: the container's settings, then the image. */
export function runArguments(spec: ContainerSpec, label: string, image: string): string[] {
  const args = ['--detach', '--name', spec.name, '--restart', spec.restart, '--label', `${IMAGE_LABEL}=${label}`];
  for (const port of spec.ports) args.push('--publish', port);
  for (const volume of spec.volumes) args.push('--volume', volume);
  if (spec.network) args.push('--network', spec.network);
  args.push(...spec.runArgs, image);
  return args;
}

/** Where the proxy, its network and its data live, named after the deployment. */
export function proxyNames(name: string): { container: string; network: string } {
  return { container: `${name}-slipway-proxy`, network: `${name}-slipway` };
}

/** A release container's name: the deployment's, then the time (`web-20300101-120000-123`). */
export function releaseContainerName(name: string, at: Date): string {
  return `${name}-${at.toISOString().replace(/[-:]/g, '').replace('T', '-').replace('.', '-').replace('Z', '')}`;
}

/** `[ip:]port` → the `--publish` value: the same port inside the proxy container, where Caddy listens. */
export function proxyPublish(port: string): string {
  const at = port.lastIndexOf(':');
  return `${port}:${port.slice(at + 1)}`;
}

/**
 * The proxy's Caddyfile: requests go to the release holding slot-a (a network alias) while
 * /etc/slipway/live-a exists, else to slot-b's; the host switches by making or removing that file,
 * which Caddy's file matcher asks at each request, so a deploy needs no reload (see program.ts).
 * The admin endpoint stays on the container's loopback (`docker exec` reaches it). `keepalive off`:
 * one upstream connection a request, so the requests still in flight to the old release are its
 * connections from the proxy (what the drain counts); with keep-alive, Caddy 2.6 keeps idle
 * connections to a release open, and they would look in flight. Each slot's port (`@@PORT_A@@`,
 * `@@PORT_B@@`) is filled in on the host, which may learn it from the image.
 */
export function caddyfile(proxy: ProxySpec): string {
  const sites = proxy.domain ?? proxy.ports.map((port) => `http://:${port.slice(port.lastIndexOf(':') + 1)}`).join(', ');
  const upstream = (slot: string, port: string) => [`\t\treverse_proxy slot-${slot}:${port} {`, '\t\t\ttransport http {', '\t\t\t\tkeepalive off', '\t\t\t}', '\t\t}'];
  return [
    '# ports: @@PORT_A@@ @@PORT_B@@',
    "# Written by Slipway ec2-deploy when the ports change: each slot's port. Which slot serves is the file live-a beside it.",
    '{',
    '\tadmin localhost:2019',
    `\tgrace_period ${Math.max(1, Math.ceil(proxy.drainTimeoutMs / 1000))}s`,
    ...(proxy.domain ? [] : ['\tauto_https off']),
    '}',
    `${sites} {`,
    '\t@live_a file {',
    '\t\troot /etc/slipway',
    '\t\ttry_files /live-a',
    '\t}',
    '\thandle @live_a {',
    ...upstream('a', '@@PORT_A@@'),
    '\t}',
    '\thandle {',
    ...upstream('b', '@@PORT_B@@'),
    '\t}',
    '}',
  ].join('\n');
}

function proxyValues(name: string, proxy: ProxySpec): ProxyValues {
  const { container, network } = proxyNames(name);
  const publish = proxy.ports.map(proxyPublish);
  return {
    container,
    network,
    image: proxy.image,
    publish,
    spec: [proxy.image, ...publish].join(' '),
    caddyfile: caddyfile(proxy),
    appPort: proxy.appPort,
    drainTimeoutSeconds: Math.max(1, Math.ceil(proxy.drainTimeoutMs / 1000)),
  };
}

/** Proxy mode's `docker run` arguments: no published port, on the private network, labelled as a release of `spec.name`. */
export function proxyRunArguments(spec: ContainerSpec, release: string, label: string, image: string): string[] {
  const args = ['--detach', '--name', release, '--restart', spec.restart, '--label', `${IMAGE_LABEL}=${label}`, '--label', `slipway.release=${spec.name}`];
  args.push('--network', proxyNames(spec.name).network);
  for (const volume of spec.volumes) args.push('--volume', volume);
  args.push(...spec.runArgs, image);
  return args;
}

/** pre-deploy's one-off container: the release's env (added on the host), volumes, network and run-args. */
export function preDeployArguments(spec: ContainerSpec, image: string, command: readonly string[]): string[] {
  const args = ['--network', spec.network ?? proxyNames(spec.name).network];
  for (const volume of spec.volumes) args.push('--volume', volume);
  args.push(...spec.runArgs, image, ...command);
  return args;
}

/** health-url in proxy mode is asked of the release itself: its path and query. */
export function urlPath(url: string): string {
  const match = /^https?:\/\/[^/]+(\/.*)?$/.exec(url);
  return match ? (match[1] ?? '/') : url.startsWith('/') ? url : `/${url}`;
}
