/**
 * The host program's proxy mode run for real (`sh -s`, dash) against the fake docker of
 * testing/fake-docker.ts (networks, labels and their filters, `docker exec … caddy reload`, one-off
 * `run --rm` containers and EXPOSEd ports included): the program's slot switching, pre-deploy,
 * failures and state on the host are checked as files, the way a host would hold them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { FakeDockerHost } from '../testing/fake-docker.js';
import { caddyfile, proxyNames, proxyRunArguments, preDeployArguments, proxyPublish, releaseContainerName } from './deployment.js';
import { EVENT_MARK, programText, releasePart, type ProgramValues, type ProxyValues } from './program.js';
import type { ContainerSpec, ProxySpec } from './spec.js';

jest.setTimeout(30_000);

const NAME = 'web';
const REPO = 'reg.example:5000/team/app';
const V1 = `${REPO}:1.0`;
const V2 = `${REPO}:2.0`;
const V1_ID = `sha256:${'1'.repeat(64)}`;
const V2_ID = `sha256:${'2'.repeat(64)}`;
const { container: PROXY, network: NET } = proxyNames(NAME);
const SPEC: ContainerSpec = { name: NAME, ports: [], env: new Map([['MODE', 'prod']]), volumes: ['data:/data'], restart: 'unless-stopped', runArgs: ['--init'] };
const PROXY_SPEC: ProxySpec = { ports: ['127.0.0.1:18480'], image: 'caddy:2', drainTimeoutMs: 5_000 };
/** The line that ends the release part sent at `prepared`. */
const PART_END = '@@slipway-end-test';

const hosts: FakeDockerHost[] = [];
afterAll(() => hosts.forEach((host) => host.remove()));

interface Ran {
  exitCode: number;
  events: string[][];
}

function fixture() {
  const host = new FakeDockerHost();
  hosts.push(host);
  host.publish(V1, V1_ID, `${REPO}@sha256:${'a'.repeat(64)}`);
  host.publish(V2, V2_ID, `${REPO}@sha256:${'b'.repeat(64)}`);
  host.publish('caddy:2', `sha256:${'c'.repeat(64)}`, `caddy@sha256:${'c'.repeat(64)}`);
  host.exposes(V1_ID, ['8080/tcp']);
  host.exposes(V2_ID, ['8080/tcp']);
  const proxyDir = join(host.dir(NAME), 'proxy');
  let clock = 0;

  function proxyValues(release?: string, image?: string, preDeploy?: string[]): ProxyValues {
    const publish = PROXY_SPEC.ports.map(proxyPublish);
    return {
      container: PROXY,
      network: NET,
      image: PROXY_SPEC.image,
      publish,
      spec: [PROXY_SPEC.image, ...publish].join(' '),
      caddyfile: caddyfile(PROXY_SPEC),
      drainTimeoutSeconds: 5,
      release,
      releaseArgs: release && image ? proxyRunArguments(SPEC, release, `label-${release}`, image) : undefined,
      preDeployArgs: preDeploy && image ? preDeployArguments(SPEC, image, preDeploy) : undefined,
    };
  }

  /** The program from prepare, sent `release` at `prepared`, as ContainerDeployment runs it: what it said before and after. */
  async function run(prepare: ProgramValues, release: ProgramValues): Promise<{ prepared: Ran; released: Ran }> {
    const events: string[][] = [];
    let at = -1;
    let write: (text: string) => void = () => {};
    const result = await host.shell.run({
      args: ['sh', '-s'],
      stdin: programText(prepare, PART_END),
      holdStdin: true,
      feed: (writer) => (write = writer),
      allowFailure: true,
      timeoutMs: 30_000,
      onLine: (line, stream) => {
        if (stream !== 'stdout' || !line.startsWith(`${EVENT_MARK}\t`)) return;
        events.push(line.split('\t').slice(1));
        if (line === `${EVENT_MARK}\tprepared`) {
          at = events.length;
          write(releasePart(release, PART_END));
        }
      },
    });
    if (at < 0) throw new Error(`prepare exited with ${result.exitCode}: ${JSON.stringify(events)}`);
    return { prepared: { exitCode: 0, events: events.slice(0, at) }, released: { exitCode: result.exitCode, events: events.slice(at) } };
  }

  const lock = { token: 'token-1', ttlSeconds: 600, info: 'run 1', waitSeconds: 0 };

  /** prepare (must succeed), then release of `image` as the release container `…-vN`. */
  async function deploy(image: string, options: { preDeploy?: string[] } = {}): Promise<{ prepared: Ran; released: Ran; release: string }> {
    const release = `${releaseContainerName(NAME, new Date(Date.UTC(2030, 0, 1, 0, 0, clock++)))}-${image === V2 ? 'v2' : 'v1'}`;
    const id = image === V2 ? V2_ID : V1_ID;
    const { prepared, released } = await run(
      { stage: 'prepare', name: NAME, lock, image, proxy: proxyValues() },
      {
        stage: 'release',
        name: NAME,
        lock,
        proxy: proxyValues(release, image, options.preDeploy),
        run: {
          action: 'deploy',
          label: image,
          image,
          args: [],
          env: 'MODE=prod\n',
          health: { kind: 'auto', timeoutSeconds: 2, settleSeconds: 0 },
          recordHead: `${JSON.stringify({ time: '2030-01-01T00:00:00.000Z', action: 'deploy', image, imageId: id }).slice(0, -1)},"result":`,
          prune: [],
          elapsedMs: 10,
        },
      },
    );
    return { prepared, released, release };
  }

  const labels = (name: string): string[] => host.containers()[name].labels;
  const reloads = (): number => host.reloads().length;
  const history = (): Record<string, unknown>[] =>
    readFileSync(join(host.dir(NAME), 'releases.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const releases = (): string[] => Object.keys(host.containers()).filter((name) => name !== PROXY);
  const live = (): boolean => existsSync(join(proxyDir, 'live-a'));
  return { host, run, deploy, labels, reloads, history, releases, live, proxyDir, proxyValues, lock };
}

const events = (ran: Ran, event: string): string[][] => ran.events.filter(([name]) => name === event).map(([, ...fields]) => fields);
const sequence = (ran: Ran): string[] => ran.events.map(([event, ...fields]) => (event === 'phase' ? `phase ${fields[0]}` : event));

describe('program, proxy mode', () => {
  it('deploys a first release into slot a, with the image port, then starts the proxy on the private network', async () => {
    const { host, deploy, labels, proxyDir, live, history } = fixture();
    const { released, release } = await deploy(V1);
    expect(released.exitCode).toBe(0);
    expect(sequence(released)).toEqual(['phase start', 'starting', 'phase health', 'healthy', 'phase switch', 'proxy-started', 'switched', 'phase drain', 'phase commit', 'unlocked', 'done']);
    expect(events(released, 'switched')[0][0]).toBe(release);
    expect(events(released, 'switched')[0][1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    expect(labels(release)).toEqual(expect.arrayContaining([`slipway.release=${NAME}`, 'slipway.slot=a', 'slipway.port=8080', `slipway.image=label-${release}`]));
    expect(live()).toBe(true);
    const file = readFileSync(join(proxyDir, 'Caddyfile'), 'utf8');
    expect(file).toContain('# ports: 8080 8080');
    expect(file).toContain('reverse_proxy slot-a:8080');
    expect(file).toContain('http://:18480 {');
    const argv = host.argv();
    expect(argv).toContain(`network create ${NET}`);
    expect(argv).toMatch(
      new RegExp(
        `run --detach --name ${PROXY} --restart unless-stopped --network ${NET} --label slipway.proxy=caddy:2 127.0.0.1:18480:18480 --publish 127.0.0.1:18480:18480 --volume ${proxyDir}:/etc/slipway:ro`,
      ),
    );
    // The release publishes nothing and joins the private network under its slot's alias.
    expect(argv).toMatch(new RegExp(`run --env-file \\S+ --network-alias slot-a --label slipway.slot=a --label slipway.port=8080 --detach --name ${release} --restart unless-stopped`));
    expect(argv).not.toMatch(new RegExp(`--name ${release}.*--publish`));
    expect(history()).toEqual([expect.objectContaining({ image: V1, result: 'ok' })]);
  });

  it('deploys again into slot b: switches by the live file without a reload, drains and removes the old release, and prepare reports what serves', async () => {
    const { deploy, labels, reloads, releases, live } = fixture();
    const first = await deploy(V1);
    const reloadsBefore = reloads();
    const { prepared, released, release } = await deploy(V2);
    expect(events(prepared, 'release')).toEqual([[first.release]]);
    expect(events(prepared, 'current')).toEqual([[V1_ID, 'running', `label-${first.release}`, V1]]);

    expect(released.exitCode).toBe(0);
    expect(sequence(released)).toEqual(['phase start', 'starting', 'phase health', 'healthy', 'phase switch', 'switched', 'phase drain', 'drained', 'phase commit', 'unlocked', 'done']);
    expect(labels(release)).toContain('slipway.slot=b');
    expect(live()).toBe(false);
    // Same ports: the Caddyfile stayed as it was, and Caddy was not reloaded.
    expect(reloads()).toBe(reloadsBefore);
    expect(events(released, 'drained')[0][0]).toBe(first.release);
    expect(releases()).toEqual([release]);

    const third = await deploy(V1);
    expect(third.released.exitCode).toBe(0);
    expect(live()).toBe(true);
    expect(releases()).toEqual([third.release]);
  });

  it('rewrites the Caddyfile and reloads the running proxy before the switch when the new release listens elsewhere', async () => {
    const { host, deploy, reloads, proxyDir } = fixture();
    await deploy(V1);
    host.exposes(V2_ID, ['3000/tcp']);
    const before = reloads();
    const { released } = await deploy(V2);
    expect(released.exitCode).toBe(0);
    expect(reloads()).toBe(before + 1);
    expect(readFileSync(join(proxyDir, 'Caddyfile'), 'utf8')).toContain('# ports: 8080 3000');
    expect(host.reloads().at(-1)).toContain('reverse_proxy slot-b:3000');
  });

  it('never switches to a release that fails health: it is removed, the old one keeps its slot, exit 6', async () => {
    const { host, deploy, releases, live, history } = fixture();
    const first = await deploy(V1);
    host.exitsAtOnce(V2_ID, 3);
    const { released } = await deploy(V2);
    expect(released.exitCode).toBe(6);
    expect(events(released, 'switched')).toEqual([]);
    expect(events(released, 'fail')[0][1]).toMatch(new RegExp(`exited with code 3; the proxy still sends every request to ${first.release}`));
    expect(live()).toBe(true);
    expect(releases()).toEqual([first.release]);
    expect(history().at(-1)).toMatchObject({ image: V2, result: 'rolled-back' });
  });

  it('records failed and exits 5 when a first release fails health: nothing was switched, and no proxy started', async () => {
    const { host, deploy, history } = fixture();
    host.exitsAtOnce(V1_ID, 3);
    const { released, release } = await deploy(V1);
    expect(released.exitCode).toBe(5);
    expect(events(released, 'fail')).toEqual([['health', `container ${release} exited with code 3; nothing was switched (there was no release before).`]]);
    expect(events(released, 'unlocked')).toEqual([['released']]);
    expect(history()).toEqual([expect.objectContaining({ image: V1, result: 'failed', error: `container ${release} exited with code 3; nothing was switched.` })]);
    expect(host.containers()).toEqual({});
  });

  it('runs pre-deploy with the env file and, when it fails, starts and switches nothing: exit 7, its output as events', async () => {
    const { host, deploy, releases, live, proxyDir } = fixture();
    const first = await deploy(V1, { preDeploy: ['./migrate', 'up'] });
    expect(events(first.released, 'pre-deploy-output')).toEqual([['./migrate up with env MODE=prod']]);
    expect(host.argv()).toMatch(new RegExp(`run --rm --env-file \\S+ --network ${NET} --volume data:/data --init ${V1.replace(/[.]/g, '\\.')} ./migrate up`));

    host.oneOffsExit(3);
    const caddy = readFileSync(join(proxyDir, 'Caddyfile'), 'utf8');
    const { released } = await deploy(V2, { preDeploy: ['./migrate', 'up'] });
    expect(released.exitCode).toBe(7);
    expect(events(released, 'fail')).toEqual([['pre-deploy', 'pre-deploy exited with 3; nothing was started or switched']]);
    expect(events(released, 'pre-deploy-output')).toHaveLength(1);
    expect(events(released, 'unlocked')).toEqual([['released']]);
    expect(releases()).toEqual([first.release]);
    expect(live()).toBe(true);
    expect(readFileSync(join(proxyDir, 'Caddyfile'), 'utf8')).toBe(caddy);
    // The env file went with the failure.
    expect(readdirSync(host.dir(NAME)).filter((file) => file.startsWith('env-'))).toEqual([]);
  });

  it.each([
    [[], /EXPOSEs no port, so the proxy does not know where the app listens: give app-port\./],
    [['8080/tcp', '9090/tcp'], /EXPOSEs several ports \(8080\/tcp 9090\/tcp\): give app-port/],
  ])('fails before starting anything when the image EXPOSEs %j', async (exposed, message) => {
    const { host, deploy, releases } = fixture();
    host.exposes(V1_ID, exposed);
    const { released } = await deploy(V1);
    expect(released.exitCode).toBe(1);
    expect(events(released, 'fail')[0][1]).toMatch(message);
    expect(events(released, 'unlocked')).toEqual([['released']]);
    expect(releases()).toEqual([]);
  });
});
