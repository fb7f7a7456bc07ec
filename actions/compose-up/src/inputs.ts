/**
 * The only file that reads compose-up's own inputs: every action.yml input name appears here (the
 * connection inputs, and `env`, `env-file` and `vars`, shared with ec2-deploy, are read by core's
 * `parseConnectionInputs` and `parseEnvInputs`, the same code as ec2-deploy's). It is also the
 * preflight: the compose files are parsed and checked here, and the connection inputs with them, so
 * every mistake fails before any host is contacted.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  CONNECTION_INPUTS,
  DEFAULT_COMPOSE_FILES,
  InputError,
  PULL_POLICIES,
  checkServiceNames,
  deploymentDir,
  loadComposeFiles,
  localBuildContext,
  loginRegistry,
  parseBoolean,
  parseChoice,
  parseConnectionInputs,
  parseDuration,
  parseEnvInputs,
  parseImageRef,
  parseInteger,
  parseList,
  workspaceRelative,
  type ComposeModel,
  type ConnectionSettings,
  type DeployMode,
  type InputReader,
  type PullPolicy,
  type RegistryCredentials,
  type RunContext,
} from '@slipway/core';

export interface ComposeUpInputs {
  model: ComposeModel;
  project: string;
  services: string[];
  images: Map<string, string>;
  /** Interpolation values (`env-file`, then `env` and `vars`), or undefined when none is given. */
  env?: Map<string, string>;
  /** `vars`: shown as they are in the log and the summary. */
  vars: Map<string, string>;
  uploads: string[];
  remoteDir: string;
  keepReleases: number;
  /** Remote only: how long to wait for another deployment's lock on a host. */
  lockTimeoutMs: number;
  pull: PullPolicy;
  build: boolean;
  wait: boolean;
  waitTimeoutMs: number;
  removeOrphans: boolean;
  downOnExit: boolean;
  mode: DeployMode;
  registry?: RegistryCredentials;
  /** True when `hosts` is set: deploy over SSH, with `connection`. */
  remote: boolean;
  /** The SSH connection to the hosts, parsed by core exactly as ec2-deploy parses it; remote only. */
  connection?: ConnectionSettings;
  /** Every secret among the inputs (`env` and `env-file` values too): the step masks them all. */
  secrets: string[];
}

const MODES = ['compose', 'swarm'] as const;

/** Compose's rule for project names (v2 refuses others; v1 silently strips what does not fit). */
const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]*$/;

export function normalizeProjectName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '')
    .replace(/^[_-]+/, '');
}

/** Connection inputs without an action.yml default: set without `hosts`, they show a mistake. */
const CONNECTION_ONLY = [
  CONNECTION_INPUTS.sshKey,
  CONNECTION_INPUTS.sshKeyPassphrase,
  CONNECTION_INPUTS.hostFingerprints,
  CONNECTION_INPUTS.jumpHost,
  CONNECTION_INPUTS.jumpSshKey,
  CONNECTION_INPUTS.jumpHostFingerprints,
] as const;

export function getInputs(read: InputReader, run: RunContext, workspace = process.cwd()): ComposeUpInputs {
  const remote = read(CONNECTION_INPUTS.hosts).trim() !== '';
  // `hosts: ${{ vars.HOSTS }}` with the variable missing is empty: without this check, a deploy
  // meant for the hosts would quietly start the stack on the runner and report success.
  const stray = remote ? undefined : CONNECTION_ONLY.find((name) => read(name).trim() !== '');
  if (stray) {
    throw new InputError(CONNECTION_INPUTS.hosts, `is empty while \`${stray}\` is set: list the hosts to deploy to, or remove the connection inputs to run compose on the runner.`);
  }
  const mode = parseChoice('mode', read('mode'), MODES, 'compose');

  const model = loadComposeFiles('compose-files', workspace, composeFiles(read('compose-files'), workspace));

  const project = projectName(read('project-name'), run);
  const services = parseList(read('services'));
  checkServiceNames(
    model,
    'services',
    services.map((name) => ({ name })),
  );
  const images = parseImages(read('images'), model);

  const uploads = parseList(read('upload'), { commas: false }).map((path) => uploadPath(path, workspace));
  if (remote && mode === 'compose' && parseBoolean('build', read('build'), true)) checkBuildContextsUploaded(model, uploads, workspace);
  if (mode === 'swarm') checkSwarmImages(model, services, images);

  const downOnExit = parseBoolean('down-on-exit', read('down-on-exit'), false);
  if (downOnExit && remote) {
    throw new InputError('down-on-exit', 'is for runs on the runner (integration tests); with `hosts` the deployment is meant to stay up. Remove one of them.');
  }

  const env = parseEnvInputs(read, workspace);
  const password = read('registry-password');
  const registry: RegistryCredentials | undefined = password
    ? {
        registry: loginRegistry('registry', read('registry').trim(), { model, images, values: env.values }),
        username: read('registry-username') || run.actor,
        password,
        inputs: ['registry-username', 'registry-password'],
        access: 'pull',
      }
    : undefined;
  if (registry && !registry.username) throw new InputError('registry-username', 'is empty, and registry-password is set: give the registry user.');

  // Last, once the compose files are known to be good: still before any connection.
  const connection = remote ? parseConnectionInputs(read) : undefined;

  return {
    model,
    project,
    services,
    images,
    env: env.values.size ? env.values : undefined,
    vars: env.vars,
    uploads,
    remoteDir: read('remote-dir') || `~/${deploymentDir(project)}`,
    keepReleases: parseInteger('keep-releases', read('keep-releases'), 5, { min: 1, max: 100 }),
    lockTimeoutMs: parseDuration('lock-timeout', read('lock-timeout'), '10m'),
    pull: parseChoice('pull', read('pull'), PULL_POLICIES, remote ? 'always' : 'missing'),
    build: parseBoolean('build', read('build'), true),
    wait: parseBoolean('wait', read('wait'), true),
    waitTimeoutMs: parseDuration('wait-timeout', read('wait-timeout'), '120s'),
    removeOrphans: parseBoolean('remove-orphans', read('remove-orphans'), true),
    downOnExit,
    mode,
    registry,
    remote,
    connection,
    secrets: [...(connection?.secrets ?? []), ...(password ? [password] : []), ...env.secrets],
  };
}

function composeFiles(raw: string, workspace: string): string[] {
  const given = parseList(raw, { commas: false });
  if (given.length) return given;
  const found = DEFAULT_COMPOSE_FILES.find((name) => existsSync(resolve(workspace, name)));
  if (!found) throw new InputError('compose-files', `is not set and none of ${DEFAULT_COMPOSE_FILES.join(', ')} is in the workspace (${workspace}).`);
  return [found];
}

function projectName(raw: string, run: RunContext): string {
  const given = raw.trim();
  if (given) {
    if (!PROJECT_NAME.test(given)) {
      throw new InputError(
        'project-name',
        `"${given}" is not a compose project name: lowercase letters, digits, _ and -, starting with a letter or digit (e.g. "${normalizeProjectName(given) || 'app'}").`,
      );
    }
    return given;
  }
  // Repository names may have dots and capitals ("My.App"); compose project names may not.
  const fromRepo = normalizeProjectName(run.repo);
  if (!fromRepo) throw new InputError('project-name', 'is not set and the repository name gives none: set it.');
  return fromRepo;
}

/** `service=image-ref` lines, each checked against the files' services and the reference grammar. */
function parseImages(raw: string, model: ComposeModel): Map<string, string> {
  const images = new Map<string, string>();
  raw.split(/\r?\n/).forEach((line, index) => {
    const text = line.trim();
    if (text === '' || text.startsWith('#')) return;
    const where = `line ${index + 1}`;
    const eq = text.indexOf('=');
    if (eq <= 0) throw new InputError('images', `${where}: write service=image-ref, e.g. app=ghcr.io/owner/app@sha256:…`);
    const service = text.slice(0, eq).trim();
    const image = text.slice(eq + 1).trim();
    checkServiceNames(model, 'images', [{ name: service, line: index + 1 }]);
    if (images.has(service)) throw new InputError('images', `${where}: ${service} is given twice.`);
    try {
      parseImageRef('images', image);
    } catch (error) {
      throw new InputError('images', `${where}: ${(error as Error).message.replace(/^Input `images`: /, '')}`);
    }
    images.set(service, image);
  });
  return images;
}

function uploadPath(raw: string, workspace: string): string {
  const path = resolve(workspace, raw);
  const relative = workspaceRelative(workspace, path);
  if (!relative || relative === '.') throw new InputError('upload', `${raw} must be a file or directory inside the workspace (${workspace}), not the workspace itself or outside it.`);
  if (!existsSync(path)) throw new InputError('upload', `${raw} does not exist in the workspace (${workspace}).`);
  return relative;
}

/** On a host, `build:` needs its context there: a missing one would fail mid-deploy, after the upload. */
function checkBuildContextsUploaded(model: ComposeModel, uploads: readonly string[], workspace: string): void {
  // Every service, not only those in `services`: up starts (and builds) what they depend on too.
  for (const service of model.services.values()) {
    const context = localBuildContext('compose-files', model, service);
    if (context === undefined) continue;
    if (!existsSync(resolve(workspace, context)) || !statSync(resolve(workspace, context)).isDirectory()) {
      throw new InputError('compose-files', `service ${service.name} builds from ${context}, which is not a directory in the workspace.`);
    }
    const covered = uploads.some((upload) => context === upload || context.startsWith(`${upload}/`) || upload === '.');
    if (!covered) {
      throw new InputError('upload', `service ${service.name} is built on the host from ${context}/, which is not uploaded: add "${context}/" to \`upload\`.`);
    }
  }
}

/** A stack cannot build: each service it starts needs an image. */
function checkSwarmImages(model: ComposeModel, services: readonly string[], images: ReadonlyMap<string, string>): void {
  for (const service of model.services.values()) {
    if (services.length && !services.includes(service.name)) continue;
    if (!service.image && !images.has(service.name)) {
      throw new InputError('mode', `swarm stacks cannot build: service ${service.name} has no image; push one (build-push) and set it in \`images\`.`);
    }
  }
}
