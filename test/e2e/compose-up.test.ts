/**
 * compose-up on the runner, end to end: the committed bundle, run as the runner runs it, brings up
 * the fixture's two services with the docker-compose v1 this machine has (no `--wait` there: our
 * own health polling), pulling the app from the authenticated sandbox registry; the post step of
 * `down-on-exit` prints the logs and takes the project down, keeping its named volume.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArgvWatcher } from './support/argv-watch.js';
import { composeWorkspace, httpGet, pushAppImage } from './support/compose-app.js';
import { exec, mustExec } from './support/exec.js';
import { runAction } from './support/run-action.js';
import { loadSandbox, type Sandbox } from './support/sandbox.js';

const project = 'slipway-e2e-local';
let sandbox: Sandbox;
let appV1: string;

function projectContainers(): string[] {
  return mustExec(['docker', 'ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${project}`])
    .split('\n')
    .filter(Boolean);
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

beforeAll(() => {
  sandbox = loadSandbox();
  appV1 = pushAppImage(sandbox, 'local-v1', 'app v1 (local)');
}, 120_000);

afterAll(() => {
  exec(['docker-compose', '-p', project, '-f', '/dev/null', 'down']);
  for (const id of projectContainers()) exec(['docker', 'rm', '-f', id]);
  exec(['docker', 'volume', 'rm', `${project}_data`]);
});

describe('compose-up (runner)', () => {
  it('brings the stack up with docker-compose v1, waits for health, and down-on-exit takes it down keeping volumes', async () => {
    const workspace = composeWorkspace(sandbox);
    const userFile = join(workspace, 'compose.yml');
    const before = sha256(userFile);
    const token = sandbox.registry.password;
    const watcher = new ArgvWatcher().start();
    const result = await runAction('compose-up', {
      cwd: workspace,
      inputs: {
        'project-name': project,
        images: `app=${appV1}`,
        // PROXY_BIND: the proxy's port on the runner's loopback only.
        env: 'GREETING=hi from the env input\nPROXY_BIND=127.0.0.1',
        'registry-username': sandbox.registry.username,
        'registry-password': token,
        'down-on-exit': 'true',
        'wait-timeout': '60s',
      },
    });
    watcher.stop();
    expect(result.errors).toEqual([]);
    expect(result.exitCode).toBe(0);

    // v1 was found and used, with our own wait (v1 has no --wait).
    const results = JSON.parse(result.outputs.results) as Array<Record<string, unknown>>;
    expect(results).toEqual([expect.objectContaining({ target: 'runner', ok: true, compose: expect.stringMatching(/^docker-compose 1\./), rolledBack: false })]);
    expect(result.log).toContain('Waiting up to 1m0s for app, proxy (healthy, or running without a healthcheck)');
    expect(result.outputs['project-name']).toBe(project);
    const services = JSON.parse(result.outputs.services) as Array<Record<string, string>>;
    expect(services).toEqual([
      expect.objectContaining({ target: 'runner', service: 'app', image: appV1, state: 'running', health: 'healthy' }),
      expect.objectContaining({ target: 'runner', service: 'proxy', state: 'running', health: 'none' }),
    ]);
    expect(result.summary).toContain(project);

    // The proxy, built from ./proxy, answers on 127.0.0.1 with what the app (pulled by digest) serves.
    const proxy = services.find((s) => s.service === 'proxy')!;
    const address = mustExec(['docker', 'port', proxy.container, '8080/tcp']).split('\n')[0];
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(httpGet(address, '/')).toBe('app v1 (local)\n');

    // `env` reached interpolation through a 0600 file; the user's compose file is untouched.
    const app = services.find((s) => s.service === 'app')!;
    expect(mustExec(['docker', 'inspect', '--format', '{{json .Config.Env}}', app.container])).toContain('GREETING=hi from the env input');
    const envFile = join(result.state['temp-dir'], 'slipway-compose.env');
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(sha256(userFile)).toBe(before);

    // The registry token: masked, never in argv, and no docker config with it left behind.
    expect(result.masked).toContain(token);
    expect(result.log).not.toContain(token);
    expect(watcher.containing(token)).toEqual([]);
    expect(readFileSync(envFile, 'utf8')).not.toContain(token);

    // Data in the named volume, to be found again after down.
    mustExec(['docker', 'exec', app.container, 'sh', '-c', 'echo kept > /data/marker']);

    const post = await runAction('compose-up', { cwd: workspace, state: result.state });
    expect(post.errors).toEqual([]);
    expect(post.exitCode).toBe(0);
    expect(post.log).toContain(`::group::Logs of ${project}`);
    expect(post.log).toMatch(/app_1\s+\|/); // v1's log prefix: the services' logs were printed
    expect(post.log).toContain(`docker-compose down (${project})`);
    expect(projectContainers()).toEqual([]);
    expect(existsSync(result.state['temp-dir'])).toBe(false);
    const marker = mustExec(['docker', 'run', '--rm', '--network', 'none', '-v', `${project}_data:/data`, sandbox.baseImage, 'cat', '/data/marker']);
    expect(marker).toBe('kept');
  }, 300_000);

  it('fails when a service never becomes healthy, printing its logs', async () => {
    const broken = pushAppImage(sandbox, 'local-broken', 'app v-broken (local)', { broken: true });
    const workspace = composeWorkspace(sandbox);
    const result = await runAction('compose-up', {
      cwd: workspace,
      inputs: {
        'project-name': project,
        images: `app=${broken}`,
        'registry-username': sandbox.registry.username,
        'registry-password': sandbox.registry.password,
        'down-on-exit': 'true',
        'wait-timeout': '40s',
      },
    });
    expect(result.exitCode).toBe(1);
    expect(result.errors.join('\n')).toMatch(/runner: Service\(s\) app failed: \S+ running, unhealthy/);
    expect(result.log).toContain('::group::Logs of the failing services on runner');
    expect(result.log).toContain('app v-broken (local): this build never starts its web server');
    const post = await runAction('compose-up', { cwd: workspace, state: result.state });
    expect(post.exitCode).toBe(0);
    expect(projectContainers()).toEqual([]);
  }, 300_000);

  it.each([
    [
      'a malformed compose file',
      { 'compose-files': 'compose.yml' },
      'services:\n  app:\n    image: x\n   ports: [\n',
      'Input `compose-files`: compose.yml line 4, column 4: bad indentation of a mapping entry.',
    ],
    [
      'an unknown service in images',
      { images: 'app=127.0.0.1:5000/o/app:v1\napi=127.0.0.1:5000/o/api:v1' },
      undefined,
      'Input `images`: line 2: "api" is not a service of compose.yml (services: proxy, app).',
    ],
    ['a missing upload path', { upload: 'proxy/\nnginx/' }, undefined, 'Input `upload`: nginx/ does not exist in the workspace'],
    ['a build context that is not uploaded', {}, undefined, 'Input `upload`: service proxy is built on the host from proxy/, which is not uploaded: add "proxy/" to `upload`.'],
  ])(
    'refuses %s before connecting to any host',
    async (_what, inputs: Record<string, string>, composeText: string | undefined, message: string) => {
      const workspace = composeWorkspace(sandbox);
      if (composeText) writeFileSync(join(workspace, 'compose.yml'), composeText);
      const host = sandbox.hosts[0];
      const sshdLog = existsSync(host.sshdLog) ? statSync(host.sshdLog).size : 0;
      const result = await runAction('compose-up', {
        cwd: workspace,
        inputs: { hosts: `${host.user}@${host.address}:${host.port}`, 'ssh-key': readFileSync(sandbox.keys.ed25519, 'utf8'), ...inputs },
      });
      expect(result.exitCode).toBe(1);
      expect(result.errors.join('\n')).toContain(message);
      // No connection was attempted: the host's sshd logged nothing new.
      expect(existsSync(host.sshdLog) ? statSync(host.sshdLog).size : 0).toBe(sshdLog);
    },
    60_000,
  );
});
