/**
 * composeUpRemote against a scripted host: the release store, the registry session, compose's argv,
 * the health rules and the rollback run for real; only the host's answers are scripted. The host
 * keeps the little state those answers depend on (which release `current` names, which releases
 * exist, which one compose last brought up), so the tests assert on where the host ends up.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { REGISTRY_CONFIG_PREFIX } from '../docker.js';
import { RunLocks } from '../host/run-locks.js';
import { LocalShell } from '../local-shell.js';
import type { Command } from '../shell.js';
import { scriptContainers } from '../testing/docker.js';
import { ScriptedShell, type Reply } from '../testing/scripted-shell.js';
import { composeUpRemote, type ComposePlan, type DeployLog } from './compose-up.js';
import type { ContainerStatus } from './health.js';
import { OVERRIDE_FILE_NAME } from './override.js';
import type { ReleaseManifest } from './release.js';

const HOME = '/home/deploy';
const BASE = `${HOME}/slipway/shop`;
const RELEASES = `${BASE}/releases`;
const NEW_IMAGE = `ghcr.io/o/app@sha256:${'2'.repeat(64)}`;
const OLD_IMAGE = `ghcr.io/o/app@sha256:${'1'.repeat(64)}`;
const PASSWORD = 'registry-s3cret';

let workspace: string;
beforeAll(() => {
  workspace = mkdtempSync(join(tmpdir(), 'slipway-compose-up-'));
  writeFileSync(join(workspace, 'compose.yml'), 'services:\n  app: {image: ghcr.io/o/app}\n  proxy: {build: ./proxy}\n');
  mkdirSync(join(workspace, 'proxy'));
  writeFileSync(join(workspace, 'proxy', 'Dockerfile'), 'FROM nginx\n');
});
afterAll(() => rmSync(workspace, { recursive: true, force: true }));

function plan(overrides: Partial<ComposePlan> = {}): ComposePlan {
  return {
    project: 'shop',
    mode: 'compose',
    workspace,
    model: { files: [{ path: join(workspace, 'compose.yml'), relativePath: 'compose.yml' }], services: new Map() },
    images: new Map([['app', NEW_IMAGE]]),
    services: [],
    env: new Map([['PORT', '8081']]),
    uploads: ['proxy'],
    pull: 'always',
    build: false,
    wait: true,
    waitTimeoutMs: 60_000,
    removeOrphans: true,
    registry: { registry: 'ghcr.io', username: 'bot', password: PASSWORD, inputs: ['registry-username', 'registry-password'], access: 'pull' },
    remoteDir: '~/slipway/shop',
    keepReleases: 2,
    releaseId: 'r3',
    runUrl: 'https://github.com/o/r/actions/runs/1',
    ...overrides,
  };
}

/** A release an earlier run left, as its manifest says. */
function manifest(id: string): ReleaseManifest {
  return {
    id,
    project: 'shop',
    mode: 'compose',
    files: ['compose.yml', `.slipway/${OVERRIDE_FILE_NAME}`],
    envFile: '.slipway/compose.env',
    services: [],
    createdAt: '2026-11-22T20:01:02.000Z',
  };
}

/** A compose command's global options and the rest (`up --detach …`), from its argv. */
function composeCall(command: Command): { project?: string; files: string[]; envFile?: string; rest: string[] } {
  const args = command.args.slice(2);
  const call: ReturnType<typeof composeCall> = { files: [], rest: [] };
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--project-name') call.project = args[++i];
    else if (args[i] === '--file') call.files.push(args[++i]);
    else if (args[i] === '--env-file') call.envFile = args[++i];
    else {
      call.rest = args.slice(i);
      break;
    }
  }
  return call;
}

const isCompose = (verb: string) => (command: Command) => command.args[0] === 'docker' && command.args[1] === 'compose' && composeCall(command).rest[0] === verb;

/** The release directory a compose command's files are in. */
function releaseOf(command: Command): string {
  return posix.basename(posix.dirname(composeCall(command).files[0]));
}

interface HostOptions {
  version?: string;
  /** Releases on the host before the run; `current` names the last. */
  releases?: string[];
  /** What `up` answers for a release (success by default). */
  up?: (release: string) => Reply;
  /** Whether the app container of a release comes up healthy (default yes). */
  healthy?: (release: string) => boolean;
  login?: Reply;
  /** What the sweep of an interrupted run's files finds. */
  leftovers?: string[];
}

/** A host with docker, compose, and `~/slipway/shop` holding `releases`. */
function composeHost(options: HostOptions = {}) {
  const host = new ScriptedShell({ target: 'deploy@h1:22' });
  const releases = new Set(options.releases ?? []);
  const state = { current: options.releases?.at(-1), running: undefined as string | undefined, sessions: 0 };
  let link: string | undefined;

  host.on(['printenv', 'HOME'], { stdout: `${HOME}\n` });
  host.on({ prefix: ['docker', 'compose', 'version'] }, { stdout: `${options.version ?? '2.24.5'}\n` });
  host.on({ prefix: ['sh', '-c'], name: 'leftover sweep' }, { stdout: (options.leftovers ?? []).map((f) => `${f}\n`).join('') });
  host.on(['readlink', `${BASE}/current`], () => (state.current ? { stdout: `releases/${state.current}\n` } : { exitCode: 1 }));
  host.on({ prefix: ['cat'], line: /\/\.slipway\/release\.json$/ }, (command) => {
    const id = command.args[1].split('/').at(-3)!;
    return releases.has(id) ? { stdout: JSON.stringify(manifest(id)) } : { exitCode: 1, stderr: 'No such file or directory' };
  });
  host.on({ prefix: ['mkdir'] }, (command) => {
    const dir = command.args.at(-1)!;
    if (posix.dirname(dir) === RELEASES) releases.add(posix.basename(dir));
    return {};
  });
  host.on({ prefix: ['tar', '-x'] });
  host.on({ prefix: ['mktemp', '-d'] }, () => ({ stdout: `${BASE}/${REGISTRY_CONFIG_PREFIX}${++state.sessions}\n` }));
  host.on({ prefix: ['docker', 'login'] }, options.login ?? { stdout: 'Login Succeeded\n' });
  host.on({ prefix: ['rm', '-rf'] }, (command) => {
    for (const path of command.args.slice(2)) if (posix.dirname(path) === RELEASES) releases.delete(posix.basename(path));
    return {};
  });
  host.on({ prefix: ['ln', '-sfn'] }, (command) => ((link = command.args[2]), {}));
  host.on(['mv', '-T', '-f', `${BASE}/current.new`, `${BASE}/current`], () => ((state.current = posix.basename(link!)), {}));
  host.on(['ls', '-1', RELEASES], () => ({
    stdout: [...releases]
      .sort()
      .map((id) => `${id}\n`)
      .join(''),
  }));

  // compose's view of the release: `app` from a registry, `proxy` built, `debug` behind a profile.
  host.on(isCompose('config'), (command) =>
    composeCall(command).rest.includes('--quiet')
      ? {}
      : {
          stdout: `services:\n  app: {image: ${releaseOf(command) === 'r3' ? NEW_IMAGE : OLD_IMAGE}}\n  proxy: {build: {context: ${RELEASES}/${releaseOf(command)}/proxy}}\n  debug: {image: busybox, profiles: [debug]}\n`,
        },
  );
  host.on(isCompose('pull'));
  host.on(isCompose('up'), (command) => {
    state.running = releaseOf(command);
    return options.up?.(state.running) ?? {};
  });
  host.on(isCompose('logs'), { stdout: 'shop-app-1  | listening on :8081\nshop-app-1  | health check failed: 503\n' });
  scriptContainers(
    host,
    () => {
      if (!state.running) return [];
      const healthy = options.healthy?.(state.running) ?? true;
      const app: ContainerStatus = {
        id: 'c-app',
        name: 'shop-app-1',
        service: 'app',
        image: state.running === 'r3' ? NEW_IMAGE : OLD_IMAGE,
        state: 'running',
        health: healthy ? 'healthy' : 'unhealthy',
        exitCode: 0,
      };
      const proxy: ContainerStatus = { id: 'c-proxy', name: 'shop-proxy-1', service: 'proxy', image: 'shop-proxy', state: 'running', health: 'none', exitCode: 0 };
      return [app, proxy];
    },
    'shop',
  );
  return { host, state, releases };
}

function recordingLog() {
  const lines: string[] = [];
  const attached: Array<{ title: string; text: string }> = [];
  const log: DeployLog = {
    info: (m) => lines.push(m),
    warning: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    group: (title, fn) => (lines.push(`── ${title}`), fn()),
    attach: (title, text) => attached.push({ title, text }),
  };
  return { log, lines, attached };
}

/** Index of the first command whose argv starts with `prefix`, or matches it; -1 when none. */
function indexOf(host: ScriptedShell, match: string[] | ((command: Command) => boolean), from = 0): number {
  const test = Array.isArray(match) ? (c: Command) => match.every((word, i) => c.args[i] === word) : match;
  return host.commands.findIndex((command, i) => i >= from && test(command));
}

function archiveEntries(archive: string | Buffer | undefined): string[] {
  const listed = spawnSync('tar', ['-t', '-f', '-'], { input: archive, encoding: 'utf8' });
  return listed.stdout.split('\n').filter(Boolean).sort();
}

describe('compose-up on a host', () => {
  it('makes a first release: a private directory with the files, compose up from it, then current', async () => {
    const { host, state, releases } = composeHost();
    const { log } = recordingLog();
    const result = await composeUpRemote(host, plan(), log);
    host.verify();

    expect(result).toMatchObject({ target: 'deploy@h1:22', ok: true, compose: 'docker compose 2.24.5', release: 'r3', rolledBack: false });
    expect(result.previousRelease).toBeUndefined();
    expect(result.services).toEqual([
      { service: 'app', container: 'shop-app-1', image: NEW_IMAGE, state: 'running', health: 'healthy' },
      { service: 'proxy', container: 'shop-proxy-1', image: 'shop-proxy', state: 'running', health: 'none' },
    ]);
    expect(state.current).toBe('r3');
    expect([...releases]).toEqual(['r3']);

    // `~` is the deploy user's home, and the release directory is private before anything goes in.
    const dir = `${RELEASES}/r3`;
    const made = indexOf(host, ['mkdir', '-m', '0700', dir]);
    const unpacked = indexOf(host, ['tar', '-x']);
    expect(made).toBeGreaterThanOrEqual(0);
    expect(made).toBeLessThan(unpacked);
    expect(host.commands[unpacked].args).toEqual(['tar', '-x', '-f', '-', '--no-same-owner', '-C', dir]);
    expect(archiveEntries(host.commands[unpacked].stdin)).toEqual(['compose.yml', 'proxy/', 'proxy/Dockerfile']);

    const override = `${dir}/.slipway/${OVERRIDE_FILE_NAME}`;
    const envFile = `${dir}/.slipway/compose.env`;
    expect(host.files.map((f) => [f.path, f.mode])).toEqual([
      [override, 0o600],
      [envFile, 0o600],
      [`${dir}/.slipway/release.json`, 0o600],
    ]);
    expect(host.file(override)).toContain(`app:\n    image: "${NEW_IMAGE}"`);
    expect(host.file(envFile)).toBe('PORT=8081\n');
    expect(JSON.parse(host.file(`${dir}/.slipway/release.json`)!)).toMatchObject({
      id: 'r3',
      project: 'shop',
      mode: 'compose',
      files: ['compose.yml', `.slipway/${OVERRIDE_FILE_NAME}`],
      envFile: '.slipway/compose.env',
      runUrl: 'https://github.com/o/r/actions/runs/1',
    });

    // Only the service that starts by default and is not built is pulled, then up with compose's own bounded wait.
    const up = host.commands[indexOf(host, isCompose('up'))];
    expect(composeCall(up)).toEqual({ project: 'shop', files: [`${dir}/compose.yml`, override], envFile, rest: ['up', '--detach', '--remove-orphans', '--wait', '--wait-timeout', '60'] });
    expect(composeCall(host.commands[indexOf(host, isCompose('pull'))]).rest).toEqual(['pull', 'app']);
    expect(indexOf(host, isCompose('pull'))).toBeLessThan(indexOf(host, isCompose('up')));

    // current switches only once the services are up.
    expect(indexOf(host, ['ln', '-sfn'])).toBeGreaterThan(indexOf(host, isCompose('up')));
    expect(host.commands[indexOf(host, ['ln', '-sfn'])].args).toEqual(['ln', '-sfn', 'releases/r3', `${BASE}/current.new`]);
  });

  it('logs in for the deployment only: a config directory beside the releases, the password on stdin, removed before current switches', async () => {
    const { host } = composeHost();
    await composeUpRemote(host, plan(), recordingLog().log);
    host.verify();

    const session = `${BASE}/${REGISTRY_CONFIG_PREFIX}1`;
    expect(host.ran('mktemp')[0].args).toEqual(['mktemp', '-d', '-p', BASE, `${REGISTRY_CONFIG_PREFIX}XXXXXXXX`]);
    const [login] = host.ran('docker', 'login');
    expect(login.args).toEqual(['docker', 'login', '--username', 'bot', '--password-stdin', 'ghcr.io']);
    expect(login.stdin).toBe(PASSWORD);
    expect(login.env).toEqual({ DOCKER_CONFIG: session });
    expect(host.commands.filter((c) => c.args.some((arg) => arg.includes(PASSWORD)))).toEqual([]);

    // Every compose command between login and removal reads the session's credentials.
    const loggedIn = indexOf(host, ['docker', 'login']);
    const removed = indexOf(host, ['rm', '-rf', session]);
    expect(removed).toBeGreaterThan(indexOf(host, isCompose('up')));
    expect(removed).toBeLessThan(indexOf(host, ['ln', '-sfn']));
    const composeCommands = host.commands.slice(loggedIn, removed).filter((c) => c.args[1] === 'compose');
    expect(composeCommands.map((c) => composeCall(c).rest[0])).toEqual(['config', 'config', 'pull', 'up']);
    for (const command of composeCommands) expect(command.env).toEqual({ DOCKER_CONFIG: session });
  });

  it('re-deploys over a running release: a new release is made and applied even when nothing changed, and the oldest beyond keep-releases is removed', async () => {
    const { host, state, releases } = composeHost({ releases: ['r1', 'r2'], leftovers: [`${BASE}/${REGISTRY_CONFIG_PREFIX}Xy12`] });
    const { log, lines } = recordingLog();
    const result = await composeUpRemote(host, plan(), log);
    host.verify();

    expect(result).toMatchObject({ ok: true, release: 'r3', previousRelease: 'r2', rolledBack: false });
    expect(state.current).toBe('r3');
    expect([...releases].sort()).toEqual(['r2', 'r3']);
    expect(host.ran('rm', '-rf', '--').map((c) => c.args)).toEqual([['rm', '-rf', '--', `${RELEASES}/r1`]]);
    expect(lines).toContain('Removed old releases r1');
    // A login an interrupted run left behind is swept first, before this run makes its own.
    const sweep = indexOf(host, ['sh', '-c']);
    expect(host.commands[sweep].args.slice(3)).toEqual(['sh', BASE, REGISTRY_CONFIG_PREFIX]);
    expect(sweep).toBeLessThan(indexOf(host, ['mktemp']));
    expect(lines).toContain(`warning: deploy@h1:22: removed 1 file(s) an interrupted deployment left: ${BASE}/${REGISTRY_CONFIG_PREFIX}Xy12`);
  });

  it('puts the previous release back when compose up --wait fails, and leaves current on it', async () => {
    const { host, state, releases } = composeHost({
      releases: ['r1', 'r2'],
      up: (release) => (release === 'r3' ? { exitCode: 1, stderr: 'container shop-app-1 is unhealthy\n' } : {}),
    });
    const { log, lines, attached } = recordingLog();
    const result = await composeUpRemote(host, plan(), log);
    host.verify();

    expect(result).toMatchObject({ ok: false, release: 'r3', previousRelease: 'r2', rolledBack: true });
    expect(result.error).toBe('docker compose up failed on deploy@h1:22 (exit code 1):\ncontainer shop-app-1 is unhealthy The previous release r2 is running again.');
    expect(attached).toEqual([{ title: 'Logs of the failing services on deploy@h1:22', text: 'shop-app-1  | listening on :8081\nshop-app-1  | health check failed: 503\n' }]);
    expect(composeCall(host.ran('docker', 'compose').find(isCompose('logs'))!).rest).toEqual(['logs', '--no-color', '--tail', '100', 'app', 'proxy']);

    // r2 applied again from its own files and env file, rebuilt, nothing pulled; current never moved.
    const ups = host.commands.filter(isCompose('up'));
    expect(ups.map(releaseOf)).toEqual(['r3', 'r2']);
    expect(composeCall(ups[1])).toEqual({
      project: 'shop',
      files: [`${RELEASES}/r2/compose.yml`, `${RELEASES}/r2/.slipway/${OVERRIDE_FILE_NAME}`],
      envFile: `${RELEASES}/r2/.slipway/compose.env`,
      rest: ['up', '--detach', '--build', '--remove-orphans', '--wait', '--wait-timeout', '60'],
    });
    expect(host.commands.filter(isCompose('pull')).map(releaseOf)).toEqual(['r3']);
    expect(host.ran('ln')).toEqual([]);
    expect(state.current).toBe('r2');
    expect(state.running).toBe('r2');
    // Nothing is pruned after a failure: the failed release stays for a look.
    expect([...releases].sort()).toEqual(['r1', 'r2', 'r3']);
    // The rollback logs in again, and both sessions are gone.
    expect(host.ran('mktemp')).toHaveLength(2);
    expect(host.ran('rm', '-rf').map((c) => c.args[2])).toEqual([`${BASE}/${REGISTRY_CONFIG_PREFIX}1`, `${BASE}/${REGISTRY_CONFIG_PREFIX}2`]);
    expect(lines).toContain('Previous release r2 is running again on deploy@h1:22');
  });

  it("waits with its own poll on compose before 2.20 and rolls back on an unhealthy container, with that service's logs", async () => {
    const { host, state } = composeHost({ version: '2.17.3', releases: ['r2'], healthy: (release) => release !== 'r3' });
    const { log, attached } = recordingLog();
    const result = await composeUpRemote(host, plan(), log);
    host.verify();

    expect(result).toMatchObject({ ok: false, previousRelease: 'r2', rolledBack: true });
    expect(result.error).toBe('Service(s) app failed: shop-app-1 running, unhealthy. The previous release r2 is running again.');
    const ups = host.commands.filter(isCompose('up'));
    expect(composeCall(ups[0]).rest).toEqual(['up', '--detach', '--remove-orphans']);
    expect(composeCall(host.commands.find(isCompose('logs'))!).rest).toEqual(['logs', '--no-color', '--tail', '100', 'app']);
    expect(attached).toHaveLength(1);
    expect(state.current).toBe('r2');
    expect(state.running).toBe('r2');
  });

  it('says there is nothing to go back to when a first release fails after it started', async () => {
    const { host, state } = composeHost({ up: () => ({ exitCode: 1, stderr: 'port is already allocated\n' }) });
    const result = await composeUpRemote(host, plan(), recordingLog().log);
    host.verify();

    expect(result).toMatchObject({ ok: false, rolledBack: false });
    expect(result.error).toMatch(/port is already allocated There is no previous release to go back to\.$/);
    expect(host.commands.filter(isCompose('up'))).toHaveLength(1);
    expect(state.current).toBeUndefined();
  });

  it('reports a failed rollback as such, with the first failure as the error', async () => {
    const { host, state } = composeHost({ releases: ['r2'], up: () => ({ exitCode: 1, stderr: 'no space left on device\n' }) });
    const { log, lines } = recordingLog();
    const result = await composeUpRemote(host, plan(), log);
    host.verify();

    expect(result).toMatchObject({ ok: false, rolledBack: false, previousRelease: 'r2' });
    expect(result.error).toBe('docker compose up failed on deploy@h1:22 (exit code 1):\nno space left on device');
    expect(lines.filter((line) => line.startsWith('error:'))).toEqual([
      'error: Re-applying the previous release r2 on deploy@h1:22 failed too: docker compose up failed on deploy@h1:22 (exit code 1):\nno space left on device',
    ]);
    expect(state.current).toBe('r2');
  });

  it('changes nothing when the registry refuses the login: no up, no rollback, and the config directory removed', async () => {
    const { host, state } = composeHost({ releases: ['r2'], login: { exitCode: 1, stderr: 'Error response from daemon: Get "https://ghcr.io/v2/": denied: denied\n' } });
    const result = await composeUpRemote(host, plan(), recordingLog().log);
    host.verify();

    expect(result.ok).toBe(false);
    expect(result.rolledBack).toBe(false);
    expect(result.error).toMatch(/^ghcr.io refused the credentials on deploy@h1:22: check the `registry-username` and `registry-password` inputs/);
    expect(result.error).not.toContain('previous release');
    expect(host.ran('docker', 'compose').filter((c) => composeCall(c).rest[0] === 'up')).toEqual([]);
    expect(host.ran('rm', '-rf').map((c) => c.args[2])).toEqual([`${BASE}/${REGISTRY_CONFIG_PREFIX}1`]);
    expect(state.current).toBe('r2');
  });

  it('holds the deploy lock around the whole deployment, as compose-up takes it, and releases it after a failure too', async () => {
    const stateFile = join(workspace, 'github-state');
    writeFileSync(stateFile, '');
    const previousState = process.env.GITHUB_STATE;
    process.env.GITHUB_STATE = stateFile;
    try {
      // The lock's own scripts run for real, by sh on this machine, on a lock in a temporary directory.
      const lockPath = join(workspace, 'host', 'deploy.lock');
      const lockOwner = join(lockPath, 'owner');
      const sh = new LocalShell();
      const heldDuringUp: boolean[] = [];
      const { host } = composeHost({
        releases: ['r2'],
        up: (release) => {
          heldDuringUp.push(existsSync(lockOwner) && readFileSync(lockOwner, 'utf8').startsWith('tok-1\n'));
          return release === 'r3' ? { exitCode: 1, stderr: 'unhealthy\n' } : {};
        },
      });
      host.on({ prefix: ['sh', '-s', '--', lockPath], name: 'the deploy lock' }, (command) => sh.run({ ...command, allowFailure: true }));
      const locks = new RunLocks('deploy-locks', { token: 'tok-1', description: 'run 1' });
      const lines: string[] = [];
      const result = await locks.hold(host, 'h1', lockPath, 60_000, { info: (m) => lines.push(m) }, () => composeUpRemote(host, plan({ remoteDir: BASE }), recordingLog().log));
      host.verify();

      expect(result).toMatchObject({ ok: false, rolledBack: true });
      // Held while the new release went up and while the previous one was put back; gone after.
      expect(heldDuringUp).toEqual([true, true]);
      expect(existsSync(lockPath)).toBe(false);
      const lockCommands = host.commands.map((c, i) => [i, c] as const).filter(([, c]) => c.args[0] === 'sh' && c.args[1] === '-s');
      expect(lockCommands.map(([i]) => i)).toEqual([0, host.commands.length - 1]);
      expect(lines).toEqual([`Deploy lock taken (${lockPath}).`, 'Deploy lock released.']);
    } finally {
      if (previousState === undefined) delete process.env.GITHUB_STATE;
      else process.env.GITHUB_STATE = previousState;
    }
  });
});
