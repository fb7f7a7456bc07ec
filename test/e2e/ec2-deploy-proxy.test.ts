/**
 * ec2-deploy's proxy mode end to end (issue 12): the bundle deploys busybox httpd releases behind
 * the test proxy (Debian's Caddy 2.6 FROM scratch, pushed to the sandbox registry and given as
 * `proxy-image`) on sandbox host h4, while this process requests the proxy's published port 40
 * times a second, each request on a connection of its own. Five deploys in a row and a rollback
 * without a failed request, and no request that started after a switch answered by an older
 * release; a 5 s request in flight across a switch completes from the old release, which drains
 * before it stops; a release that fails its health check gets no request; a failing pre-deploy
 * switches nothing; a restarted proxy routes to the current release from the host's own state.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { docker, exec } from './support/exec.js';
import { connectionInputs, deploymentDir, ec2Deploy, hostDocker, removeDeploymentDir } from './support/ec2-deploy.js';
import { get, pushProxyApp, pushProxyImage, RequestLoop, type Answer } from './support/proxy.js';
import { loadSandbox, type Sandbox, type SandboxHost } from './support/sandbox.js';

jest.setTimeout(300_000);

const name = 'slipway-e2e-proxy';
const proxyContainer = `${name}-slipway-proxy`;
// Not 80 or 8080: the demo keeps its containers there.
const proxyPort = 18480;
let sandbox: Sandbox;
let host: SandboxHost;
let address: string;
let proxyImage: string;
const images: Record<string, string> = {};
const deployDir = () => deploymentDir(host, name);

/** When each switch happened and which body the release it switched to answers. */
const switches: { atMs: number; body: string }[] = [];

function cleanUp(): void {
  if (!host) return;
  const leftovers = docker(host.dockerHost, 'ps', '--all', '--quiet', '--filter', `label=slipway.release=${name}`).stdout.split('\n').filter(Boolean);
  docker(host.dockerHost, 'rm', '--force', proxyContainer, name, ...leftovers);
  docker(host.dockerHost, 'network', 'rm', `${name}-slipway`);
  docker(host.dockerHost, 'volume', 'rm', `${proxyContainer}-data`);
  removeDeploymentDir(host, name);
}

function inputs(image: string | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...connectionInputs(sandbox, [host]),
    ...(image ? { image } : {}),
    'registry-username': sandbox.registry.username,
    'registry-password': sandbox.registry.password,
    name,
    'proxy-port': String(proxyPort),
    'proxy-image': proxyImage,
    'health-url': '/health',
    'health-timeout': '20s',
    'drain-timeout': '20s',
    vars: 'GREETING=hello',
    // --init: busybox httpd as PID 1 ignores SIGTERM, and each stop of a drained release would take 10 s.
    'run-args': '--init',
    ...extra,
  };
}

/** The release containers of this deployment on the host, by name. */
function releases(): string[] {
  return hostDocker(host, 'ps', '--all', '--filter', `label=slipway.release=${name}`, '--format', '{{.Names}}').split('\n').filter(Boolean);
}

/** Deploys (or rolls back), expects success, and notes the switch. */
async function deploy(image: string | undefined, body: string, extra: Record<string, string> = {}) {
  const result = await ec2Deploy(inputs(image, extra));
  expect(result.errors).toEqual([]);
  expect(result.exitCode).toBe(0);
  expect(result.outputs.release).toMatch(new RegExp(`^${name}-\\d{8}-\\d{6}-\\d{3}$`));
  expect(result.outputs['switched-at']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  expect(result.outputs['drain-ms']).toMatch(/^\d+$/);
  switches.push({ atMs: Date.parse(result.outputs['switched-at']), body });
  return result;
}

/** Requests that started after a switch and were answered by a release older than the one switched to. */
function answeredByOlder(answers: readonly Answer[]): (Answer & { afterSwitchMs: number })[] {
  return answers.flatMap((answer) => {
    const since = switches.findLastIndex((s) => s.atMs <= answer.startMs);
    if (since < 0) return [];
    // The release switched to then, or a later one (the next switch may come while it is in flight,
    // and the proxy takes the new route a few ms before `caddy reload` returns): never an earlier one.
    return switches.slice(since).some((s) => s.body === answer.body) ? [] : [{ ...answer, afterSwitchMs: answer.startMs - switches[since].atMs }];
  });
}

beforeAll(() => {
  sandbox = loadSandbox();
  host = sandbox.hosts.find((h) => h.name === 'h4')!;
  if (!host) throw new Error('these tests need sandbox host h4 (test/sandbox/up.sh --hosts 4)');
  address = `${host.address}:${proxyPort}`;
  cleanUp();
  proxyImage = pushProxyImage(sandbox);
  for (const v of ['v1', 'v2', 'v3', 'v4', 'v5', 'v6']) images[v] = pushProxyApp(sandbox, v, `proxy app ${v}`);
  images.broken = pushProxyApp(sandbox, 'broken', 'proxy app broken', { broken: true });
}, 240_000);

afterEach(async () => {
  await Promise.all([...RequestLoop.running].map((loop) => loop.stop()));
});
afterAll(() => cleanUp());

describe('ec2-deploy proxy mode', () => {
  it('deploys five releases in a row and rolls back under 40 requests a second: none fails, none started after a switch reaches an older release', async () => {
    const first = await deploy(images.v1, 'proxy app v1', { 'pre-deploy': `sh -c 'echo "pre-deploy of v1 sees GREETING=$GREETING"'` });
    expect(first.outputs['drain-ms']).toBe('0');
    expect(first.log).toContain('pre-deploy: pre-deploy of v1 sees GREETING=hello');
    expect((await get(address, '/')).body).toBe('proxy app v1');
    // Only the proxy publishes a port, and only the proxy port: its admin endpoint stays inside.
    expect(hostDocker(host, 'port', proxyContainer).split('\n')).toEqual(expect.arrayContaining([`${proxyPort}/tcp -> 0.0.0.0:${proxyPort}`]));
    expect(hostDocker(host, 'port', proxyContainer)).not.toContain('2019');
    expect(hostDocker(host, 'inspect', '--format', '{{.HostConfig.RestartPolicy.Name}}', proxyContainer)).toBe('unless-stopped');
    expect(hostDocker(host, 'port', first.outputs.release)).toBe('');

    const loop = new RequestLoop(address).start();
    const deploys = [];
    for (const v of ['v2', 'v3', 'v4', 'v5', 'v6']) {
      const result = await deploy(images[v], `proxy app ${v}`, { 'pre-deploy': `echo pre-deploy of ${v}` });
      expect(result.log).toContain(`pre-deploy: pre-deploy of ${v}`);
      deploys.push(result);
      // The old release drained and went: one release runs at a time between deploys.
      expect(releases()).toEqual([result.outputs.release]);
    }
    const rollback = await deploy(undefined, 'proxy app v5', { rollback: 'true' });
    expect(rollback.log).toContain('Rolling back from');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const answers = await loop.stop();

    const seconds = (loop.stoppedMs - loop.startedMs) / 1000;
    expect(answers.length).toBeGreaterThanOrEqual(20 * seconds * 0.9);
    expect(loop.failed()).toEqual([]);
    expect(answeredByOlder(answers)).toEqual([]);
    // Every release served in its turn, the rollback's last.
    for (const v of ['v1', 'v2', 'v3', 'v4', 'v5', 'v6']) expect(answers.some((a) => a.body === `proxy app ${v}`)).toBe(true);
    expect(answers.at(-1)?.body).toBe('proxy app v5');

    const [result] = JSON.parse(rollback.outputs.results) as Array<Record<string, unknown>>;
    expect(result).toMatchObject({ ok: true, mode: 'rollback', release: rollback.outputs.release, switchedAt: rollback.outputs['switched-at'] });
    expect(rollback.summary).toContain('| Serving release | Switched at | Drained in |');
    expect(rollback.summary).toContain(rollback.outputs.release);
    const history = readFileSync(join(deployDir(), 'releases.jsonl'), 'utf8').trim().split('\n');
    expect(history.map((line) => (JSON.parse(line) as { action: string; result: string }).action)).toEqual(['deploy', 'deploy', 'deploy', 'deploy', 'deploy', 'deploy', 'rollback']);
  });

  it('lets a 5 s request in flight across a switch finish with 200 from the old release, which drains before it stops', async () => {
    const before = switches.at(-1)!;
    // A slow request every half second from the start of the deploy: some are in flight at the switch.
    const slow: Promise<Answer>[] = [];
    const timer = setInterval(() => slow.push(get(address, '/cgi-bin/slow')), 500);
    slow.push(get(address, '/cgi-bin/slow'));
    const loop = new RequestLoop(address).start();
    const result = await deploy(images.v6, 'proxy app v6').finally(() => clearInterval(timer));
    const slowAnswers = await Promise.all(slow);
    await loop.stop();
    expect(loop.failed()).toEqual([]);
    expect(slowAnswers.filter((a) => a.status !== 200 || a.error)).toEqual([]);
    const switchedMs = Date.parse(result.outputs['switched-at']);
    // Each slow request is answered by the release it reached, old or new.
    for (const answer of slowAnswers) expect([`slow ${before.body}`, 'slow proxy app v6']).toContain(answer.body);
    const across = slowAnswers.filter((a) => a.body === `slow ${before.body}` && a.endMs > switchedMs);
    expect(across.length).toBeGreaterThan(0);
    // The old release was stopped only once its last slow request had been answered.
    const lastAcross = Math.max(...across.map((a) => a.endMs));
    expect(Number(result.outputs['drain-ms'])).toBeGreaterThanOrEqual(lastAcross - switchedMs - 1_000);
    expect(result.log).toMatch(/Drained slipway-e2e-proxy-\S+ in /);
  });

  it('sends no request to a release that fails its health check: the old one keeps serving and the step fails', async () => {
    const serving = releases();
    const loop = new RequestLoop(address).start();
    const result = await ec2Deploy(inputs(images.broken, { 'health-timeout': '5s' }));
    const answers = await loop.stop();
    expect(result.exitCode).toBe(1);
    const [r] = JSON.parse(result.outputs.results) as Array<Record<string, unknown>>;
    expect(r).toMatchObject({ ok: false, rolledBack: true, image: images.broken });
    expect(r.error).toMatch(/GET http:\/\/\S+\/health failed.*the proxy still sends every request to /s);
    expect(loop.failed()).toEqual([]);
    expect(answers.length).toBeGreaterThan(50);
    expect(answers.filter((a) => a.body === 'proxy app broken')).toEqual([]);
    expect(answers.every((a) => a.body === 'proxy app v6')).toBe(true);
    expect(releases()).toEqual(serving);
  });

  it('switches nothing when pre-deploy fails, with its output in the log', async () => {
    const serving = releases();
    const caddyfile = readFileSync(join(deployDir(), 'proxy/Caddyfile'), 'utf8');
    const result = await ec2Deploy(inputs(images.v2, { 'pre-deploy': `sh -c 'echo "migration 42 failed: no database" >&2; exit 3'` }));
    expect(result.exitCode).toBe(1);
    expect(result.log).toContain('pre-deploy: migration 42 failed: no database');
    expect(result.errors.join('\n')).toMatch(/pre-deploy exited with 3; nothing was started or switched: migration 42 failed: no database/);
    expect(releases()).toEqual(serving);
    expect(readFileSync(join(deployDir(), 'proxy/Caddyfile'), 'utf8')).toBe(caddyfile);
    expect((await get(address, '/')).body).toBe('proxy app v6');
    // No env file left behind by the one-off container's run.
    expect(exec(['sh', '-c', `ls ${deployDir()} | grep -c '^env-' || true`]).stdout.trim()).toBe('0');
  });

  it('routes to the current release from the host state after the proxy container restarts', async () => {
    hostDocker(host, 'restart', proxyContainer);
    const deadline = Date.now() + 15_000;
    let answer = await get(address, '/');
    while (answer.body !== 'proxy app v6' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      answer = await get(address, '/');
    }
    expect(answer).toMatchObject({ status: 200, body: 'proxy app v6' });
  });
});
