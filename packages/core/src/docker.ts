/**
 * The docker CLI, spoken through a `Shell` so the same code runs on the runner and on a host.
 * Registry credentials live only in a throwaway DOCKER_CONFIG directory (`RegistrySession`) and
 * reach docker on stdin, never in argv or in the user's ~/.docker/config.json.
 */
import * as core from '@actions/core';
import { CommandError, lastLines, succeeded, type Command, type CommandResult, type Shell } from './shell.js';
import { retry } from './retry.js';

export type Builder = 'buildx' | 'legacy';

/** Cache backends of `docker buildx build`; the legacy builder has none and ignores the input. */
export const CACHE_TYPES = ['none', 'gha', 'registry', 'inline'] as const;
export type CacheType = (typeof CACHE_TYPES)[number];

export interface BuildSpec {
  context: string;
  file: string;
  target?: string;
  /** Full references, `registry/repo:tag`. */
  tags: readonly string[];
  labels: ReadonlyMap<string, string>;
  buildArgs: ReadonlyMap<string, string>;
  platforms: readonly string[];
  cache: CacheType;
  /** Cache image for `cache: registry`, usually `<image>:buildcache`. */
  cacheRef?: string;
  noCache: boolean;
  pull: boolean;
  /** buildx pushes as part of the build; the legacy builder pushes afterwards (`push`). */
  push: boolean;
}

export interface ImageInfo {
  id: string;
  size: number;
  repoDigests: string[];
}

/** The name every throwaway DOCKER_CONFIG of a registry login starts with (see removeLeftovers). */
export const REGISTRY_CONFIG_PREFIX = 'slipway-docker-';

export interface RegistryRetryOptions {
  /** Attempts in all (3). */
  attempts?: number;
  /** Bound of each attempt. */
  timeoutMs?: number;
  /** Where "trying again" goes; the step's warnings by default. */
  warn?: (message: string) => void;
}

export class DockerCli {
  constructor(
    readonly shell: Shell,
    private readonly env: Readonly<Record<string, string>> = {},
  ) {}

  /** The same CLI with its client configuration (credentials) in `dir`. */
  withConfigDir(dir: string): DockerCli {
    return new DockerCli(this.shell, { ...this.env, DOCKER_CONFIG: dir });
  }

  run(args: readonly string[], options: Omit<Command, 'args'> = {}): Promise<CommandResult> {
    return this.shell.run({ ...options, args: ['docker', ...args], env: { ...this.env, ...options.env } });
  }

  /** buildx when the plugin answers; otherwise the classic builder that every docker has. */
  async detectBuilder(): Promise<Builder> {
    const result = await this.run(['buildx', 'version'], { allowFailure: true, timeoutMs: 30_000 });
    return result.exitCode === 0 ? 'buildx' : 'legacy';
  }

  /** Builds (and with buildx and `spec.push`, pushes); returns the digest buildx reports, if any. */
  async build(builder: Builder, spec: BuildSpec, metadataFile?: string): Promise<void> {
    const args = builder === 'buildx' ? ['buildx', 'build'] : ['build'];
    args.push('--file', spec.file);
    if (spec.target) args.push('--target', spec.target);
    for (const tag of spec.tags) args.push('--tag', tag);
    for (const [key, value] of spec.labels) args.push('--label', `${key}=${value}`);
    for (const [key, value] of spec.buildArgs) args.push('--build-arg', `${key}=${value}`);
    if (spec.noCache) args.push('--no-cache');
    if (spec.pull) args.push('--pull');
    if (builder === 'buildx') {
      if (spec.platforms.length) args.push('--platform', spec.platforms.join(','));
      args.push(...buildxCacheArgs(spec));
      args.push(spec.push ? '--push' : '--load');
      if (metadataFile) args.push('--metadata-file', metadataFile);
    }
    args.push(spec.context);
    // DOCKER_BUILDKIT=0 keeps a newer CLI without buildx on the classic builder instead of failing.
    const env: Record<string, string> = builder === 'legacy' ? { DOCKER_BUILDKIT: '0' } : {};
    await this.run(args, { env, stream: true });
  }

  /** Pushes one reference, trying again on errors a registry gives when busy; returns its digest. */
  async push(reference: string, attempts = 3): Promise<string> {
    const result = await this.withRegistryRetries('push', reference, { attempts });
    const digest = /digest: (sha256:[a-f0-9]{64})/.exec(result.stdout)?.[1];
    if (!digest) throw new Error(`docker push ${reference} reported no digest:\n${lastLines(result.stdout, 5)}`);
    return digest;
  }

  /** Pulls one reference, trying again on errors a registry gives when busy. */
  async pull(reference: string, options: RegistryRetryOptions = {}): Promise<void> {
    await this.withRegistryRetries('pull', reference, options);
  }

  /**
   * `docker push|pull <reference>`, streamed, tried again (2 s, then 4 s apart) when the registry
   * answers as a busy one does (5xx, 429, a reset). A refusal or a missing image is not tried again,
   * nor a command that timed out: its time is the caller's bound for all attempts' worth of waiting.
   */
  private withRegistryRetries(verb: 'push' | 'pull', reference: string, options: RegistryRetryOptions): Promise<CommandResult> {
    const attempts = options.attempts ?? 3;
    const warn = options.warn ?? ((message: string) => core.warning(message));
    return retry(
      async () => {
        const result = await this.run([verb, reference], { stream: true, allowFailure: true, timeoutMs: options.timeoutMs });
        if (!succeeded(result)) throw new CommandError(this.shell.target, ['docker', verb, reference], result);
        return result;
      },
      {
        attempts,
        initialDelayMs: 2_000,
        retryable: (error) => error instanceof CommandError && !error.result.timedOut && isTransientRegistryError(`${error.result.stderr}\n${error.result.stdout}`),
        onRetry: (error, attempt, delay) =>
          warn(`${verb} of ${reference} failed (attempt ${attempt} of ${attempts}), trying again in ${delay / 1000}s: ${lastLines((error as CommandError).result.stderr, 1)}`),
      },
    );
  }

  async inspectImage(reference: string): Promise<ImageInfo> {
    const result = await this.run(['image', 'inspect', '--format', '{{json .}}', reference]);
    const image = JSON.parse(result.stdout) as { Id: string; Size: number; RepoDigests?: string[] };
    return { id: image.Id, size: image.Size, repoDigests: image.RepoDigests ?? [] };
  }
}

function buildxCacheArgs(spec: BuildSpec): string[] {
  switch (spec.cache) {
    case 'none':
      return [];
    case 'gha':
      return ['--cache-from', 'type=gha', '--cache-to', 'type=gha,mode=max'];
    case 'inline':
      return ['--cache-from', `type=registry,ref=${spec.tags[0]}`, '--cache-to', 'type=inline'];
    case 'registry':
      return ['--cache-from', `type=registry,ref=${spec.cacheRef}`, '--cache-to', `type=registry,ref=${spec.cacheRef},mode=max`];
  }
}

/** Errors worth another try: the registry was busy or the connection dropped, not a refusal. */
export function isTransientRegistryError(output: string): boolean {
  if (/unauthorized|denied|forbidden|not found|manifest invalid|name unknown/i.test(output)) return false;
  return /\b(50[0234]|429)\b|too many requests|toomanyrequests|timeout|timed out|connection reset|broken pipe|unexpected EOF|\bEOF\b|service unavailable|bad gateway|temporar/i.test(output);
}

/** Errors meaning the credentials were refused, which no retry will fix. */
export function isAuthError(output: string): boolean {
  return /unauthorized|authentication required|denied|incorrect username or password|401/i.test(output);
}

export interface RegistryCredentials {
  registry: string;
  username: string;
  password: string;
  /** The action's names for username and password, for the error when they are refused. */
  inputs: readonly [string, string];
  /** What the login is for: a token that may pull need not be allowed to push. */
  access: 'push' | 'pull';
}

/** What a GHCR token needs, for the error when the registry refuses one. */
const GHCR_TOKEN_NEEDS: Record<RegistryCredentials['access'], string> = {
  push: "a token allowed to write packages, e.g. the workflow's GITHUB_TOKEN with `permissions: packages: write`",
  pull: "a token allowed to read packages (read:packages), e.g. the workflow's GITHUB_TOKEN with `permissions: packages: read`",
};

/** The error for a failed `docker login`: when the registry refused the credentials, which inputs to check. */
export function loginFailure(credentials: Pick<RegistryCredentials, 'registry' | 'inputs' | 'access'>, target: string, output: string): Error {
  const { registry, inputs, access } = credentials;
  if (isAuthError(output)) {
    return new Error(`${registry} refused the credentials on ${target}: check the \`${inputs[0]}\` and \`${inputs[1]}\` inputs ` + `(for GHCR, ${GHCR_TOKEN_NEEDS[access]}).\n` + lastLines(output, 3));
  }
  return new Error(`docker login to ${registry} failed on ${target}:\n${lastLines(output, 5)}`);
}

/**
 * `docker login` into a new DOCKER_CONFIG directory made for this session; `close` deletes it,
 * and with it the only copy of the credentials docker wrote.
 */
export class RegistrySession {
  private constructor(
    readonly registry: string,
    readonly configDir: string,
    readonly docker: DockerCli,
  ) {}

  static async open(docker: DockerCli, credentials: RegistryCredentials, parentDir?: string): Promise<RegistrySession> {
    const { registry, username, password } = credentials;
    const made = await docker.shell.run({ args: ['mktemp', '-d', ...(parentDir ? ['-p', parentDir] : []), `${REGISTRY_CONFIG_PREFIX}XXXXXXXX`] });
    const configDir = made.stdout.trim();
    const session = new RegistrySession(registry, configDir, docker.withConfigDir(configDir));
    const login = await session.docker.run(['login', '--username', username, '--password-stdin', registry], {
      stdin: password,
      allowFailure: true,
      timeoutMs: 120_000,
    });
    if (login.exitCode !== 0) {
      await session.close();
      throw loginFailure(credentials, docker.shell.target, `${login.stderr}\n${login.stdout}`);
    }
    return session;
  }

  async close(): Promise<void> {
    await this.docker.shell.run({ args: ['rm', '-rf', this.configDir], allowFailure: true });
  }
}
