/**
 * Upgrading ec2-deploy keeps what hosts already have: a host deployed by the release before the
 * host-side program (its committed bundle, taken from git) keeps its history, its lock and its
 * rollback when the current bundle deploys there next. The old run is killed mid-deploy, so the
 * host holds the old run's lock and its previous container set aside, the hardest state to inherit.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker, exec, mustExec } from './support/exec.js';
import { connectionInputs, ec2Deploy, hostAddress, hostDocker, pushAppImage, served, type AppImage } from './support/ec2-deploy.js';
import { repoRoot } from './support/run-action.js';
import { loadSandbox, type Sandbox, type SandboxHost } from './support/sandbox.js';

jest.setTimeout(300_000);

/**
 * The last commit whose ec2-deploy ran its host-side steps one SSH exec at a time. A clone without
 * it (a shallow one) cannot run this test: clone with full history, as `.ci/run` does.
 */
const PREVIOUS_RELEASE = '4ba3f2cc1880b73a5d6a8736a09af1cec43181cd';

const name = 'slipway-upgrade-app';
let sandbox: Sandbox;
let host: SandboxHost;
let images: { v1: AppImage; v2: AppImage };
let previousAction: string;

const deployDir = () => join(host.home, '.slipway/ec2-deploy', name);
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
  exec(['rm', '-rf', deployDir()]);
}

beforeAll(() => {
  sandbox = loadSandbox();
  host = sandbox.hosts[1];
  // The earlier release as a user's workflow pinned to it runs it: its action.yml and committed bundle.
  previousAction = mkdtempSync(join(tmpdir(), 'slipway-previous-ec2-deploy-'));
  mkdirSync(join(previousAction, 'dist'));
  for (const file of ['action.yml', 'dist/index.js']) {
    writeFileSync(join(previousAction, file), mustExec(['git', '-C', repoRoot, 'show', `${PREVIOUS_RELEASE}:actions/ec2-deploy/${file}`]));
  }
  cleanUp();
  images = { v1: pushAppImage(sandbox, 'upgrade-v1', 'app v1'), v2: pushAppImage(sandbox, 'upgrade-v2', 'app v2') };
}, 180_000);

afterAll(() => {
  cleanUp();
  if (previousAction) rmSync(previousAction, { recursive: true, force: true });
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
});
