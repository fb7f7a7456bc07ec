/**
 * The compose CLI on a target, whichever it has: the v2 plugin (`docker compose`) or the standalone
 * `docker-compose` (v1, as Debian and older Amazon Linux ship it, or a v2 binary under that name).
 * Arguments are built here for both; which features exist is decided by the version, not the name.
 */
import { lastLines, type Command, type CommandResult, type Shell } from '../shell.js';

export interface ComposeFlavor {
  /** `docker compose` (plugin) or `docker-compose` (standalone binary). */
  kind: 'plugin' | 'standalone';
  /** As the CLI reports it, without a leading `v`: `1.29.2`, `2.24.5`. */
  version: string;
}

/** What every compose command of one deployment shares: its `-p`, `-f` and `--env-file`. */
export interface ComposeProject {
  name: string;
  /** Paths on the target, in merge order (the generated override last). */
  files: readonly string[];
  /** Interpolation values: a 0600 file on the target. */
  envFile?: string;
}

export interface ComposeUpOptions {
  services: readonly string[];
  build: boolean;
  removeOrphans: boolean;
  /** Seconds for compose's own `--wait`; only when `supportsWait`. */
  waitSeconds?: number;
}

export const PULL_POLICIES = ['always', 'missing', 'never'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

/** Numeric comparison of dotted versions: `2.20.0` >= `2.3.1`. */
export function versionAtLeast(version: string, minimum: string): boolean {
  const a = version.split(/[.+-]/).map((part) => Number.parseInt(part, 10) || 0);
  const b = minimum.split('.').map((part) => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < b.length; i++) {
    if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) > b[i];
  }
  return true;
}

export class ComposeNotFoundError extends Error {
  constructor(target: string, detail: string) {
    super(`Neither \`docker compose\` (the v2 plugin) nor \`docker-compose\` answers on ${target}: install one of them (${detail}).`);
    this.name = 'ComposeNotFoundError';
  }
}

export class ComposeCli {
  constructor(
    readonly shell: Shell,
    readonly flavor: ComposeFlavor,
    private readonly env: Readonly<Record<string, string>> = {},
  ) {}

  /** The plugin when `docker compose version` answers, else `docker-compose`, else an error. */
  static async detect(shell: Shell, env: Readonly<Record<string, string>> = {}): Promise<ComposeCli> {
    const plugin = await shell.run({ args: ['docker', 'compose', 'version', '--short'], env, allowFailure: true, timeoutMs: 30_000 });
    if (plugin.exitCode === 0 && parseVersion(plugin.stdout)) {
      return new ComposeCli(shell, { kind: 'plugin', version: parseVersion(plugin.stdout)! }, env);
    }
    const standalone = await shell.run({ args: ['docker-compose', 'version', '--short'], env, allowFailure: true, timeoutMs: 30_000 });
    if (standalone.exitCode === 0 && parseVersion(standalone.stdout)) {
      return new ComposeCli(shell, { kind: 'standalone', version: parseVersion(standalone.stdout)! }, env);
    }
    throw new ComposeNotFoundError(shell.target, lastLines(`${plugin.stderr}\n${standalone.stderr}`.trim(), 2));
  }

  /** The same CLI with registry credentials from a `RegistrySession`'s config directory. */
  withConfigDir(dir: string): ComposeCli {
    return new ComposeCli(this.shell, this.flavor, { ...this.env, DOCKER_CONFIG: dir });
  }

  /** `docker compose` or `docker-compose`, for messages. */
  get name(): string {
    return this.flavor.kind === 'plugin' ? 'docker compose' : 'docker-compose';
  }

  get isV1(): boolean {
    return !versionAtLeast(this.flavor.version, '2.0.0');
  }

  /**
   * `up --wait` came with v2.1.1, but a timeout for it (`--wait-timeout`) only with v2.20; without
   * one a service stuck in `starting` would hold the step forever, so older versions get our poll.
   */
  get supportsWait(): boolean {
    return versionAtLeast(this.flavor.version, '2.20.0');
  }

  /** The full argv of a compose command of `project`. */
  command(project: ComposeProject, args: readonly string[]): string[] {
    const prefix = this.flavor.kind === 'plugin' ? ['docker', 'compose'] : ['docker-compose'];
    const global = ['--project-name', project.name];
    for (const file of project.files) global.push('--file', file);
    if (project.envFile) global.push('--env-file', project.envFile);
    return [...prefix, ...global, ...args];
  }

  run(project: ComposeProject, args: readonly string[], options: Omit<Command, 'args'> = {}): Promise<CommandResult> {
    return this.shell.run({ ...options, args: this.command(project, args), env: { ...this.env, ...options.env } });
  }

  /** Compose's own validation of the merged files on the target (interpolation included). */
  async validate(project: ComposeProject): Promise<void> {
    await this.run(project, ['config', '--quiet'], { timeoutMs: 60_000 });
  }

  /** The merged, interpolated configuration: what a swarm stack is deployed from. */
  async resolvedConfig(project: ComposeProject): Promise<string> {
    return (await this.run(project, ['config'], { timeoutMs: 60_000 })).stdout;
  }

  async pull(project: ComposeProject, services: readonly string[]): Promise<void> {
    await this.run(project, ['pull', ...services], { stream: true });
  }

  async up(project: ComposeProject, options: ComposeUpOptions): Promise<CommandResult> {
    return this.run(project, upArgs(this, options), { stream: true, allowFailure: true });
  }

  async logs(project: ComposeProject, services: readonly string[], tail = 100): Promise<string> {
    const result = await this.run(project, ['logs', '--no-color', '--tail', String(tail), ...services], { allowFailure: true, timeoutMs: 60_000 });
    return `${result.stdout}${result.stderr}`;
  }

  /** Stops and removes the project's containers and networks; never its volumes (no `-v`). */
  async down(project: ComposeProject, removeOrphans: boolean): Promise<void> {
    await this.run(project, ['down', ...(removeOrphans ? ['--remove-orphans'] : [])], { stream: true });
  }
}

/** `up` arguments; the pull policy is applied before `up` (see `compose-up.ts`), identically for v1 and v2. */
export function upArgs(cli: Pick<ComposeCli, 'supportsWait'>, options: ComposeUpOptions): string[] {
  const args = ['up', '--detach'];
  if (options.build) args.push('--build');
  if (options.removeOrphans) args.push('--remove-orphans');
  if (options.waitSeconds !== undefined && cli.supportsWait) args.push('--wait', '--wait-timeout', String(options.waitSeconds));
  args.push(...options.services);
  return args;
}

/** `1.29.2`, `v2.24.5-desktop.1`, `2.24.5`: the first dotted version in the text. */
export function parseVersion(text: string): string | undefined {
  return /v?(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
}
