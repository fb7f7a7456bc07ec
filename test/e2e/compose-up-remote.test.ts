/**
 * compose-up on sandbox hosts over SSH, end to end through the committed bundle, with the
 * docker-compose v1 the hosts have: the seeds' two-service stack (a proxy built on the host from an
 * uploaded context, in front of an app image pulled from the authenticated registry) on two hosts;
 * a new app digest through `images`; a release that never becomes healthy rolled back; named
 * volumes kept throughout; and a two-replica swarm stack on a single-node swarm.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArgvWatcher } from './support/argv-watch.js';
import { composeWorkspace, fixtureDir, httpGet, pushAppImage, removeComposeProject } from './support/compose-app.js';
import { deploymentDir, hostAddress, hostDocker } from './support/ec2-deploy.js';
import { docker, exec } from './support/exec.js';
import { filesContaining } from './support/files.js';
import { runAction } from './support/run-action.js';
import { loadSandbox, publishedAt, type Sandbox, type SandboxHost } from './support/sandbox.js';

const project = 'slipway-e2e-remote';
const stack = 'slipway-e2e-stack';
let sandbox: Sandbox;
let hosts: SandboxHost[];
let workspace: string;
let images: { v1: string; v2: string; broken: string };

const releaseBase = (host: SandboxHost) => deploymentDir(host, project);
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function connection(targets: readonly SandboxHost[]): Record<string, string> {
  return {
    hosts: targets.map(hostAddress).join('\n'),
    'ssh-key': readFileSync(sandbox.keys.ed25519, 'utf8'),
    'host-fingerprints': targets.map((h) => h.hostKeyFingerprint).join('\n'),
    'registry-username': sandbox.registry.username,
    'registry-password': sandbox.registry.password,
  };
}

function deploy(inputs: Record<string, string>, targets = hosts) {
  return runAction('compose-up', {
    cwd: workspace,
    inputs: { 'project-name': project, upload: 'proxy/', env: 'GREETING=hello from the env input', 'wait-timeout': '60s', ...connection(targets), ...inputs },
    timeoutMs: 240_000,
  });
}

function container(host: SandboxHost, service: string): string {
  return hostDocker(host, 'ps', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`);
}

/** What the proxy on `host` answers through its published port, at the host's address: the app behind it. */
function throughProxy(host: SandboxHost): string {
  const address = publishedAt(host, hostDocker(host, 'port', container(host, 'proxy'), '8080/tcp'));
  return httpGet(address, '/');
}

function currentRelease(host: SandboxHost): string {
  return readlinkSync(join(releaseBase(host), 'current'));
}

function cleanUp(): void {
  for (const host of hosts) removeComposeProject(host, project);
}

beforeAll(() => {
  sandbox = loadSandbox();
  hosts = sandbox.hosts.slice(0, 2);
  if (hosts.length < 2) throw new Error('these tests need two sandbox hosts (test/sandbox/up.sh --hosts 2)');
  cleanUp();
  workspace = composeWorkspace(sandbox);
  images = {
    v1: pushAppImage(sandbox, 'remote-v1', 'app v1'),
    v2: pushAppImage(sandbox, 'remote-v2', 'app v2'),
    broken: pushAppImage(sandbox, 'remote-broken', 'app v3-broken', { broken: true }),
  };
}, 180_000);

afterAll(() => {
  cleanUp();
});

describe('compose-up (hosts)', () => {
  it('deploys the proxy and app to two hosts, building the proxy on each from the uploaded context', async () => {
    const watcher = new ArgvWatcher().start();
    const result = await deploy({ images: `app=${images.v1}` });
    watcher.stop();
    expect(result.errors).toEqual([]);
    expect(result.exitCode).toBe(0);

    const results = JSON.parse(result.outputs.results) as Array<Record<string, unknown>>;
    expect(results).toHaveLength(2);
    for (const r of results) expect(r).toMatchObject({ ok: true, compose: expect.stringMatching(/^docker-compose 1\./), previousRelease: null, rolledBack: false });
    const services = JSON.parse(result.outputs.services) as Array<Record<string, string>>;
    expect(services.filter((s) => s.service === 'app' && s.health === 'healthy' && s.image === images.v1)).toHaveLength(2);

    for (const host of hosts) {
      expect(throughProxy(host)).toBe('app v1\n');
      // The release: a private directory, current pointing at it, the env file 0600.
      const release = currentRelease(host);
      expect(release).toMatch(/^releases\/\d{8}T\d{6}Z-/);
      const dir = join(releaseBase(host), release);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, '.slipway/compose.env')).mode & 0o777).toBe(0o600);
      expect(existsSync(join(dir, 'proxy/default.conf'))).toBe(true);
      expect(hostDocker(host, 'inspect', '--format', '{{json .Config.Env}}', container(host, 'app'))).toContain('GREETING=hello from the env input');
      // The token: nowhere in the deploy user's files once the step is over.
      expect(filesContaining(host.home, sandbox.registry.password)).toEqual([]);
      // Data for the next tests to find again.
      hostDocker(host, 'exec', container(host, 'app'), 'sh', '-c', `echo kept-on-${host.name} > /data/marker`);
    }
    expect(result.log).not.toContain(sandbox.registry.password);
    expect(watcher.containing(sandbox.registry.password)).toEqual([]);
    // The host keys it met, to pin: the ones the sandbox hosts have.
    expect(result.outputs['host-fingerprints'].split('\n').sort()).toEqual(hosts.map((h) => h.knownHostsLine).sort());
    // In parallel, each host's lines are printed together as one group, titled with its outcome.
    for (const host of hosts) expect(result.raw).toMatch(new RegExp(`^::group::${escape(hostAddress(host))}: release \\S+ is up`, 'm'));
  }, 300_000);

  it('moves the app to a new digest through `images`, leaving the compose file untouched and the volume kept', async () => {
    const userFile = join(workspace, 'compose.yml');
    const before = createHash('sha256').update(readFileSync(userFile)).digest('hex');
    const previous = hosts.map(currentRelease);
    // One host at a time (a rolling deploy): each host's output streams into its own group.
    const result = await deploy({ images: `app=${images.v2}`, 'max-parallel': '1' });
    expect(result.errors).toEqual([]);
    const groups = hosts.map((h) => result.raw.indexOf(`::group::${hostAddress(h)}\n`));
    expect(groups[0]).toBeGreaterThanOrEqual(0);
    expect(groups[1]).toBeGreaterThan(groups[0]);
    expect(createHash('sha256').update(readFileSync(userFile)).digest('hex')).toBe(before);
    const results = JSON.parse(result.outputs.results) as Array<{ previousRelease: string }>;
    hosts.forEach((host, i) => {
      expect(throughProxy(host)).toBe('app v2\n');
      expect(`releases/${results[i].previousRelease}`).toBe(previous[i]);
      expect(currentRelease(host)).not.toBe(previous[i]);
      const dir = join(releaseBase(host), currentRelease(host));
      expect(readFileSync(join(dir, '.slipway/slipway-images.override.yml'), 'utf8')).toContain(images.v2);
      expect(readFileSync(join(dir, 'compose.yml'), 'utf8')).toBe(readFileSync(userFile, 'utf8'));
      expect(hostDocker(host, 'exec', container(host, 'app'), 'cat', '/data/marker')).toBe(`kept-on-${host.name}`);
    });
  }, 300_000);

  it('fails on a release that never becomes healthy, prints its logs, and runs the previous release again', async () => {
    const good = hosts.map(currentRelease);
    const result = await deploy({ images: `app=${images.broken}`, 'wait-timeout': '45s' });
    expect(result.exitCode).toBe(1);
    expect(result.errors.join('\n')).toMatch(/Service\(s\) app failed: \S+ running, unhealthy/);
    expect(result.errors.join('\n')).toContain('is running again');
    expect(result.log).toContain('app v3-broken: this build never starts its web server');
    // Those logs, in a group of their own for each host.
    for (const host of hosts) expect(result.raw).toContain(`::group::Logs of the failing services on ${hostAddress(host)}`);
    const results = JSON.parse(result.outputs.results) as Array<Record<string, unknown>>;
    for (const r of results) expect(r).toMatchObject({ ok: false, rolledBack: true });
    hosts.forEach((host, i) => {
      expect(currentRelease(host)).toBe(good[i]);
      expect(throughProxy(host)).toBe('app v2\n');
      expect(hostDocker(host, 'exec', container(host, 'app'), 'cat', '/data/marker')).toBe(`kept-on-${host.name}`);
    });
  }, 300_000);

  it("releases its deploy lock after every deployment, and waits for another run's lock, then fails naming it", async () => {
    const host = hosts[0];
    const lock = join(releaseBase(host), 'deploy.lock');
    expect(existsSync(lock)).toBe(false);
    const before = currentRelease(host);
    // Another run holds the lock, as DeployLock writes it: its token, expiry (epoch seconds) and who.
    mkdirSync(lock);
    writeFileSync(join(lock, 'owner'), `another-run\n${Math.floor(Date.now() / 1000) + 3600}\nhttps://github.com/o/r/actions/runs/1 (attempt 1)\n`);
    try {
      const result = await deploy({ images: `app=${images.v1}`, 'lock-timeout': '3s' }, [host]);
      expect(result.exitCode).toBe(1);
      expect(result.errors.join('\n')).toContain('another deployment holds the deploy lock (https://github.com/o/r/actions/runs/1 (attempt 1))');
      // Nothing was changed on the host: the same release runs, and the other run's lock is untouched.
      expect(currentRelease(host)).toBe(before);
      expect(throughProxy(host)).toBe('app v2\n');
      expect(readFileSync(join(lock, 'owner'), 'utf8')).toMatch(/^another-run\n/);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('compose-up (swarm)', () => {
  let host: SandboxHost;
  let initialised = false;

  beforeAll(() => {
    host = sandbox.hosts[sandbox.hosts.length - 1];
    const state = hostDocker(host, 'info', '--format', '{{.Swarm.LocalNodeState}}');
    if (state !== 'active') {
      hostDocker(host, 'swarm', 'init', '--advertise-addr', host.address);
      initialised = true;
    }
    cpSync(join(fixtureDir, 'stack.yml'), join(workspace, 'stack.yml'));
  }, 60_000);

  afterAll(() => {
    docker(host.dockerHost, 'stack', 'rm', stack);
    if (initialised) docker(host.dockerHost, 'swarm', 'leave', '--force');
    exec(['rm', '-rf', join(host.home, 'slipway', stack)]);
  });

  it('deploys a stack on a single-node swarm and waits until both replicas run', async () => {
    const result = await runAction('compose-up', {
      cwd: workspace,
      inputs: { ...connection([host]), mode: 'swarm', 'project-name': stack, 'compose-files': 'stack.yml', images: `app=${images.v1}`, env: 'GREETING=swarm', 'wait-timeout': '90s' },
      timeoutMs: 240_000,
    });
    expect(result.errors).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(result.log).toContain(`docker stack deploy ${stack}`);
    const services = JSON.parse(result.outputs.services) as Array<Record<string, string>>;
    expect(services).toEqual([expect.objectContaining({ service: `${stack}_app`, image: images.v1, state: '2/2 replicas' })]);
    expect(hostDocker(host, 'service', 'ls', '--filter', `name=${stack}_app`, '--format', '{{.Replicas}}')).toBe('2/2');
    const tasks = hostDocker(host, 'ps', '-q', '--filter', `label=com.docker.swarm.service.name=${stack}_app`).split('\n');
    expect(tasks).toHaveLength(2);
    expect(hostDocker(host, 'inspect', '--format', '{{json .Config.Env}}', tasks[0])).toContain('GREETING=swarm');
  }, 300_000);
});
