/**
 * Round trips on the critical path (issue 11): each case timed through the sandbox's delay relay in
 * front of the host's sshd, once with the relay adding nothing and once adding `DELAY_MS` of round
 * trip, in the same run. (time at DELAY_MS − time at 0 ms) / DELAY_MS is the number of round trips
 * the case waits for: the relay's own cost, the host's work and Node's start are in both and cancel.
 *
 * Beside each case, the same deployment as users write it by hand: one OpenSSH `ssh` running
 * `docker login … && docker pull … && docker rm -f … && docker run …`, through the same relay.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { exec, mustExec } from '../test/e2e/support/exec.js';
import { connectionInputs, removeDeploymentDir } from '../test/e2e/support/ec2-deploy.js';
import { repoRoot, runAction } from '../test/e2e/support/run-action.js';
import type { Sandbox, SandboxHost } from '../test/e2e/support/sandbox.js';

/** `host.sh delay <i> <ms>` holds each chunk ms/2 in each direction: <ms> is the added round trip. */
export const DELAY_MS = 100;
type Delay = 0 | typeof DELAY_MS;
const FAN_OUT_HOSTS = 8;

// Names and ports of their own (18091..18096), away from the demo (80, 8080), the tests (18080,
// 8090) and the rest of the bench (18090).
const APP = { name: 'bench-rt-app', port: 18091 };
const HAND = { name: 'bench-rt-hand', port: 18092 };
const STACK = { project: 'bench-rt-stack', port: 18093 };
const HAND_STACK = { project: 'bench-rt-hand-stack', port: 18094 };
const FAN = { name: 'bench-rt-fan', port: 18095 };
const HAND_FAN = { name: 'bench-rt-hand-fan', port: 18096 };

export interface RoundTripImages {
  /** Deployed first, then again, then rolled back to; removed from the host before each first deploy. */
  a: string;
  /** The release rolled back from. */
  b: string;
  /** What the compose stack and the fan-out run: never removed during the section. */
  steady: string;
  /** Repositories of the images above, whose images on the hosts the section removes. */
  repositories: { firstDeploy: string; steady: string };
}

/** One case's wall times, at each delay, for Slipway and by hand. */
interface Samples {
  action: Record<Delay, number[]>;
  hand: Record<Delay, number[]>;
}

const CASES = ['redeploy', 'first', 'rollback', 'compose', 'script', 'script-stdin', 'script8', 'fan1', 'fan8'] as const;
type CaseName = (typeof CASES)[number];

export interface RoundTripResult {
  delayMs: number;
  runs: number;
  /** `action` is missing for a case measured by hand only (script-stdin). */
  cases: Record<CaseName, { action: Record<Delay, number>; hand: Record<Delay, number> }>;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

function progress(message: string): void {
  process.stderr.write(`bench: round trips: ${message}\n`);
}

const hostSh = join(repoRoot, 'test/sandbox/host.sh');
const hostIndex = (host: SandboxHost): string => {
  const index = /^h(\d+)$/.exec(host.name)?.[1];
  if (!index) throw new Error(`sandbox host named ${host.name}, not h<i>`);
  return index;
};

/**
 * The hosts' relays, restarted only when a host's delay changes. A relay is the measuring
 * instrument: on a busy machine its timers must not wait for a CPU, hence a higher priority.
 */
class Relays {
  private readonly current = new Map<string, Delay>();
  private readonly stateDir: string;
  constructor(stateDir: string) {
    this.stateDir = stateDir;
  }
  set(hosts: readonly SandboxHost[], ms: Delay): void {
    for (const host of hosts) {
      if (this.current.get(host.name) === ms) continue;
      mustExec(['bash', hostSh, 'delay', hostIndex(host), String(ms)]);
      const pid = readFileSync(join(this.stateDir, 'relays', `${host.name}.pid`), 'utf8').trim();
      exec(['renice', '-n', '-10', '-p', pid]);
      this.current.set(host.name, ms);
    }
  }
}

interface Measurement {
  name: CaseName;
  side: 'action' | 'hand';
  /** The hosts whose relays the timed step goes through. */
  hosts: readonly SandboxHost[];
  setup?: () => Promise<unknown>;
  prepare?: () => unknown;
  measure: () => Promise<number>;
}

function undelay(hosts: readonly SandboxHost[]): void {
  for (const host of hosts) {
    const result = exec(['bash', hostSh, 'undelay', hostIndex(host)]);
    if (result.status !== 0) progress(`host.sh undelay ${hostIndex(host)} failed: ${result.stderr.trim()}`);
  }
}

/**
 * The relay listens on 127.0.0.1:delayPort and hands the TCP stream to the host's sshd: the host's
 * own key, pinned under the address dialled, as known_hosts writes a non-22 port. Each line names
 * one port, so no relay is accepted with another host's key.
 */
const relayKnownHostsLine = (host: SandboxHost): string => `[127.0.0.1]:${host.delayPort} ${host.knownHostsLine.slice(host.knownHostsLine.indexOf(' ') + 1)}`;

function relayConnection(sandbox: Sandbox, hosts: readonly SandboxHost[]): Record<string, string> {
  return {
    hosts: hosts.map((host) => `${host.user}@127.0.0.1:${host.delayPort}`).join('\n'),
    'ssh-key': readFileSync(sandbox.keys.ed25519, 'utf8'),
    'host-fingerprints': hosts.map(relayKnownHostsLine).join('\n'),
  };
}

const registryInputs = (sandbox: Sandbox) => ({ 'registry-username': sandbox.registry.username, 'registry-password': sandbox.registry.password });

function containerInputs(sandbox: Sandbox, app: { name: string; port: number }, image: string): Record<string, string> {
  return { image, name: app.name, ports: `${app.port}:8080`, 'run-args': '--init', ...registryInputs(sandbox) };
}

/** Runs an action's bundle; its wall time in ms. Throws when it fails: a failed run measures nothing. */
async function timedAction(action: 'ec2-deploy' | 'compose-up', inputs: Record<string, string>, cwd?: string): Promise<number> {
  const started = performance.now();
  const result = await runAction(action, { inputs, cwd, timeoutMs: 600_000 });
  const elapsed = performance.now() - started;
  if (result.exitCode !== 0) throw new Error(`${action} failed:\n${result.errors.join('\n')}\n${result.log.slice(-4000)}`);
  return elapsed;
}

// --- by hand ---------------------------------------------------------------------------------

const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

/**
 * A throwaway DOCKER_CONFIG for `docker login`: the token must not stay in the deploy user's home
 * (the e2e tests check no file there holds it), and a careful user does the same.
 */
function loginCommands(sandbox: Sandbox): string[] {
  return [
    'export DOCKER_CONFIG="$(mktemp -d)"',
    `trap 'rm -rf "$DOCKER_CONFIG"' EXIT`,
    `docker login -u ${quote(sandbox.registry.username)} --password-stdin ${quote(sandbox.registry.host)} >/dev/null`,
  ];
}

/**
 * What users write today, in one `ssh`. With `waitHealthy`, it then polls the container's health on
 * the host (the docker work ec2-deploy waits for), for the fan-out's "same docker commands".
 */
function handDeployCommand(sandbox: Sandbox, app: { name: string; port: number }, image: string, waitHealthy = false): string {
  const name = quote(app.name);
  return [
    ...loginCommands(sandbox),
    `docker pull ${quote(image)} >/dev/null`,
    `{ docker rm -f ${name} >/dev/null 2>&1 || true; }`,
    `docker run -d --name ${name} --restart unless-stopped -p ${app.port}:8080 --init ${quote(image)} >/dev/null`,
    ...(waitHealthy ? [`n=0; until [ "$(docker inspect -f '{{.State.Health.Status}}' ${name})" = healthy ]; do n=$((n+1)); [ $n -lt 480 ] || exit 1; sleep 0.25; done`] : []),
  ].join(' && ');
}

function handComposeCommand(sandbox: Sandbox): string {
  return [...loginCommands(sandbox), `cd ${HAND_STACK.project}`, 'docker-compose pull -q', 'docker-compose up -d'].join(' && ');
}

interface SshTarget {
  address: string;
  port: number;
  knownHosts: string;
}

/** The OpenSSH client as a user runs it, host key checked; `input` on its stdin. Its wall time in ms. */
function timedSsh(sandbox: Sandbox, host: SandboxHost, target: SshTarget, command: string, input = ''): Promise<number> {
  const args = [
    '-F',
    'none',
    '-i',
    sandbox.keys.ed25519,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    `UserKnownHostsFile=${target.knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-p',
    String(target.port),
    `${host.user}@${target.address}`,
    command,
  ];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('ssh', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const elapsed = performance.now() - started;
      if (code === 0) resolve(elapsed);
      else reject(new Error(`ssh ${host.name} (${target.address}:${target.port}) exited ${code}: ${stderr.slice(-2000)}`));
    });
    child.stdin.end(input);
  });
}

// --- host state ------------------------------------------------------------------------------

function hostDocker(host: SandboxHost, ...args: string[]) {
  return exec(['docker', '-H', host.dockerHost, ...args]);
}

function removeContainers(host: SandboxHost, names: string[]): void {
  hostDocker(host, 'rm', '--force', ...names.flatMap((name) => [name, `${name}-slipway-previous`]));
}

function removeImages(host: SandboxHost, repository: string): void {
  const ids = hostDocker(host, 'images', '--quiet', '--no-trunc', repository).stdout.split('\n').filter(Boolean);
  if (ids.length) hostDocker(host, 'image', 'rm', '--force', ...new Set(ids));
}

function removeStack(host: SandboxHost, project: string): void {
  const ids = hostDocker(host, 'ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`).stdout.split('\n').filter(Boolean);
  if (ids.length) hostDocker(host, 'rm', '--force', ...ids);
  hostDocker(host, 'network', 'rm', `${project}_default`);
}

/** h1 as before any deployment of A: no container, no image of A or B, no release history. */
function resetFirstDeployHost(host: SandboxHost, images: RoundTripImages): void {
  removeContainers(host, [APP.name, HAND.name]);
  removeImages(host, images.repositories.firstDeploy);
  removeDeploymentDir(host, APP.name);
}

/** Everything the section left on `hosts`. */
export function cleanUpRoundTrips(hosts: readonly SandboxHost[], images: Pick<RoundTripImages, 'repositories'>): void {
  for (const host of hosts) {
    removeContainers(host, [APP.name, HAND.name, FAN.name, HAND_FAN.name]);
    for (const project of [STACK.project, HAND_STACK.project]) removeStack(host, project);
    for (const repository of Object.values(images.repositories)) removeImages(host, repository);
    for (const name of [APP.name, FAN.name]) removeDeploymentDir(host, name);
    for (const dir of [join('slipway', STACK.project), HAND_STACK.project]) {
      rmSync(join(host.home, dir), { recursive: true, force: true });
    }
  }
}

/** A small stack from the bench image (busybox httpd with a HEALTHCHECK): two services, one published. */
function stackFile(image: string, port: number): string {
  return ['services:', '  app:', `    image: ${image}`, '    init: true', '    ports:', `      - "${port}:8080"`, '  worker:', `    image: ${image}`, '    init: true', ''].join('\n');
}

// --- the section -----------------------------------------------------------------------------

/** Every case, or those of `only`: the others are left out of the result and the report. */
export async function roundTrips(sandbox: Sandbox, images: RoundTripImages, runs: number, only?: readonly string[]): Promise<RoundTripResult> {
  const unknown = only?.filter((name) => !(CASES as readonly string[]).includes(name)) ?? [];
  if (unknown.length) throw new Error(`--cases takes some of ${CASES.join(', ')}, not ${unknown.join(', ')}`);
  const fanHosts = sandbox.hosts.slice(0, FAN_OUT_HOSTS);
  if (fanHosts.length < FAN_OUT_HOSTS) throw new Error(`the round-trip section needs ${FAN_OUT_HOSTS} sandbox hosts (test/sandbox/up.sh --hosts ${FAN_OUT_HOSTS})`);
  const host = fanHosts[0];
  const work = mkdtempSync(join(tmpdir(), 'slipway-bench-rt-'));
  const samples = Object.fromEntries(CASES.map((name) => [name, { action: { 0: [], [DELAY_MS]: [] }, hand: { 0: [], [DELAY_MS]: [] } }])) as unknown as Record<CaseName, Samples>;
  // An interrupted bench (Ctrl-C, a timeout's SIGTERM) runs no `finally`: undelay from the signal too.
  const onSignal = (signal: NodeJS.Signals) => {
    undelay(fanHosts);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const relays = new Relays(sandbox.stateDir);
  try {
    // known_hosts for OpenSSH: the hosts at their own addresses (set-up) and behind their relays.
    const knownHosts = { direct: join(work, 'known_hosts.direct'), relay: join(work, 'known_hosts.relay') };
    writeFileSync(knownHosts.direct, fanHosts.map((h) => h.knownHostsLine).join('\n') + '\n');
    writeFileSync(knownHosts.relay, fanHosts.map(relayKnownHostsLine).join('\n') + '\n');
    const direct = (h: SandboxHost): SshTarget => ({ address: h.address, port: h.port, knownHosts: knownHosts.direct });
    const relay = (h: SandboxHost): SshTarget => ({ address: '127.0.0.1', port: h.delayPort, knownHosts: knownHosts.relay });
    const password = sandbox.registry.password;

    // compose-up's workspace, and the same stack on the host for the by-hand `docker-compose up`.
    const workspace = join(work, 'workspace');
    mkdirSync(workspace);
    writeFileSync(join(workspace, 'compose.yml'), stackFile(images.steady, STACK.port));
    const composeInputs = (connection: Record<string, string>) => ({ ...connection, 'project-name': STACK.project, 'wait-timeout': '60s', ...registryInputs(sandbox) });

    const deployA = (app: typeof APP) => ({ ...containerInputs(sandbox, app, images.a) });
    const handA = handDeployCommand(sandbox, HAND, images.a);
    const handFan = handDeployCommand(sandbox, HAND_FAN, images.steady, true);
    const fanInputs = (connection: Record<string, string>) => ({ ...connection, ...containerInputs(sandbox, FAN, images.steady) });
    const one = [host];
    // Each measurement: `setup` once (the state it starts from, made at the hosts' own addresses,
    // undelayed), `prepare` before every timing, then the timed step through the relays.
    const measurements: Measurement[] = [
      { name: 'first', side: 'hand', hosts: one, prepare: () => resetFirstDeployHost(host, images), measure: () => timedSsh(sandbox, host, relay(host), handA, password) },
      { name: 'redeploy', side: 'hand', hosts: one, setup: () => timedSsh(sandbox, host, direct(host), handA, password), measure: () => timedSsh(sandbox, host, relay(host), handA, password) },
      {
        name: 'rollback',
        side: 'hand',
        hosts: one,
        setup: () => timedSsh(sandbox, host, direct(host), handA, password),
        prepare: () => timedSsh(sandbox, host, direct(host), handDeployCommand(sandbox, HAND, images.b), password),
        measure: () => timedSsh(sandbox, host, relay(host), handA, password),
      },
      { name: 'first', side: 'action', hosts: one, prepare: () => resetFirstDeployHost(host, images), measure: () => timedAction('ec2-deploy', { ...relayConnection(sandbox, one), ...deployA(APP) }) },
      {
        name: 'redeploy',
        side: 'action',
        hosts: one,
        setup: () => timedAction('ec2-deploy', { ...connectionInputs(sandbox, one), ...deployA(APP) }),
        measure: () => timedAction('ec2-deploy', { ...relayConnection(sandbox, one), ...deployA(APP) }),
      },
      {
        name: 'rollback',
        side: 'action',
        hosts: one,
        setup: () => timedAction('ec2-deploy', { ...connectionInputs(sandbox, one), ...deployA(APP) }),
        prepare: () => timedAction('ec2-deploy', { ...connectionInputs(sandbox, one), ...containerInputs(sandbox, APP, images.b) }),
        measure: () => timedAction('ec2-deploy', { ...relayConnection(sandbox, one), name: APP.name, rollback: 'true', ...registryInputs(sandbox) }),
      },
      { name: 'script', side: 'action', hosts: one, measure: () => timedAction('ec2-deploy', { ...relayConnection(sandbox, one), script: 'true' }) },
      { name: 'script', side: 'hand', hosts: one, measure: () => timedSsh(sandbox, host, relay(host), 'true') },
      // By hand again, the script sent as Slipway sends it: on the exec's stdin, not on its command line.
      { name: 'script-stdin', side: 'hand', hosts: one, measure: () => timedSsh(sandbox, host, relay(host), 'bash -s', 'true\n') },
      { name: 'script8', side: 'action', hosts: fanHosts, measure: () => timedAction('ec2-deploy', { ...relayConnection(sandbox, fanHosts), script: 'true' }) },
      {
        name: 'script8',
        side: 'hand',
        hosts: fanHosts,
        measure: async () => {
          const started = performance.now();
          await Promise.all(fanHosts.map((h) => timedSsh(sandbox, h, relay(h), 'true')));
          return performance.now() - started;
        },
      },
      {
        name: 'compose',
        side: 'action',
        hosts: one,
        setup: () => timedAction('compose-up', composeInputs(connectionInputs(sandbox, one)), workspace),
        measure: () => timedAction('compose-up', composeInputs(relayConnection(sandbox, one)), workspace),
      },
      {
        name: 'compose',
        side: 'hand',
        hosts: one,
        setup: async () => {
          await timedSsh(sandbox, host, direct(host), `mkdir -p ${HAND_STACK.project} && cat >${HAND_STACK.project}/docker-compose.yml`, stackFile(images.steady, HAND_STACK.port));
          return timedSsh(sandbox, host, direct(host), handComposeCommand(sandbox), password);
        },
        measure: () => timedSsh(sandbox, host, relay(host), handComposeCommand(sandbox), password),
      },
      {
        name: 'fan1',
        side: 'action',
        hosts: one,
        setup: () => timedAction('ec2-deploy', fanInputs(connectionInputs(sandbox, fanHosts))),
        measure: () => timedAction('ec2-deploy', fanInputs(relayConnection(sandbox, one))),
      },
      { name: 'fan8', side: 'action', hosts: fanHosts, measure: () => timedAction('ec2-deploy', fanInputs(relayConnection(sandbox, fanHosts))) },
      {
        name: 'fan1',
        side: 'hand',
        hosts: one,
        setup: () => Promise.all(fanHosts.map((h) => timedSsh(sandbox, h, direct(h), handFan, password))),
        measure: () => timedSsh(sandbox, host, relay(host), handFan, password),
      },
      {
        name: 'fan8',
        side: 'hand',
        hosts: fanHosts,
        measure: async () => {
          const started = performance.now();
          await Promise.all(fanHosts.map((h) => timedSsh(sandbox, h, relay(h), handFan, password)));
          return performance.now() - started;
        },
      },
    ];

    cleanUpRoundTrips(fanHosts, images);
    for (const measurement of measurements.filter((m) => !only || only.includes(m.name))) {
      const { name, side } = measurement;
      await measurement.setup?.();
      for (let run = 0; run < runs; run++) {
        // Each timing at one delay sits next to one at the other, and which goes first alternates:
        // the machine getting busier or quieter (it is shared) then lands on both sides alike.
        for (const delay of run % 2 ? [DELAY_MS, 0] : [0, DELAY_MS]) {
          relays.set(measurement.hosts, delay as Delay);
          await measurement.prepare?.();
          const ms = await measurement.measure();
          samples[name][side][delay as Delay].push(ms);
          progress(`${name}, ${side === 'action' ? 'Slipway' : 'by hand'}, run ${run + 1} of ${runs}, ${delay} ms: ${Math.round(ms)} ms`);
        }
      }
    }
  } finally {
    // Relays left delayed would slow every test after the bench.
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    undelay(fanHosts);
    cleanUpRoundTrips(fanHosts, images);
    rmSync(work, { recursive: true, force: true });
  }
  const cases = Object.fromEntries(
    CASES.filter((name) => samples[name].action[0].length || samples[name].hand[0].length).map((name) => [
      name,
      {
        action: samples[name].action[0].length ? { 0: median(samples[name].action[0]), [DELAY_MS]: median(samples[name].action[DELAY_MS]) } : undefined,
        hand: { 0: median(samples[name].hand[0]), [DELAY_MS]: median(samples[name].hand[DELAY_MS]) },
      },
    ]),
  ) as unknown as RoundTripResult['cases'];
  return { delayMs: DELAY_MS, runs, cases };
}

// --- the report ------------------------------------------------------------------------------

const seconds = (value: number) => `${(value / 1000).toFixed(2)} s`;
const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');

/** The section of BENCHMARKS.md: the table, then how it was measured. */
export function roundTripReport(result: RoundTripResult): string[] {
  const { cases, delayMs } = result;
  const trips = (times: Record<Delay, number>) => (times[DELAY_MS] - times[0]) / delayMs;
  const cell = (times: Record<Delay, number>) => `${trips(times).toFixed(1)} (${seconds(times[0])} → ${seconds(times[DELAY_MS])})`;
  const row = (label: string, name: CaseName, target?: number): string[] => {
    if (!cases[name]) return [];
    const { action, hand } = cases[name] as { action?: Record<Delay, number>; hand: Record<Delay, number> };
    const judged = target === undefined || !action ? '| | |' : `| ≤ ${target} | ${verdict(trips(action) <= target)} |`;
    return [`| ${label} | ${action ? cell(action) : ''} | ${cell(hand)} ${judged}`];
  };
  const added = (name: 'fan1' | 'fan8' | 'script' | 'script8') => cases[name].action[DELAY_MS] - cases[name].hand[DELAY_MS];
  // Script mode has no docker work on the hosts, so what 8 hosts add there is the runner's side alone.
  const scriptRatioCell = (): string => {
    const [one, eight] = [added('script'), added('script8')];
    const own = `Slipway's own time ${(cases.script8.action[DELAY_MS] / cases.script.action[DELAY_MS]).toFixed(2)}× that on 1 host`;
    // 8 OpenSSH clients at once cost the runner more than Slipway's one process: the time added on
    // 8 hosts can then be below nothing, which is within the target, not a ratio to print.
    if (one <= 0) return `not measurable in this run: 1 host added ${seconds(one)} | | ≤ 1.3× | **not measured**`;
    const addedText = `${eight >= 0 ? '+' : ''}${seconds(eight)} against +${seconds(one)}`;
    return `${eight >= 0 ? `${(eight / one).toFixed(2)}×` : 'nothing added'} (${addedText}; ${own}) | | ≤ 1.3× | ${verdict(eight <= 1.3 * one)}`;
  };
  // On a shared 2-core machine the by-hand side can take longer than Slipway's; then the load, not
  // Slipway, decides the row, and a negative "ratio" must not read as a target met.
  const ratioCell = (): string => {
    const ratio = added('fan8') / added('fan1');
    return added('fan1') > 0 && added('fan8') >= 0
      ? `${ratio.toFixed(2)}× (+${seconds(added('fan8'))} against +${seconds(added('fan1'))}) | | ≤ 1.3× | ${verdict(ratio <= 1.3)}`
      : `not measurable in this run: Slipway ${seconds(cases.fan8.action[DELAY_MS])} and ${seconds(cases.fan1.action[DELAY_MS])}, the same docker commands ${seconds(cases.fan8.hand[DELAY_MS])} and ${seconds(cases.fan1.hand[DELAY_MS])} (8 hosts and 1) | | ≤ 1.3× | **not measured**`;
  };
  return [
    `## Round trips (${delayMs} ms of added round trip against 0 ms)`,
    '',
    `Round trips: (time at ${delayMs} ms − time at 0 ms) / ${delayMs} ms, each time the median of ${result.runs}; the times in parentheses, at 0 ms → at ${delayMs} ms.`,
    '',
    '| case | Slipway: round trips (time) | by hand: round trips (time) | target | |',
    '| --- | --- | --- | --- | --- |',
    ...row('ec2-deploy re-deploy of the running image', 'redeploy', 12),
    ...row('ec2-deploy first deploy', 'first', 14),
    ...row('ec2-deploy rollback', 'rollback', 14),
    ...row('compose-up re-deploy of an unchanged stack', 'compose', 16),
    ...row('ec2-deploy script mode (`true`)', 'script', 8),
    ...row('script mode, by hand with the script on stdin (`ssh … bash -s`)', 'script-stdin'),
    ...row(`ec2-deploy script mode, ${FAN_OUT_HOSTS} hosts at once`, 'script8'),
    ...(cases.script && cases.script8 ? [`| time added beyond the same commands, script mode, ${FAN_OUT_HOSTS} hosts at once against 1, at ${delayMs} ms | ${scriptRatioCell()} |`] : []),
    ...row(`ec2-deploy re-deploy, 1 host (beside the next row)`, 'fan1'),
    ...row(`ec2-deploy re-deploy, ${FAN_OUT_HOSTS} hosts at once`, 'fan8'),
    ...(cases.fan1 && cases.fan8 ? [`| time added beyond the same docker commands, ${FAN_OUT_HOSTS} hosts at once against 1, at ${delayMs} ms | ${ratioCell()} |`] : []),
    '',
    '### Method',
    '',
    `- Each host's sshd is reached through \`test/sandbox/host.sh delay <i> <ms>\`: a TCP relay on 127.0.0.1:(22000+i)`,
    `  that holds every chunk <ms>/2 in each direction, so \`delay <i> ${delayMs}\` adds exactly ${delayMs} ms to each round trip`,
    '  (`tc netem` is not in this kernel). Both sides go through the relay: at 0 ms with `delay <i> 0`, at',
    `  ${delayMs} ms with \`delay <i> ${delayMs}\`, so the relay's own cost, the host's work and Node's start cancel out in the`,
    '  difference. Each case is timed at one delay right after the other, which goes first alternating from run to',
    '  run, so a change in how busy the machine is lands on both sides. The relays run at a higher priority. The relay accepts the TCP',
    '  connection itself, at once: the TCP handshake is not delayed, so on a real network each new connection',
    '  costs about 1.5 round trips more (SYN, SYN-ACK, and the ACK before sshd can send its banner) than counted here.',
    '- Host keys are verified: the action gets `hosts: deploy<i>@127.0.0.1:<22000+i>` and, as `host-fingerprints`,',
    "  each host's key as a known_hosts line for `[127.0.0.1]:<22000+i>` (the address dialled); OpenSSH gets the",
    '  same lines as its `UserKnownHostsFile`, with `StrictHostKeyChecking=yes`.',
    '- ec2-deploy (bundle in `actions/ec2-deploy/dist`, run as the runner does) on h1 with a 4 MiB busybox image',
    '  with a HEALTHCHECK: first deploy (no container, image or history on the host), re-deploy of the image it',
    "  runs, and rollback (after a deploy of a second image, made at the host's own address, undelayed). Script",
    '  mode: `script: true`.',
    '- compose-up: a re-deploy of an unchanged two-service stack of that image (one port published, health from',
    "  the image), deployed once before at the host's own address; `pull` is the default, `always`.",
    "- By hand: one `ssh -i <key> -o UserKnownHostsFile=<file> deploy<i>@127.0.0.1 -p <port> '…'` (OpenSSH) running",
    "  `docker login --password-stdin` (the token on ssh's stdin, into a throwaway `DOCKER_CONFIG`) `&& docker pull",
    '  && docker rm -f && docker run -d`, in the same states of the host; for compose, `docker login && docker-compose',
    '  pull && docker-compose up -d` in a directory holding the same stack; for script mode, `ssh … true`, and',
    '  `ssh … bash -s` with `true` on its stdin, as Slipway sends a script (so that neither the script nor the values',
    "  it exports show in the host's process list). By hand waits for nothing after `docker run`: the time Slipway",
    '  takes beyond it includes waiting for health.',
    `- ${FAN_OUT_HOSTS} hosts at once: a re-deploy of the running image on h1, then on h1–h${FAN_OUT_HOSTS} with \`max-parallel: 0\`. "The same`,
    '  docker commands" there are the by-hand `ssh` plus a loop on the host (every 0.25 s) until docker reports the container',
    `  healthy, run on 1 host and on ${FAN_OUT_HOSTS} at once. Time added = Slipway's time − that time, at ${delayMs} ms; the ratio is`,
    `  the added time on ${FAN_OUT_HOSTS} hosts over the added time on 1.`,
    `- Script mode on ${FAN_OUT_HOSTS} hosts at once: \`script: true\` on h1–h${FAN_OUT_HOSTS}, against ${FAN_OUT_HOSTS} \`ssh … true\` started at once. No docker`,
    '  work runs on the hosts, so the 8 sandbox hosts hardly load the 2 cores: the time added over the same commands',
    "  on 8 hosts against 1 is the runner's side of the fan-out (one Node process, 8 connections) and the round trips.",
    '',
  ];
}
