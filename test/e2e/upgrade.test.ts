/**
 * Upgrading keeps what hosts already have: a host deployed by an earlier release (its committed
 * bundle, taken from git, as a workflow pinned to it runs it) keeps its history, its lock and its
 * rollback when the current bundle deploys there next. The old run is killed mid-deploy, so the
 * host holds the old run's lock (and, for ec2-deploy, its previous container set aside): the
 * hardest state to inherit.
 *
 * - ec2-deploy from the release before its host-side program, which kept its files in
 *   `~/.slipway/ec2-deploy/<name>`, since moved to `~/slipway/<name>` (host/layout.ts).
 * - compose-up from the release before its host-side program.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker, mustExec } from './support/exec.js';
import { composeWorkspace, httpGet, pushAppImage as pushComposeAppImage, removeComposeProject } from './support/compose-app.js';
import { connectionInputs, deploymentDir, ec2Deploy, hostAddress, hostDocker, legacyDeploymentDir, pushAppImage, removeDeploymentDir, served, type AppImage } from './support/ec2-deploy.js';
import { repoRoot, runAction, type ActionResult } from './support/run-action.js';
import { loadSandbox, publishedAt, type Sandbox, type SandboxHost } from './support/sandbox.js';

jest.setTimeout(300_000);

/**
 * The last commits whose ec2-deploy and compose-up ran their host-side steps one SSH exec at a time.
 * A clone without them (a shallow one) cannot run these tests: clone with full history, as `.ci/run` does.
 */
const PREVIOUS_EC2_DEPLOY = '4ba3f2cc1880b73a5d6a8736a09af1cec43181cd';
const PREVIOUS_COMPOSE_UP = 'd7b7e1682c8e50e66d94356800f96c470c273226';

const name = 'slipway-upgrade-app';
let sandbox: Sandbox;
let host: SandboxHost;
let images: { v1: AppImage; v2: AppImage };
let previousAction: string;
const previousActions: string[] = [];

/** An earlier release of `action` as a user's workflow pinned to it runs it: its action.yml and committed bundle. */
function previousRelease(commit: string, action: string): string {
  const dir = mkdtempSync(join(tmpdir(), `slipway-previous-${action}-`));
  previousActions.push(dir);
  mkdirSync(join(dir, 'dist'));
  for (const file of ['action.yml', 'dist/index.js']) {
    writeFileSync(join(dir, file), mustExec(['git', '-C', repoRoot, 'show', `${commit}:actions/${action}/${file}`]));
  }
  return dir;
}

// Where the earlier release kept the files, still the real directory after the upgrade.
const deployDir = () => legacyDeploymentDir(host, name);
const history = () =>
  readFileSync(join(deployDir(), 'releases.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { action: string; image: string; result: string; previousImage?: string });

function inputs(image: AppImage | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...connectionInputs(sandbox, [host]),
    ...(image ? { image: image.ref } : {}),
    'registry-username': sandbox.registry.username,
    'registry-password': sandbox.registry.password,
    name,
    // 18081: off the ports of the demo (8080) and of ec2-deploy.test.ts (18080).
    ports: '18081:8080',
    'run-args': '--init',
    'keep-releases': '5',
    ...extra,
  };
}

function cleanUp(): void {
  docker(host.dockerHost, 'rm', '-f', name, `${name}-slipway-previous`);
  removeDeploymentDir(host, name);
}

beforeAll(() => {
  sandbox = loadSandbox();
  host = sandbox.hosts[1];
  previousAction = previousRelease(PREVIOUS_EC2_DEPLOY, 'ec2-deploy');
  cleanUp();
  images = { v1: pushAppImage(sandbox, 'upgrade-v1', 'app v1'), v2: pushAppImage(sandbox, 'upgrade-v2', 'app v2') };
}, 180_000);

afterAll(() => {
  cleanUp();
  for (const dir of previousActions) rmSync(dir, { recursive: true, force: true });
});

describe('upgrading ec2-deploy from the release before the host-side program', () => {
  it('keeps the old release’s history, lock and rollback', async () => {
    const old = await ec2Deploy(inputs(images.v1), { actionDir: previousAction });
    expect(old.errors).toEqual([]);
    expect(served(host, name)).toBe('app v1');

    // The old release killed while it waits for a health check that never passes: its lock is held,
    // v1 is set aside as <name>-slipway-previous, and v2 runs unproven in its place.
    const killed = await ec2Deploy(inputs(images.v2, { 'health-cmd': 'false', 'health-timeout': '10m' }), { actionDir: previousAction, timeoutMs: 25_000 });
    expect(killed.exitCode).not.toBe(0);
    expect(existsSync(join(deployDir(), 'deploy.lock'))).toBe(true);

    // The new release respects the old run's lock...
    const blocked = await ec2Deploy(inputs(images.v2, { 'lock-timeout': '3s' }));
    expect(blocked.exitCode).toBe(1);
    expect(blocked.errors.join('\n')).toContain('another deployment holds the deploy lock (https://github.com/slipway-tests/app/actions/runs/');
    expect(hostDocker(host, 'container', 'inspect', '--format', '{{.Name}}', `${name}-slipway-previous`)).toBe(`/${name}-slipway-previous`);

    // ...which the old run's post step releases, putting v1 back, as before.
    const post = await ec2Deploy(inputs(images.v2), { actionDir: previousAction, state: killed.state });
    expect(post.errors).toEqual([]);
    expect(existsSync(join(deployDir(), 'deploy.lock'))).toBe(false);
    expect(served(host, name)).toBe('app v1');

    // The new release deploys over the old one's container and continues its history.
    const upgraded = await ec2Deploy(inputs(images.v2));
    expect(upgraded.errors).toEqual([]);
    expect((JSON.parse(upgraded.outputs.results) as unknown[])[0]).toMatchObject({ ok: true, image: images.v2.ref, previousImage: images.v1.ref });
    expect(served(host, name)).toBe('app v2');
    // The directory stays where the old release made it, the shared layout's path a link to it.
    expect(readlinkSync(deploymentDir(host, name))).toBe(`../.slipway/ec2-deploy/${name}`);
    expect(lstatSync(deployDir()).isDirectory()).toBe(true);
    expect(realpathSync(deploymentDir(host, name))).toBe(realpathSync(deployDir()));
    expect(history().map((r) => [r.action, r.image, r.result])).toEqual([
      ['deploy', images.v1.ref, 'ok'],
      ['deploy', images.v2.ref, 'ok'],
    ]);

    // And rolls back to the release the old one made.
    const rolledBack = await ec2Deploy(inputs(undefined, { rollback: 'true' }));
    expect(rolledBack.errors).toEqual([]);
    expect(rolledBack.log).toContain(`Rolling back from ${images.v2.ref} to ${images.v1.ref}`);
    expect(served(host, name)).toBe('app v1');
    expect(history().at(-1)).toMatchObject({ action: 'rollback', image: images.v1.ref, result: 'ok', previousImage: images.v2.ref });
    expect(hostAddress(host)).toBe((JSON.parse(rolledBack.outputs.results) as { host: string }[])[0].host);
  });

  it('keeps to the old directory when a compose project of the same name already has ~/slipway/<name>', async () => {
    cleanUp();
    const old = await ec2Deploy(inputs(images.v1), { actionDir: previousAction });
    expect(old.errors).toEqual([]);
    // What compose-up left for a project of this name before the layout was shared: a real directory.
    const composeDir = deploymentDir(host, name);
    for (const dir of [join(host.home, 'slipway'), composeDir, join(composeDir, 'releases')]) mustExec(['install', '-d', '-o', host.user, dir]);

    const upgraded = await ec2Deploy(inputs(images.v2));
    expect(upgraded.errors).toEqual([]);
    expect((JSON.parse(upgraded.outputs.results) as unknown[])[0]).toMatchObject({ ok: true, image: images.v2.ref, previousImage: images.v1.ref });
    expect(history().map((r) => [r.action, r.image, r.result])).toEqual([
      ['deploy', images.v1.ref, 'ok'],
      ['deploy', images.v2.ref, 'ok'],
    ]);

    const rolledBack = await ec2Deploy(inputs(undefined, { rollback: 'true' }));
    expect(rolledBack.errors).toEqual([]);
    expect(served(host, name)).toBe('app v1');
    // The compose project's directory is as it was: no history, no lock, not made a link.
    expect(lstatSync(composeDir).isDirectory()).toBe(true);
    expect(readdirSync(composeDir)).toEqual(['releases']);
  });
});

describe('upgrading compose-up from the release before its host-side program', () => {
  const project = 'slipway-upgrade-stack';
  let workspace: string;
  let previousComposeUp: string;
  let stack: { v1: string; v2: string; broken: string };

  const base = () => deploymentDir(host, project);
  const current = () => readlinkSync(join(base(), 'current')).replace(/^releases\//, '');
  const containerOf = (service: string) => hostDocker(host, 'ps', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`);
  const throughProxy = () => httpGet(publishedAt(host, hostDocker(host, 'port', containerOf('proxy'), '8080/tcp')), '/');

  function composeUp(image: string, options: { actionDir?: string; state?: Record<string, string>; timeoutMs?: number; extra?: Record<string, string>; cwd?: string } = {}): Promise<ActionResult> {
    return runAction('compose-up', {
      cwd: options.cwd ?? workspace,
      actionDir: options.actionDir,
      state: options.state,
      timeoutMs: options.timeoutMs ?? 240_000,
      inputs: {
        hosts: hostAddress(host),
        'ssh-key': readFileSync(sandbox.keys.ed25519, 'utf8'),
        'host-fingerprints': host.hostKeyFingerprint,
        'registry-username': sandbox.registry.username,
        'registry-password': sandbox.registry.password,
        'project-name': project,
        upload: 'proxy/',
        images: `app=${image}`,
        'wait-timeout': '60s',
        ...options.extra,
      },
    });
  }

  beforeAll(() => {
    previousComposeUp = previousRelease(PREVIOUS_COMPOSE_UP, 'compose-up');
    workspace = composeWorkspace(sandbox);
    removeComposeProject(host, project);
    stack = {
      v1: pushComposeAppImage(sandbox, 'upgrade-v1', 'stack v1'),
      v2: pushComposeAppImage(sandbox, 'upgrade-v2', 'stack v2'),
      broken: pushComposeAppImage(sandbox, 'upgrade-broken', 'stack broken', { broken: true }),
    };
  }, 180_000);

  afterAll(() => {
    removeComposeProject(host, project);
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it('keeps the old release’s lock and its releases, and goes back to the one it made', async () => {
    const old = await composeUp(stack.v1, { actionDir: previousComposeUp });
    expect(old.errors).toEqual([]);
    expect(throughProxy()).toBe('stack v1\n');
    const oldRelease = current();
    hostDocker(host, 'exec', containerOf('app'), 'sh', '-c', 'echo kept > /data/marker');

    // The old release killed while it waits for a release that never becomes healthy (failing checks
    // count only after a start period of 10 minutes, so it waits): its lock is held.
    const slowStart = composeWorkspace(sandbox);
    const file = join(slowStart, 'compose.yml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('      retries: 3\n', '      retries: 3\n      start_period: 600s\n'));
    expect(readFileSync(file, 'utf8')).toContain('start_period: 600s');
    const killed = await composeUp(stack.broken, { actionDir: previousComposeUp, cwd: slowStart, timeoutMs: 45_000, extra: { 'wait-timeout': '10m' } });
    rmSync(slowStart, { recursive: true, force: true });
    expect(killed.exitCode).not.toBe(0);
    expect(existsSync(join(base(), 'deploy.lock'))).toBe(true);

    // The new release respects the old run's lock...
    const blocked = await composeUp(stack.v2, { extra: { 'lock-timeout': '3s' } });
    expect(blocked.exitCode).toBe(1);
    expect(blocked.errors.join('\n')).toContain('another deployment holds the deploy lock (https://github.com/slipway-tests/app/actions/runs/');

    // ...which the old run's post step releases.
    const post = await composeUp(stack.broken, { actionDir: previousComposeUp, state: killed.state });
    expect(post.errors).toEqual([]);
    expect(existsSync(join(base(), 'deploy.lock'))).toBe(false);

    // A failing release of the new one goes back to the release the old one made, the volume kept.
    const failed = await composeUp(stack.broken, { extra: { 'wait-timeout': '20s' } });
    expect(failed.exitCode).toBe(1);
    expect(failed.errors.join('\n')).toContain('is running again');
    expect((JSON.parse(failed.outputs.results) as unknown[])[0]).toMatchObject({ ok: false, rolledBack: true, previousRelease: oldRelease });
    expect(current()).toBe(oldRelease);
    expect(throughProxy()).toBe('stack v1\n');

    // And a good one replaces it, naming it as the release before.
    const upgraded = await composeUp(stack.v2);
    expect(upgraded.errors).toEqual([]);
    expect((JSON.parse(upgraded.outputs.results) as unknown[])[0]).toMatchObject({ ok: true, previousRelease: oldRelease });
    expect(throughProxy()).toBe('stack v2\n');
    expect(hostDocker(host, 'exec', containerOf('app'), 'cat', '/data/marker')).toBe('kept');
  });
});
