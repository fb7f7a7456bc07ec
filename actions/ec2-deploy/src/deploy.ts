/**
 * One host's deployment, on a `Shell` (SSH in the action, a fake in unit tests): pull, record what
 * runs now, replace the container, wait until it is healthy, and if it is not, put the previous
 * container back exactly as it was. Volumes are never removed: containers are removed without `-v`
 * and nothing here prunes volumes.
 */
import { posix } from 'node:path';
import {
  DockerCli,
  RegistrySession,
  ReleaseHistory,
  imagesToPrune,
  lastLines,
  removeLeftovers,
  parseImageRef,
  rollbackTarget,
  type HostLog,
  type ReleaseRecord,
  type Shell,
} from '@slipway/core';
import { IMAGE_LABEL, inspectContainer, waitUntilHealthy, type ContainerState, type HealthOptions } from './health.js';
import type { ContainerSpec, HealthCheck } from './inputs.js';

export const PREVIOUS_SUFFIX = '-slipway-previous';
/** The env file of `docker run`, which lives only until the container exists. */
export const ENV_FILE_PREFIX = 'env-';

/**
 * Puts back the previous container a deployment that died half-way (runner killed, connection
 * lost) set aside as `<name>-slipway-previous`: it is the last one known good, and the unproven
 * container in its place is removed. Run under the deploy lock: by the next deployment, and by the
 * post step of the interrupted one. Returns whether there was one to restore.
 */
export async function restoreInterrupted(docker: DockerCli, name: string, log: HostLog): Promise<boolean> {
  const setAside = await inspectContainer(docker, name + PREVIOUS_SUFFIX);
  if (!setAside) return false;
  log.warning(`${setAside.name} was left by an interrupted deployment: restoring it as ${name} (volumes are kept).`);
  await docker.run(['rm', '--force', name], { allowFailure: true });
  await docker.run(['rename', setAside.name, name]);
  await docker.run(['start', name]);
  return true;
}

/** `reg/app:tag@sha256:…` → `reg/app`, as docker writes it in an image's RepoDigests. */
function repositoryOf(image: string): string {
  return image.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
}

/** Where a deployment keeps its files on the host, all under one 0700 directory. */
export function hostPaths(home: string, name: string) {
  const dir = posix.join(home, '.slipway', 'ec2-deploy', name);
  return { dir, lock: posix.join(dir, 'deploy.lock'), history: posix.join(dir, 'releases.jsonl') };
}

export interface ReleaseOptions {
  container: ContainerSpec;
  health: HealthCheck;
  healthOptions: HealthOptions;
  keepReleases: number;
  registryAuth?: { username: string; password: string };
  runUrl?: string;
  /** Timeout of a pull. */
  pullTimeoutMs: number;
}

/** A release that is up and healthy (a failed one throws `ReleaseFailedError`). */
export interface ReleaseOutcome {
  image: string;
  imageId: string;
  digest?: string;
  previousImage?: string;
  /** How health was decided. */
  health: string;
}

/** A deployment that failed after it changed the host; `rolledBack` says whether the previous container is back. */
export class ReleaseFailedError extends Error {
  /** What ran before, filled in by the deployment for the results. */
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

export class HostDeployment {
  readonly docker: DockerCli;
  readonly history: ReleaseHistory;

  constructor(
    readonly shell: Shell,
    readonly paths: ReturnType<typeof hostPaths>,
    readonly options: ReleaseOptions,
    readonly log: HostLog,
  ) {
    this.docker = new DockerCli(shell);
    this.history = new ReleaseHistory(shell, paths.history);
  }

  /**
   * Pulls `image`, logging in first when credentials are given: the token goes to `docker login` on
   * stdin, into a DOCKER_CONFIG made for this pull inside the deployment's 0700 directory, deleted
   * right after the pull, whatever happened.
   */
  async pull(image: string): Promise<void> {
    const auth = this.options.registryAuth;
    this.log.info(`Pulling ${image}`);
    if (!auth) {
      await this.pullWithRetries(this.docker, image);
      return;
    }
    const registry = parseImageRef('image', image).registry;
    const session = await RegistrySession.open(
      this.docker,
      { registry, username: auth.username, password: auth.password, inputs: ['registry-username', 'registry-password'], access: 'pull' },
      this.paths.dir,
    );
    try {
      await this.pullWithRetries(session.docker, image);
    } finally {
      await session.close();
    }
  }

  private async pullWithRetries(docker: DockerCli, image: string): Promise<void> {
    await docker.pull(image, { timeoutMs: this.options.pullTimeoutMs, warn: (message) => this.log.warning(`${this.shell.target}: ${message}`) });
  }

  /** Deploys `image` (deploy mode). */
  async deploy(image: string): Promise<ReleaseOutcome> {
    const started = new Date();
    await removeLeftovers(this.shell, this.paths.dir, this.log, [ENV_FILE_PREFIX]);
    await this.pull(image);
    const info = await this.docker.inspectImage(image);
    const repository = repositoryOf(image);
    const digest = info.repoDigests.find((ref) => ref.startsWith(`${repository}@`))?.replace(/^.*@/, '');
    return this.release({ action: 'deploy', image, imageId: info.id, digest, run: image, started });
  }

  /** Switches back to the newest earlier release (rollback mode). */
  async rollback(): Promise<ReleaseOutcome> {
    const started = new Date();
    await removeLeftovers(this.shell, this.paths.dir, this.log, [ENV_FILE_PREFIX]);
    const records = await this.history.read();
    const current = await inspectContainer(this.docker, this.options.container.name);
    const target = rollbackTarget(records, current?.imageId);
    if (!target) {
      throw new Error(
        `no earlier release to roll back to in ${this.paths.history} (running: ${current?.image ?? 'nothing'}); ` +
          `releases are recorded by ec2-deploy from its first deployment on.`,
      );
    }
    this.log.info(`Rolling back from ${current?.image ?? 'nothing'} to ${target.image} (${target.imageId.slice(0, 19)})`);
    const present = await this.docker.run(['image', 'inspect', '--format', '{{.Id}}', target.imageId], { allowFailure: true, timeoutMs: 60_000 });
    if (present.exitCode !== 0) {
      // Pruned since: pull it again by digest, the immutable name of that same image.
      if (!target.digest) throw new Error(`the image of the release to roll back to (${target.image}) is no longer on the host and has no digest to pull it by.`);
      await this.pull(`${repositoryOf(target.image)}@${target.digest}`);
    }
    return this.release({ action: 'rollback', image: target.image, imageId: target.imageId, digest: target.digest, run: target.imageId, started });
  }

  private async release(release: { action: 'deploy' | 'rollback'; image: string; imageId: string; digest?: string; run: string; started: Date }): Promise<ReleaseOutcome> {
    const { name } = this.options.container;
    const previous = await this.currentContainer();
    if (previous) this.log.info(`Running now: ${previous.image} (${previous.imageId.slice(0, 19)}, ${previous.status})`);
    else this.log.info(`No container ${name} yet: first deployment on this host.`);

    const record = (result: ReleaseRecord['result'], error?: string): ReleaseRecord => ({
      time: release.started.toISOString(),
      action: release.action,
      image: release.image,
      imageId: release.imageId,
      digest: release.digest,
      previousImage: previous?.image,
      previousImageId: previous?.imageId,
      runUrl: this.options.runUrl,
      result,
      durationMs: Date.now() - release.started.getTime(),
      error,
    });

    let health: string;
    try {
      health = await this.replace(release.run, release.image, previous);
    } catch (error) {
      const failure = error instanceof ReleaseFailedError ? error : new ReleaseFailedError((error as Error).message, false);
      failure.previousImage = previous?.image;
      failure.imageId = release.imageId;
      // Best effort: when the host went away mid-deploy this fails too, and must not hide why the release failed.
      await this.history
        .append(record(failure.rolledBack ? 'rolled-back' : 'failed', failure.message))
        .catch((appendError: Error) => this.log.warning(`${this.shell.target}: could not record the failed release in ${this.paths.history}: ${appendError.message}`));
      throw failure;
    }
    await this.history.append(record('ok'));
    await this.prune();
    return { image: release.image, imageId: release.imageId, digest: release.digest, previousImage: previous?.image, health };
  }

  /**
   * The container running now, after repairing what a deployment that died half-way (runner killed,
   * job cancelled) left: its previous container set aside as `<name>-slipway-previous` is the last
   * one known good, so it is put back, and the unproven container in its place is removed.
   */
  private async currentContainer(): Promise<ContainerState | undefined> {
    await restoreInterrupted(this.docker, this.options.container.name, this.log);
    return inspectContainer(this.docker, this.options.container.name);
  }

  /** Replaces the container; returns how health was decided, or throws `ReleaseFailedError`. */
  private async replace(imageToRun: string, imageLabel: string, previous: ContainerState | undefined): Promise<string> {
    const spec = this.options.container;
    const aside = spec.name + PREVIOUS_SUFFIX;
    if (previous) {
      // Stopped and renamed, not removed: it is the way back if the new one fails.
      await this.docker.run(['stop', spec.name], { timeoutMs: 120_000 });
      await this.docker.run(['rename', spec.name, aside]);
    }
    try {
      await this.start(imageToRun, imageLabel);
      const how = await waitUntilHealthy(this.docker, spec.name, this.options.health, this.options.healthOptions);
      this.log.info(`Healthy: ${how}.`);
      if (previous) await this.docker.run(['rm', aside]);
      return how;
    } catch (error) {
      const reason = (error as Error).message;
      this.log.error(`${this.shell.target}: the new container failed: ${reason}`);
      try {
        const logs = await this.docker.run(['logs', '--tail', '100', spec.name], { allowFailure: true, timeoutMs: 60_000 });
        if (logs.exitCode === 0) this.log.attach(`${this.shell.target}: last logs of the failed container ${spec.name}`, (logs.stdout + logs.stderr).trimEnd() || '(no output)');
        await this.docker.run(['rm', '--force', spec.name], { allowFailure: true });
        if (!previous) throw new ReleaseFailedError(`${reason}; there was no previous container to restore (the failed one was removed).`, false);
        await this.docker.run(['rename', aside, spec.name]);
        if (previous.status === 'running' || previous.status === 'restarting') await this.docker.run(['start', spec.name]);
      } catch (restoreError) {
        if (restoreError instanceof ReleaseFailedError || !previous) throw restoreError;
        // The host went away (or docker failed) half-way through the restore: say where the previous
        // release is, and that the next deployment puts it back first (currentContainer).
        throw new ReleaseFailedError(
          `${reason}; restoring the previous container failed (${(restoreError as Error).message.split('\n')[0]}): ` +
            `${previous.image} is kept as ${aside} if it was not restored, and the next deployment to this host puts it back first.`,
          false,
        );
      }
      this.log.warning(`${this.shell.target}: restored the previous container, ${previous.image}.`);
      throw new ReleaseFailedError(`${reason}; rolled back to ${previous.image}.`, true);
    }
  }

  private async start(imageToRun: string, imageLabel: string): Promise<void> {
    const spec = this.options.container;
    const args = ['run', '--detach', '--name', spec.name, '--restart', spec.restart, '--label', `${IMAGE_LABEL}=${imageLabel}`];
    for (const port of spec.ports) args.push('--publish', port);
    for (const volume of spec.volumes) args.push('--volume', volume);
    if (spec.network) args.push('--network', spec.network);
    let envFile: string | undefined;
    if (spec.env.size) {
      // Values reach docker in a 0600 file that lives only until the container is created.
      envFile = posix.join(this.paths.dir, `${ENV_FILE_PREFIX}${Date.now()}-${Math.random().toString(16).slice(2, 8)}`);
      await this.shell.writeFile(envFile, [...spec.env].map(([key, value]) => `${key}=${value}\n`).join(''), 0o600);
      args.push('--env-file', envFile);
    }
    args.push(...spec.runArgs, imageToRun);
    try {
      this.log.info(`Starting ${spec.name} from ${imageLabel}`);
      const started = await this.docker.run(args, { allowFailure: true, timeoutMs: 120_000 });
      if (started.exitCode !== 0) throw new Error(`docker run failed: ${lastLines(started.stderr || started.stdout, 5)}`);
    } finally {
      if (envFile) await this.shell.run({ args: ['rm', '-f', envFile], allowFailure: true });
    }
  }

  /** Removes images of releases beyond `keep-releases` (never one a container uses, never a volume). */
  async prune(): Promise<void> {
    const records = await this.history.read();
    // Nothing old enough (most deployments): no need to ask docker which images are in use.
    if (imagesToPrune(records, this.options.keepReleases, new Set()).length === 0) return;
    const used = await this.docker.run(['ps', '--all', '--no-trunc', '--format', '{{.ID}}'], { allowFailure: true, timeoutMs: 60_000 });
    const inUse = new Set<string>();
    const ids = used.stdout.split('\n').map((line) => line.trim()).filter(Boolean);
    if (ids.length) {
      const images = await this.docker.run(['inspect', '--type', 'container', '--format', '{{.Image}}', ...ids], { allowFailure: true, timeoutMs: 60_000 });
      for (const id of images.stdout.split('\n')) if (id.trim()) inUse.add(id.trim());
    }
    for (const imageId of imagesToPrune(records, this.options.keepReleases, inUse)) {
      // Digests first: removing a repository's last tag removes its digest references too (moby's
      // ImageDelete), and with them the image, so a digest named after the tag was "No such image".
      const refs = await this.docker.run(['image', 'inspect', '--format', '{{join .RepoDigests "\\n"}}\n{{join .RepoTags "\\n"}}', imageId], { allowFailure: true, timeoutMs: 60_000 });
      if (refs.exitCode !== 0) continue; // already gone
      const names = refs.stdout.split('\n').map((line) => line.trim()).filter(Boolean);
      const removed = await this.docker.run(['image', 'rm', ...(names.length ? names : [imageId])], { allowFailure: true, timeoutMs: 120_000 });
      if (removed.exitCode === 0) this.log.info(`Pruned ${names.at(-1) ?? imageId} (older than the last ${this.options.keepReleases} releases).`);
      else this.log.warning(`Could not prune ${imageId}: ${lastLines(removed.stderr, 2)}`);
    }
  }
}
