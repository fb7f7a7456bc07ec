/**
 * composeUpRemote with its host program run for real: `sh -s` on this machine (dash), a temporary
 * HOME, and fake `docker` and `docker-compose` first on PATH (testing/fake-docker.ts) that keep the
 * project's containers in files. The lock, the release directory, the health poll and the rollback
 * are the ones a host runs; only the engine and compose are faked.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { REGISTRY_CONFIG_PREFIX } from '../docker.js';
import { FakeDockerHost } from '../testing/fake-docker.js';
import { readiness, type ContainerStatus } from './health.js';
import type { DeployLog } from '../log.js';
import type { ComposePlan } from './compose-up.js';
import { OVERRIDE_FILE_NAME } from './override.js';
import type { HostLock } from '../host/run-locks.js';
import { composeUpRemote } from './remote-deployment.js';

const NEW_IMAGE = `reg.example:5000/o/app@sha256:${'2'.repeat(64)}`;
const OLD_IMAGE = `reg.example:5000/o/app@sha256:${'1'.repeat(64)}`;
const PASSWORD = `registry-s3cret'"$`;
const SECRET = `pa$$ 'w"ord`;
const TOKEN = 'token-run-1';

// Each stage forks a few dozen processes (sed, the fakes): about half a second here.
jest.setTimeout(30_000);

let workspace: string;
const hosts: FakeDockerHost[] = [];
beforeAll(() => {
  workspace = mkdtempSync(join(tmpdir(), 'slipway-compose-program-'));
  writeFileSync(join(workspace, 'compose.yml'), 'services:\n  app:\n    image: reg.example:5000/o/app:latest\n  proxy:\n    build: ./proxy\n');
  mkdirSync(join(workspace, 'proxy'));
  writeFileSync(join(workspace, 'proxy', 'Dockerfile'), 'FROM scratch\n');
});
afterAll(() => {
  rmSync(workspace, { recursive: true, force: true });
  for (const host of hosts) host.remove();
});

let nextRelease = 1;
function plan(overrides: Partial<ComposePlan> = {}): ComposePlan {
  return {
    project: 'shop',
    mode: 'compose',
    workspace,
    model: { files: [{ path: join(workspace, 'compose.yml'), relativePath: 'compose.yml' }], services: new Map() },
    images: new Map([['app', NEW_IMAGE]]),
    services: [],
    env: new Map([
      ['PORT', '8081'],
      ['DB_PASSWORD', SECRET],
    ]),
    uploads: ['proxy'],
    pull: 'always',
    build: false,
    wait: true,
    waitTimeoutMs: 3_000,
    removeOrphans: true,
    registry: { registry: 'reg.example:5000', username: 'bot', password: PASSWORD, inputs: ['registry-username', 'registry-password'], access: 'pull' },
    remoteDir: '~/slipway/shop',
    keepReleases: 2,
    releaseId: `r${nextRelease++}`,
    runUrl: 'https://github.com/o/r/actions/runs/1',
    ...overrides,
  };
}

function fakeHost(): FakeDockerHost {
  const host = new FakeDockerHost();
  hosts.push(host);
  host.requirePassword(PASSWORD);
  host.composeServices(['app', 'proxy']);
  return host;
}

interface Heard {
  log: DeployLog;
  lines: string[];
  attached: string[];
  lock: HostLock & { paths: string[]; releasedCount: number };
}

function listen(waitMs = 0): Heard {
  const lines: string[] = [];
  const attached: string[] = [];
  const lock = {
    owner: { token: TOKEN, description: 'run 1 attempt 1' },
    expiryMs: 600_000,
    waitMs,
    paths: [] as string[],
    releasedCount: 0,
    taking(path: string) {
      lock.paths.push(path);
    },
    released() {
      lock.releasedCount++;
    },
  };
  const log: DeployLog = {
    info: (m) => lines.push(m),
    warning: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    group: (title, fn) => {
      lines.push(`── ${title}`);
      return fn();
    },
    attach: (title, text) => attached.push(`${title}\n${text}`),
  };
  return { log, lines, attached, lock };
}

const base = (host: FakeDockerHost) => join(host.home, 'slipway', 'shop');
const current = (host: FakeDockerHost) => readlinkSync(join(base(host), 'current'));
const releases = (host: FakeDockerHost) => readdirSync(join(base(host), 'releases')).sort();
/** The deploy dir's files that hold secrets: a registry login, a `config` output. */
const secretFiles = (host: FakeDockerHost) => readdirSync(base(host)).filter((name) => name.startsWith(REGISTRY_CONFIG_PREFIX) || name.startsWith('config-'));

describe('compose-up on a host (its program run for real)', () => {
  it('makes a first release: a private directory with the files, pull and up from it, health on the host, then current', async () => {
    const host = fakeHost();
    const heard = listen();
    const p = plan();
    const result = await composeUpRemote(host.shell, p, heard.log, heard.lock);

    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ target: 'fake-host', ok: true, compose: 'docker-compose 1.29.2', release: p.releaseId, rolledBack: false });
    expect(result.previousRelease).toBeUndefined();
    expect(result.services).toEqual([
      { service: 'app', container: 'shop_app_1', image: NEW_IMAGE, state: 'running', health: 'healthy' },
      { service: 'proxy', container: 'shop_proxy_1', image: 'proxy-built', state: 'running', health: 'healthy' },
    ]);
    expect(current(host)).toBe(`releases/${p.releaseId}`);

    const dir = join(base(host), 'releases', p.releaseId);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, '.slipway')).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(dir, 'proxy', 'Dockerfile'), 'utf8')).toBe('FROM scratch\n');
    expect(readFileSync(join(dir, '.slipway', OVERRIDE_FILE_NAME), 'utf8')).toContain(`app:\n    image: "${NEW_IMAGE}"`);
    // v1's rules (env-file.ts): the host has docker-compose 1.29.2.
    const envFile = join(dir, '.slipway', 'compose.env');
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(envFile, 'utf8')).toBe("PORT=8081\nDB_PASSWORD='pa${:-$}${:-$} \\'w\"ord'\n");
    expect(JSON.parse(readFileSync(join(dir, '.slipway', 'release.json'), 'utf8'))).toMatchObject({
      id: p.releaseId,
      project: 'shop',
      mode: 'compose',
      files: ['compose.yml', `.slipway/${OVERRIDE_FILE_NAME}`],
      envFile: '.slipway/compose.env',
      runUrl: 'https://github.com/o/r/actions/runs/1',
    });

    // Only the service that is pulled, not built, is pulled; up from the release's files; our own wait (v1 has no --wait).
    const compose = host.composeArgv();
    const files = `--project-name shop --file ${dir}/compose.yml --file ${dir}/.slipway/${OVERRIDE_FILE_NAME} --env-file ${envFile}`;
    expect(compose).toEqual(['version --short', `${files} config`, `${files} pull app`, `${files} up --detach --remove-orphans`]);
    expect(heard.lines).toEqual(
      expect.arrayContaining([`── Upload release ${p.releaseId} to ${dir}`, '── Log in to reg.example:5000 as bot', '── Pull app', '── docker-compose up (shop)', 'Deploy lock released.']),
    );
    expect(heard.lines.some((line) => line.startsWith('Waiting up to 3.0s for app, proxy'))).toBe(true);
    expect(result.phases?.map((span) => span.phase)).toEqual(['lock', 'detect', 'upload', 'pull', 'start', 'health', 'commit']);

    // The lock was noted before the program ran and released at its end; no secret stays behind or reached an argv.
    expect([...new Set(heard.lock.paths)]).toEqual(['slipway/shop/deploy.lock', join(base(host), 'deploy.lock')]);
    expect(heard.lock.releasedCount).toBe(1);
    expect(existsSync(join(base(host), 'deploy.lock'))).toBe(false);
    expect(secretFiles(host)).toEqual([]);
    expect(host.logins().password).toBe(PASSWORD);
    expect(`${host.argv()}\n${compose.join('\n')}`).not.toContain('s3cret');
  });

  it('re-deploys over a running release, keeps keep-releases of them, and changes nothing when the login is refused', async () => {
    const host = fakeHost();
    const first = plan();
    const second = plan();
    const third = plan();
    for (const p of [first, second, third]) expect((await composeUpRemote(host.shell, p, listen().log, listen().lock)).ok).toBe(true);
    expect(releases(host)).toEqual([second.releaseId, third.releaseId]);
    expect(current(host)).toBe(`releases/${third.releaseId}`);

    const refused = plan({ registry: { ...first.registry!, password: 'wrong' } });
    const heard = listen();
    const result = await composeUpRemote(host.shell, refused, heard.log, heard.lock);
    expect(result.ok).toBe(false);
    expect(result.error).toContain('reg.example:5000 refused the credentials on fake-host');
    expect(result.rolledBack).toBe(false);
    expect(result.previousRelease).toBe(third.releaseId);
    expect(current(host)).toBe(`releases/${third.releaseId}`);
    expect(host.composeArgv().filter((line) => line.endsWith(' up --detach --remove-orphans'))).toHaveLength(3);
    expect(secretFiles(host)).toEqual([]);
    expect(existsSync(join(base(host), 'deploy.lock'))).toBe(false);
  });

  it('puts the previous release back when the new one turns unhealthy, with the failing service’s logs', async () => {
    const host = fakeHost();
    const good = plan({ images: new Map([['app', OLD_IMAGE]]) });
    expect((await composeUpRemote(host.shell, good, listen().log, listen().lock)).ok).toBe(true);
    host.composeOutcome(NEW_IMAGE, 'running unhealthy 0');

    const heard = listen();
    const bad = plan();
    const result = await composeUpRemote(host.shell, bad, heard.log, heard.lock);
    expect(result).toMatchObject({ ok: false, rolledBack: true, previousRelease: good.releaseId, release: bad.releaseId });
    expect(result.error).toBe(`Service(s) app failed: shop_app_1 running, unhealthy. The previous release ${good.releaseId} is running again.`);
    expect(heard.attached).toEqual([`Logs of the failing services on fake-host\napp from ${NEW_IMAGE}`]);
    // The previous release's own files, built again, and current still names it.
    const previousDir = join(base(host), 'releases', good.releaseId);
    expect(host.composeArgv().at(-1)).toBe(
      `--project-name shop --file ${previousDir}/compose.yml --file ${previousDir}/.slipway/${OVERRIDE_FILE_NAME} --env-file ${previousDir}/.slipway/compose.env up --detach --build --remove-orphans`,
    );
    expect(host.containers().shop_app_1.config).toBe(OLD_IMAGE);
    expect(current(host)).toBe(`releases/${good.releaseId}`);
    expect(existsSync(join(base(host), 'deploy.lock'))).toBe(false);
    expect(heard.lock.releasedCount).toBe(1);
    expect(secretFiles(host)).toEqual([]);
  });

  it('says there is nothing to go back to when a first release fails after up', async () => {
    const host = fakeHost();
    host.composeOutcome(NEW_IMAGE, 'exited none 3');
    const heard = listen();
    const result = await composeUpRemote(host.shell, plan(), heard.log, heard.lock);
    expect(result).toMatchObject({ ok: false, rolledBack: false });
    expect(result.error).toBe('Service(s) app failed: shop_app_1 exited with code 3. There is no previous release to go back to.');
    expect(existsSync(join(base(host), 'current'))).toBe(false);
    expect(existsSync(join(base(host), 'deploy.lock'))).toBe(false);
  });

  it("waits for another run's lock up to lock-timeout, then fails naming it, leaving its lock alone", async () => {
    const host = fakeHost();
    const lock = join(base(host), 'deploy.lock');
    mkdirSync(lock, { recursive: true });
    writeFileSync(join(lock, 'owner'), `another-run\n${Math.floor(Date.now() / 1000) + 3600}\nhttps://github.com/o/r/actions/runs/9 (attempt 1)\n`);
    const heard = listen(1_000);
    const result = await composeUpRemote(host.shell, plan(), heard.log, heard.lock);
    expect(result.ok).toBe(false);
    expect(result.error).toContain('fake-host: another deployment holds the deploy lock (https://github.com/o/r/actions/runs/9 (attempt 1)); gave up after waiting');
    expect(readFileSync(join(lock, 'owner'), 'utf8')).toMatch(/^another-run\n/);
    expect(host.composeArgv()).toEqual([]);
  });

  // The program decides readiness in sh; compose/health.ts states the same rules for the runner.
  const outcomes: [string, string, number][] = [
    ['running', 'healthy', 0],
    ['running', 'none', 0],
    ['running', 'unhealthy', 0],
    ['running', 'starting', 0],
    ['exited', 'none', 0],
    ['exited', 'none', 2],
    ['dead', 'none', 0],
    ['restarting', 'none', 0],
    ['created', 'none', 0],
  ];
  it.each(outcomes)('reads a container %s (health %s, exit %s) as health.ts readiness() does', async (state, health, exitCode) => {
    const host = fakeHost();
    host.composeServices(['app']);
    host.composeOutcome(NEW_IMAGE, `${state} ${health} ${exitCode}`);
    const result = await composeUpRemote(host.shell, plan({ services: ['app'], waitTimeoutMs: 1_000 }), listen().log, listen().lock);
    const expected = readiness({ state, health, exitCode } as ContainerStatus);
    const seen = result.ok ? 'ready' : /not ready after/.test(result.error ?? '') ? 'waiting' : 'failed';
    expect(seen).toBe(expected);
  });
});
