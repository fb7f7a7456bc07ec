/**
 * ec2-deploy end to end: the committed bundle, run as the runner runs it, deploys app images from
 * the sandbox's authenticated registry to two sandbox hosts over SSH. A first deployment and a new
 * image on both hosts at once; a release that fails its health check, rolled back with its named
 * volume intact; `rollback: true`; two concurrent deployments serialised by the host lock; a main
 * step killed mid-deployment, its lock released by the post step and the host repaired by the next
 * deployment; and the registry token nowhere: not in the log, not in any argv, not in any file left.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArgvWatcher } from './support/argv-watch.js';
import { docker, exec } from './support/exec.js';
import { connectionInputs, deploymentDir, ec2Deploy, hostAddress, hostDocker, logGroups, pushAppImage, removeDeploymentDir, served, type AppImage } from './support/ec2-deploy.js';
import { filesContaining } from './support/files.js';
import { loadSandbox, type Sandbox, type SandboxHost } from './support/sandbox.js';

jest.setTimeout(300_000);

const name = 'slipway-e2e-app';
const volume = 'slipway-e2e-data';
let sandbox: Sandbox;
let hosts: SandboxHost[];
let images: { v1: AppImage; v2: AppImage; broken: AppImage };

const deployDir = (host: SandboxHost) => deploymentDir(host, name);

interface Release {
  time: string;
  action: string;
  image: string;
  result: string;
  durationMs: number;
  previousImage?: string;
}

function history(host: SandboxHost): Release[] {
  const file = join(deployDir(host), 'releases.jsonl');
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Release)
    : [];
}

/** The image reference the container `name` on `host` was deployed as. */
function runningImage(host: SandboxHost): string {
  return hostDocker(host, 'inspect', '--format', '{{index .Config.Labels "slipway.image"}} {{.State.Status}}', name);
}

function volumeStarts(host: SandboxHost): string[] {
  return hostDocker(host, 'run', '--rm', '-v', `${volume}:/data`, sandbox.baseImage, 'cat', '/data/starts').split('\n');
}

function cleanUp(): void {
  for (const host of hosts) {
    docker(host.dockerHost, 'rm', '-f', name, `${name}-slipway-previous`);
    docker(host.dockerHost, 'volume', 'rm', volume);
    removeDeploymentDir(host, name);
  }
}

/** The inputs every deployment here shares: the app's container, from the private registry. */
function deployInputs(targets: readonly SandboxHost[], image: AppImage | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...connectionInputs(sandbox, targets),
    ...(image ? { image: image.ref } : {}),
    'registry-username': sandbox.registry.username,
    'registry-password': sandbox.registry.password,
    name,
    // The same port on both hosts, as on EC2: each sandbox host is a machine (a network namespace) of its own.
    // 18080: the demo's container mode, which stays deployed, has 8080.
    ports: '18080:8080',
    volumes: `${volume}:/data`,
    env: 'GREETING=hello\nAPI_TOKEN=not-a-real-secret-but-masked',
    // --init: busybox httpd as PID 1 ignores SIGTERM, and each stop would take 10 s.
    'run-args': '--init --label "purpose=slipway e2e"',
    ...extra,
  };
}

beforeAll(() => {
  sandbox = loadSandbox();
  hosts = sandbox.hosts.slice(0, 2);
  if (hosts.length < 2) throw new Error('these tests need two sandbox hosts (test/sandbox/up.sh --hosts 2)');
  cleanUp();
  images = {
    v1: pushAppImage(sandbox, 'v1', 'app v1', { healthcheck: true }),
    v2: pushAppImage(sandbox, 'v2', 'app v2'),
    broken: pushAppImage(sandbox, 'broken', 'app v3-broken', { broken: true }),
  };
}, 180_000);

afterAll(() => cleanUp());

describe('ec2-deploy', () => {
  it('deploys to two hosts at once, then a new image, with the registry token in no log, argv or file', async () => {
    const token = sandbox.registry.password;
    const watcher = new ArgvWatcher().start();
    const first = await ec2Deploy(deployInputs(hosts, images.v1));
    expect(first.errors).toEqual([]);
    expect(first.exitCode).toBe(0);
    const firstResults = JSON.parse(first.outputs.results) as Array<Record<string, unknown>>;
    expect(firstResults).toEqual(
      hosts.map((h) =>
        expect.objectContaining({ host: hostAddress(h), ok: true, mode: 'deploy', image: images.v1.ref, previousImage: null, rolledBack: false, health: "the image's HEALTHCHECK reports healthy" }),
      ),
    );
    expect(first.outputs['previous-image']).toBe('');
    for (const host of hosts) {
      // Port 18080 published on both hosts at once, each answering at its own address.
      expect(hostDocker(host, 'port', name, '8080/tcp').split('\n')[0]).toBe('0.0.0.0:18080');
      expect(served(host, name)).toBe('app v1');
      expect(runningImage(host)).toBe(`${images.v1.ref} running`);
    }

    // The new image, with the key given base64-encoded this time, and keep-releases 1.
    const second = await ec2Deploy(
      deployInputs(hosts, images.v2, {
        'ssh-key': readFileSync(sandbox.keys.ed25519).toString('base64'),
        'health-cmd': `docker exec ${name} wget -q -O /dev/null http://127.0.0.1:8080/`,
        'keep-releases': '1',
      }),
    );
    watcher.stop();
    expect(second.errors).toEqual([]);
    expect(second.outputs['previous-image']).toBe(images.v1.ref);
    const secondResults = JSON.parse(second.outputs.results) as Array<Record<string, unknown>>;
    for (const [i, host] of hosts.entries()) {
      expect(secondResults[i]).toMatchObject({ host: hostAddress(host), ok: true, image: images.v2.ref, previousImage: images.v1.ref, digest: images.v2.ref.split('@')[1] });
      expect(secondResults[i].health).toMatch(/^health-cmd `docker exec .*` succeeded$/);
      expect(served(host, name)).toBe('app v2');
      expect(history(host).map((r) => [r.image, r.result])).toEqual([
        [images.v1.ref, 'ok'],
        [images.v2.ref, 'ok'],
      ]);
      // The volume outlived the first container; v1's image went with keep-releases 1.
      expect(volumeStarts(host)).toEqual(['app v1', 'app v2']);
      expect(docker(host.dockerHost, 'image', 'inspect', images.v1.ref).status).not.toBe(0);
      expect(docker(host.dockerHost, 'container', 'inspect', `${name}-slipway-previous`).status).not.toBe(0);
      // The container got the env through a file that is gone now.
      expect(hostDocker(host, 'inspect', '--format', '{{json .Config.Env}}', name)).toContain('GREETING=hello');
      // No env file and no DOCKER_CONFIG left: the lock's guard file and the history only.
      expect(readdirSync(deployDir(host)).sort()).toEqual(['deploy.lock.guard', 'releases.jsonl']);
    }
    expect(second.log).toContain(`Pruned ${images.v1.ref.split('@')[0]}`);
    expect(second.summary).toContain(`| ${hostAddress(hosts[0])} | ✅ ok`);
    expect(second.summary).toContain(images.v1.ref);

    // Each host's lines sit in one group of their own: parallel hosts are not interleaved.
    for (const result of [first, second]) {
      for (const host of hosts) {
        const groups = logGroups(result.log).filter((g) => g.title.startsWith(hostAddress(host)));
        expect(groups).toHaveLength(1);
        const text = groups[0].lines.join('\n');
        expect(text).toContain(`Connected to ${hostAddress(host)}`);
        expect(text).toContain('Deploy lock released.');
        for (const other of hosts.filter((h) => h !== host)) expect(text).not.toContain(hostAddress(other));
      }
    }

    // The token and the env values: masked, and never in the log, any argv, or a file on the hosts.
    for (const result of [first, second]) {
      expect(result.masked).toContain(token);
      expect(result.masked).toContain('not-a-real-secret-but-masked');
      expect(result.log).not.toContain(token);
      expect(result.raw.replace(/^::add-mask::.*$/gm, '')).not.toContain(token);
    }
    expect(watcher.count).toBeGreaterThan(20);
    expect(watcher.containing(token)).toEqual([]);
    expect(watcher.containing('not-a-real-secret-but-masked')).toEqual([]);
    for (const host of hosts) {
      expect(filesContaining(host.home, token)).toEqual([]);
      expect(existsSync(join(host.home, '.docker/config.json'))).toBe(false);
    }
    expect(readdirSync('/tmp').filter((entry) => entry.startsWith('slipway-docker-'))).toEqual([]);
  });

  it('restores the previous container when the new one fails its health check, named volume intact', async () => {
    const host = hosts[0];
    const result = await ec2Deploy(deployInputs([host], images.broken, { 'health-timeout': '60s' }));
    expect(result.exitCode).toBe(1);
    const [r] = JSON.parse(result.outputs.results) as Array<Record<string, unknown>>;
    expect(r).toMatchObject({ ok: false, rolledBack: true, image: images.broken.ref, previousImage: images.v2.ref });
    expect(r.error).toMatch(/the image's HEALTHCHECK reports unhealthy.*; rolled back to /s);
    expect(result.errors.join('\n')).toContain('rolled back to');

    // The failed container's logs, in a group of their own.
    const logs = logGroups(result.log).find((g) => g.title.includes('last logs of the failed container'));
    expect(logs?.lines.join('\n')).toContain('app v3-broken starting, but its web server never will');

    expect(runningImage(host)).toBe(`${images.v2.ref} running`);
    expect(served(host, name)).toBe('app v2');
    // Same volume: it saw v1, v2, the broken start, and v2 started again.
    expect(volumeStarts(host)).toEqual(['app v1', 'app v2', 'app v3-broken', 'app v2']);
    expect(history(host).at(-1)).toMatchObject({ image: images.broken.ref, result: 'rolled-back', previousImage: images.v2.ref });
    expect(result.summary).toContain('rolled back');
  });

  it('switches back to the previous release with rollback: true, pulling it again when pruned', async () => {
    const result = await ec2Deploy(deployInputs(hosts, undefined, { rollback: 'true' }));
    expect(result.errors).toEqual([]);
    const results = JSON.parse(result.outputs.results) as Array<Record<string, unknown>>;
    for (const [i, host] of hosts.entries()) {
      expect(results[i]).toMatchObject({ ok: true, mode: 'rollback', image: images.v1.ref, previousImage: images.v2.ref });
      expect(served(host, name)).toBe('app v1');
      expect(history(host).at(-1)).toMatchObject({ action: 'rollback', image: images.v1.ref, result: 'ok' });
    }
    expect(result.outputs['previous-image']).toBe(images.v2.ref);
    expect(result.log).toContain(`Rolling back from ${images.v2.ref} to ${images.v1.ref}`);
    // keep-releases 1 had removed v1: it came back from the registry, by digest.
    expect(result.log).toContain(`Pulling ${images.v1.ref}`);
    // A rollback that went well asks nothing of the user: no annotation (the prune once warned "No such image").
    expect(result.raw).not.toMatch(/^::warning/m);
  });

  it('serialises two concurrent deployments to one host with the deploy lock', async () => {
    const host = hosts[1];
    const before = history(host).length;
    const [a, b] = await Promise.all([ec2Deploy(deployInputs([host], images.v2), { runId: 5001 }), ec2Deploy(deployInputs([host], images.v1), { runId: 5002 })]);
    expect(a.errors).toEqual([]);
    expect(b.errors).toEqual([]);
    const waited = [a, b].filter((r) => r.log.includes('Waiting for the deploy lock, held by https://github.com/slipway-tests/app/actions/runs/'));
    expect(waited).toHaveLength(1);
    const [first, second] = history(host).slice(before);
    expect(history(host)).toHaveLength(before + 2);
    // The second started only after the first had finished.
    expect(Date.parse(second.time)).toBeGreaterThanOrEqual(Date.parse(first.time) + first.durationMs);
    expect(second.previousImage).toBe(first.image);
    expect(runningImage(host)).toBe(`${second.image} running`);

    // With a short wait limit, a deployment that finds the lock held fails clearly.
    const lock = join(deployDir(host), 'deploy.lock');
    exec(['sh', '-c', `mkdir '${lock}' && printf 'other-token\\n%s\\nhttps://github.com/o/r/actions/runs/1 (attempt 1)\\n' $(( $(date +%s) + 600 )) >'${lock}/owner'`]);
    const blocked = await ec2Deploy(deployInputs([host], images.v1, { 'lock-timeout': '3s' }));
    exec(['rm', '-rf', lock]);
    expect(blocked.exitCode).toBe(1);
    expect(blocked.errors.join('\n')).toContain('another deployment holds the deploy lock (https://github.com/o/r/actions/runs/1 (attempt 1)); gave up after waiting');
  });

  it('puts the previous container back and releases the lock in the post step when main is killed', async () => {
    const host = hosts[0];
    const lock = join(deployDir(host), 'deploy.lock');
    // A health check that never passes, and a runner that kills the step while it waits.
    const killed = await ec2Deploy(deployInputs([host], images.v2, { 'health-cmd': 'false', 'health-timeout': '10m' }), { timeoutMs: 25_000 });
    expect(killed.exitCode).not.toBe(0);
    const held = JSON.parse(killed.state['deploy-locks']) as { token: string; locks: { host: string; path: string }[] };
    expect(held.locks).toEqual([{ host: hostAddress(host), path: lock }]);
    expect(existsSync(lock)).toBe(true);

    const post = await ec2Deploy(deployInputs([host], images.v2), { state: killed.state });
    expect(post.errors).toEqual([]);
    expect(post.log).toContain(`${name}-slipway-previous was left by an interrupted deployment: restoring it as ${name}`);
    expect(post.log).toContain(`${hostAddress(host)}: the previous ${name} is running again.`);
    expect(post.log).toContain(`${hostAddress(host)}: deploy lock released.`);
    expect(existsSync(lock)).toBe(false);
    expect(served(host, name)).toBe('app v1');
    expect(docker(host.dockerHost, 'container', 'inspect', `${name}-slipway-previous`).status).not.toBe(0);

    const next = await ec2Deploy(deployInputs([host], images.v2));
    expect(next.errors).toEqual([]);
    expect((JSON.parse(next.outputs.results) as unknown[])[0]).toMatchObject({ ok: true, previousImage: images.v1.ref, image: images.v2.ref });
    expect(served(host, name)).toBe('app v2');
    expect(docker(host.dockerHost, 'volume', 'inspect', volume).status).toBe(0);
  });

  it('stops after a failed host when rolling one at a time with fail-fast', async () => {
    const result = await ec2Deploy({
      ...connectionInputs(sandbox, hosts),
      hosts: `deploy1@127.0.0.1:1\n${hostAddress(hosts[1])}`,
      'connect-retries': '1',
      'max-parallel': '1',
      script: 'echo should not run',
    });
    expect(result.exitCode).toBe(1);
    const results = JSON.parse(result.outputs.results) as Array<Record<string, unknown>>;
    expect(results.map((r) => [r.host, r.ok])).toEqual([
      ['deploy1@127.0.0.1:1', false],
      [hostAddress(hosts[1]), false],
    ]);
    expect(results[1].error).toBe('skipped: an earlier host failed (fail-fast)');
    expect(result.log).toContain(`${hostAddress(hosts[1])}: skipped, an earlier host failed (fail-fast).`);
  });
});
