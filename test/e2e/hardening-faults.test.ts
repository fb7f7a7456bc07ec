/**
 * Hardening: ec2-deploy against real faults on sandbox host h3 (the one other tests leave alone),
 * injected with the sandbox's own scripts: sshd gone mid-deploy, the registry down or answering
 * errors, the host's Docker engine stopped, hosts unreachable at connect, a lock left by a killed
 * run, and the release directory on a read-only filesystem. After each, the sandbox is put back.
 * Each time the host keeps (or gets back) its previous release, the step fails naming the host,
 * and no secret shows up in the log, in any process's argv or in a file left on the host.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArgvWatcher } from './support/argv-watch.js';
import { docker, exec, mustExec } from './support/exec.js';
import { countingListener, deploymentDir, ec2Deploy, hostAddress, hostDocker, pushAppImage, removeDeploymentDir, served, type AppImage } from './support/ec2-deploy.js';
import { erroringRegistry, faultHost, filesLeftOnHost, killActionRun, killSshSessions, sandboxScript, secretLeaks, silentListener, waitFor } from './support/hardening.js';
import type { ActionResult } from './support/run-action.js';
import type { Sandbox, SandboxHost } from './support/sandbox.js';

jest.setTimeout(240_000);

const name = 'slipway-hardening-faults';
const volume = 'slipway-hardening-faults-data';
let sandbox: Sandbox;
let host: SandboxHost;
let index: string;
let label: string;
let images: { v1: AppImage; v2: AppImage; v3: AppImage };
const watcher = new ArgvWatcher();
const results: ActionResult[] = [];

const deployDir = () => deploymentDir(host, name);
const lockDir = () => join(deployDir(), 'deploy.lock');

function cleanUp(): void {
  docker(host.dockerHost, 'rm', '-f', name, `${name}-slipway-previous`);
  docker(host.dockerHost, 'volume', 'rm', volume);
  removeDeploymentDir(host, name);
}

/** Inputs of every deployment here: the passphrase-protected key, the private registry, h3 pinned. */
function inputs(image: AppImage | string | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return {
    hosts: label,
    'ssh-key': readFileSync(sandbox.keys.ed25519Passphrase.path, 'utf8'),
    'ssh-key-passphrase': sandbox.keys.ed25519Passphrase.passphrase,
    'host-fingerprints': host.knownHostsLine,
    ...(image ? { image: typeof image === 'string' ? image : image.ref } : {}),
    'registry-username': sandbox.registry.username,
    'registry-password': sandbox.registry.password,
    name,
    ports: '8080',
    volumes: `${volume}:/data`,
    env: 'GREETING=hello from the hardening suite',
    'run-args': '--init',
    ...extra,
  };
}

async function deploy(input: Record<string, string>, options: Parameters<typeof ec2Deploy>[1] = {}): Promise<ActionResult> {
  const result = await ec2Deploy(input, options);
  results.push(result);
  return result;
}

function resultOf(result: ActionResult): Record<string, unknown>[] {
  return JSON.parse(result.outputs.results) as Record<string, unknown>[];
}

/** The image the container `name` was deployed as, and its state. */
function running(): string {
  return hostDocker(host, 'inspect', '--format', '{{index .Config.Labels "slipway.image"}} {{.State.Status}}', name);
}

function volumeStarts(): string[] {
  return hostDocker(host, 'run', '--rm', '-v', `${volume}:/data`, sandbox.baseImage, 'cat', '/data/starts').split('\n');
}

beforeAll(async () => {
  ({ sandbox, host, index } = faultHost());
  label = hostAddress(host);
  // Whatever an earlier, interrupted run of this file left broken: put back.
  sandboxScript('host.sh', 'start-sshd', index);
  sandboxScript('host.sh', 'start-docker', index);
  sandboxScript('registry.sh', 'start');
  exec(['umount', deployDir()]);
  cleanUp();
  images = {
    v1: pushAppImage(sandbox, 'hardening-v1', 'hardening v1', { healthcheck: true }),
    v2: pushAppImage(sandbox, 'hardening-v2', 'hardening v2'),
    v3: pushAppImage(sandbox, 'hardening-v3', 'hardening v3'),
  };
  watcher.start();
  // The release every fault below must leave in place.
  const first = await deploy(inputs(images.v1));
  expect(first.errors).toEqual([]);
  expect(served(host, name)).toBe('hardening v1');
}, 240_000);

afterAll(() => {
  watcher.stop();
  if (!host) return;
  sandboxScript('host.sh', 'start-sshd', index);
  sandboxScript('host.sh', 'start-docker', index);
  sandboxScript('registry.sh', 'start');
  exec(['umount', deployDir()]);
  cleanUp();
});

describe('hardening: faults (ec2-deploy on h3)', () => {
  it('sshd gone mid-deploy: the step fails naming the host, fail-fast skips the rest, the post step puts the previous release back', async () => {
    const other = await countingListener();
    let result: ActionResult;
    try {
      // The new container's health check takes a while: long enough to cut the host off during it.
      const deploying = deploy(
        inputs(images.v2, {
          hosts: `${label}\ndeploy1@127.0.0.1:${other.port}`,
          'max-parallel': '1',
          'health-cmd': 'sleep 5',
          'connect-retries': '2',
          'connect-timeout': '3s',
        }),
      );
      await waitFor('the new container to start', () => docker(host.dockerHost, 'container', 'inspect', `${name}-slipway-previous`).status === 0);
      sandboxScript('host.sh', 'stop-sshd', index);
      expect(killSshSessions(host.user)).toBeGreaterThan(0);
      result = await deploying;

      expect(result.exitCode).toBe(1);
      const [r3, skipped] = resultOf(result);
      expect(r3).toMatchObject({ host: label, ok: false });
      expect(String(r3.error)).toMatch(/connection/i);
      expect(String(r3.error)).toContain(`${images.v1.ref} is kept as ${name}-slipway-previous`);
      expect(result.errors.join('\n')).toContain(label);
      // fail-fast: the host after it was never contacted.
      expect(skipped).toMatchObject({ ok: false, error: 'skipped: an earlier host failed (fail-fast)' });
      expect(other.connections()).toBe(0);
      // The previous release is still on the host, set aside with its volume, not removed.
      expect(hostDocker(host, 'inspect', '--format', '{{index .Config.Labels "slipway.image"}}', `${name}-slipway-previous`)).toBe(images.v1.ref);
    } finally {
      await other.close();
      sandboxScript('host.sh', 'start-sshd', index);
    }

    // The lock could not be released over the lost connection: the post step, which the runner
    // runs even after a failure, connects again, puts the set-aside release back and releases it.
    expect(existsSync(lockDir())).toBe(true);
    const post = await deploy(inputs(images.v2), { state: result.state });
    expect(post.errors).toEqual([]);
    expect(post.log).toContain(`${name}-slipway-previous was left by an interrupted deployment: restoring it as ${name}`);
    expect(post.log).toContain(`${label}: deploy lock released.`);
    expect(existsSync(lockDir())).toBe(false);
    expect(running()).toBe(`${images.v1.ref} running`);

    // The next deployment (here: of the previous image again) finds the host as it was before.
    const next = await deploy(inputs(images.v1));
    expect(next.errors).toEqual([]);
    expect(next.log).not.toContain('left by an interrupted deployment');
    expect(running()).toBe(`${images.v1.ref} running`);
    expect(served(host, name)).toBe('hardening v1');
    expect(docker(host.dockerHost, 'container', 'inspect', `${name}-slipway-previous`).status).not.toBe(0);
    expect(volumeStarts()[0]).toBe('hardening v1');
    // Nothing the cut-off run wrote is left: no env file, no DOCKER_CONFIG.
    expect(readdirSync(deployDir()).sort()).toEqual(['deploy.lock.guard', 'releases.jsonl']);
  });

  it('registry down during the pull: fails naming the host and the registry, the running release untouched', async () => {
    sandboxScript('registry.sh', 'stop');
    let result: ActionResult;
    try {
      result = await deploy(inputs(images.v3));
    } finally {
      sandboxScript('registry.sh', 'start');
    }
    expect(result.exitCode).toBe(1);
    expect(resultOf(result)[0]).toMatchObject({ host: label, ok: false, rolledBack: false });
    const error = result.errors.join('\n');
    expect(error).toContain(label);
    expect(error).toContain(sandbox.registry.host);
    expect(running()).toBe(`${images.v1.ref} running`);
    expect(served(host, name)).toBe('hardening v1');
    // The lock was released all the same, and no DOCKER_CONFIG is left.
    expect(existsSync(lockDir())).toBe(false);
    expect(
      mustExec(['ls', '-A', deployDir()])
        .split('\n')
        .filter((f) => f.startsWith('slipway-docker-')),
    ).toEqual([]);
  });

  it('registry answering 503 during the pull: fails naming the host, the running release untouched', async () => {
    const registry = await erroringRegistry(sandbox);
    let result: ActionResult;
    try {
      result = await deploy(inputs(`${registry.host}/slipway-tests/ec2-app:v1`, { 'registry-username': '', 'registry-password': '' }));
    } finally {
      await registry.close();
    }
    expect(registry.count()).toBeGreaterThan(0);
    expect(result.exitCode).toBe(1);
    expect(resultOf(result)[0]).toMatchObject({ host: label, ok: false, rolledBack: false });
    expect(result.errors.join('\n')).toContain(label);
    expect(result.errors.join('\n')).toMatch(/503|Service Unavailable/);
    // A registry answering as a busy one does is tried again, with backoff, before giving up.
    const ref = `${registry.host}/slipway-tests/ec2-app:v1`;
    expect(result.log).toContain(`${label}: pull of ${ref} failed (attempt 1 of 3), trying again in 2s`);
    expect(result.log).toContain(`${label}: pull of ${ref} failed (attempt 2 of 3), trying again in 4s`);
    expect(running()).toBe(`${images.v1.ref} running`);
  });

  it('Docker engine stopped: fails naming the host and saying the engine does not answer', async () => {
    sandboxScript('host.sh', 'stop-docker', index);
    let result: ActionResult;
    try {
      result = await deploy(inputs(images.v2));
    } finally {
      sandboxScript('host.sh', 'start-docker', index);
    }
    expect(result.exitCode).toBe(1);
    expect(resultOf(result)[0]).toMatchObject({ host: label, ok: false, rolledBack: false });
    expect(result.errors.join('\n')).toContain(label);
    expect(result.errors.join('\n')).toContain('Cannot connect to the Docker daemon');
    expect(existsSync(lockDir())).toBe(false);
    // The engine back, its restart policy brings the previous release back up.
    await waitFor('the container to run again', () => docker(host.dockerHost, 'inspect', '--format', '{{.State.Status}}', name).stdout.trim() === 'running');
    expect(running()).toBe(`${images.v1.ref} running`);
  });

  it('hosts unreachable at connect: retries with backoff, then a clear error per host', async () => {
    const silent = await silentListener(19432);
    sandboxScript('host.sh', 'stop-sshd', index);
    let result: ActionResult;
    try {
      result = await deploy(
        inputs(images.v2, {
          hosts: `${label}\ndeploy1@127.0.0.1:${silent.port}`,
          'host-fingerprints': `${host.knownHostsLine}\n${sandbox.hosts[0].hostKeyFingerprint}`,
          'connect-timeout': '2s',
          'connect-retries': '2',
        }),
      );
    } finally {
      await silent.close();
      sandboxScript('host.sh', 'start-sshd', index);
    }
    expect(result.exitCode).toBe(1);
    const [refused, hanging] = resultOf(result);
    expect(refused).toMatchObject({ host: label, ok: false });
    expect(hanging).toMatchObject({ host: `deploy1@127.0.0.1:${silent.port}`, ok: false });
    expect(result.log).toContain(`${label}: connection attempt 1 of 2 failed`);
    expect(result.log).toContain(`deploy1@127.0.0.1:${silent.port}: connection attempt 1 of 2 failed`);
    expect(String(refused.error)).toContain('ECONNREFUSED');
    expect(String(hanging.error)).toContain('SSH handshake timed out after 2s');
    expect(silent.count()).toBe(2);
    expect(running()).toBe(`${images.v1.ref} running`);
  });

  it('a lock left by a killed run: a second run fails clearly while it is valid, and takes it over once expired', async () => {
    // A run killed (SIGKILL, as a lost runner) while its new container fails the health check: no post step.
    const runId = 61001;
    const killed = deploy(inputs(images.v2, { 'health-cmd': 'false', 'health-timeout': '10m' }), { runId });
    await waitFor('the killed run to start its container', () => docker(host.dockerHost, 'inspect', '--format', '{{index .Config.Labels "slipway.image"}}', name).stdout.trim() === images.v2.ref);
    expect(killActionRun(runId).length).toBeGreaterThan(0);
    expect((await killed).exitCode).not.toBe(0);
    expect(existsSync(join(lockDir(), 'owner'))).toBe(true);
    const owner = readFileSync(join(lockDir(), 'owner'), 'utf8').split('\n');
    expect(owner[2]).toContain(`https://github.com/slipway-tests/app/actions/runs/${runId}`);

    const blocked = await deploy(inputs(images.v2, { 'lock-timeout': '2s' }));
    expect(blocked.exitCode).toBe(1);
    const error = blocked.errors.join('\n');
    expect(error).toContain(label);
    expect(error).toContain(`another deployment holds the deploy lock (https://github.com/slipway-tests/app/actions/runs/${runId} (attempt 1)`);
    expect(error).toContain(`expires at ${new Date(Number(owner[1]) * 1000).toISOString()}`);

    // Time passes on the host (LOCK_EXPIRY): the expiry is moved into the past, as the clock would.
    writeFileSync(join(lockDir(), 'owner'), [owner[0], String(Math.floor(Date.now() / 1000) - 1), owner[2], ''].join('\n'));
    const next = await deploy(inputs(images.v2));
    expect(next.errors).toEqual([]);
    expect(next.log).toContain(`Took over an expired deploy lock from https://github.com/slipway-tests/app/actions/runs/${runId}`);
    expect(next.log).toContain(`restoring it as ${name}`);
    expect(resultOf(next)[0]).toMatchObject({ ok: true, image: images.v2.ref, previousImage: images.v1.ref });
    expect(served(host, name)).toBe('hardening v2');
    expect(existsSync(lockDir())).toBe(false);
  });

  it('the release directory on a read-only filesystem: fails naming the host and the path, the running release untouched', async () => {
    const dir = deployDir();
    mustExec(['mount', '--bind', dir, dir]);
    let result: ActionResult;
    try {
      mustExec(['mount', '-o', 'remount,bind,ro', dir]);
      result = await deploy(inputs(images.v3));
    } finally {
      exec(['umount', dir]);
    }
    expect(result.exitCode).toBe(1);
    expect(resultOf(result)[0]).toMatchObject({ host: label, ok: false, rolledBack: false });
    const error = result.errors.join('\n');
    expect(error).toContain(label);
    expect(error).toContain('Read-only file system');
    expect(error).toContain(dir);
    expect(running()).toBe(`${images.v2.ref} running`);
    expect(served(host, name)).toBe('hardening v2');
  });

  it('left no secret in any log, argv or file on the host', () => {
    watcher.stop();
    expect(results.length).toBeGreaterThanOrEqual(9);
    expect(watcher.count).toBeGreaterThan(50);
    const files = filesLeftOnHost(host, sandbox.stateDir);
    expect(files.length).toBeGreaterThan(0);
    expect(secretLeaks(sandbox, results, watcher, files)).toEqual([]);
    // No env file or DOCKER_CONFIG outlived its deployment, whatever the faults.
    expect(readdirSync(deployDir()).filter((f) => /^(env-|slipway-docker-)/.test(f))).toEqual([]);
  });
});
