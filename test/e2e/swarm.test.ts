/**
 * compose-up `mode: swarm` on a 3-node swarm across sandbox hosts h1..h3, formed as a user forms one
 * (test/sandbox/swarm.sh: `swarm init` on h1, `swarm join` on h2 and h3): a stack of the fixture's
 * app with three replicas spread over the nodes, pulled privately by every node with the registry auth the manager
 * forwards; a rolling update (start-first, one at a time); an image failing its health check rolled
 * back by swarm; and `hosts` naming several hosts of which the first manager that answers is used.
 * The sandbox kernel has no IPVS: the stack uses dnsrr and publishes nothing, and the replicas are
 * reached from a client container on the stack's attachable overlay network.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { composeWorkspace, fixtureDir, pushAppImage } from './support/compose-app.js';
import { hostAddress, hostDocker } from './support/ec2-deploy.js';
import { docker, exec, mustExec } from './support/exec.js';
import { containing, filesUnder } from './support/files.js';
import { repoRoot, runAction, type ActionResult } from './support/run-action.js';
import { loadSandbox, type Sandbox, type SandboxHost } from './support/sandbox.js';

const stack = 'slipway-e2e-swarm';
const service = `${stack}_app`;
const network = `${stack}_web`;
const swarmScript = join(repoRoot, 'test/sandbox/swarm.sh');
let sandbox: Sandbox;
let hosts: SandboxHost[];
let manager: SandboxHost;
let workspace: string;
let images: { v1: string; v2: string; broken: string };
/** Each image's page, unique to this run, so that no host has these images before the test. */
let pages: { v1: string; v2: string };

interface Task {
  target: string;
  service: string;
  task: string;
  node: string;
  nodeAddress: string;
  state: string;
  image: string;
  error: string;
}

function connection(targets: readonly SandboxHost[]): Record<string, string> {
  return {
    hosts: targets.map(hostAddress).join('\n'),
    'ssh-key': readFileSync(sandbox.keys.ed25519, 'utf8'),
    'host-fingerprints': sandbox.hosts.map((h) => h.hostKeyFingerprint).join('\n'),
    'registry-username': sandbox.registry.username,
    'registry-password': sandbox.registry.password,
  };
}

function deploy(image: string, inputs: Record<string, string> = {}): Promise<ActionResult> {
  return runAction('compose-up', {
    cwd: workspace,
    inputs: {
      ...connection([manager]),
      mode: 'swarm',
      'project-name': stack,
      'compose-files': 'stack-3.yml',
      images: `app=${image}`,
      // vars, not env: env values are secrets, masked wherever they appear in the log.
      vars: 'GREETING=three nodes',
      'wait-timeout': '240s',
      ...inputs,
    },
    timeoutMs: 360_000,
  });
}

/** The service's running containers on each host, by host name. */
function containersByHost(): Map<string, string[]> {
  return new Map(hosts.map((h) => [h.name, hostDocker(h, 'ps', '-q', '--filter', `label=com.docker.swarm.service.name=${service}`).split('\n').filter(Boolean)]));
}

/**
 * What every replica answers, each asked at its own address on the overlay network, from a client
 * container on the manager: across nodes, through VXLAN. Also what the service's name answers.
 */
function answers(): { byReplica: string[]; byName: string } {
  const addresses: string[] = [];
  for (const host of hosts) {
    for (const id of containersByHost().get(host.name) ?? []) {
      addresses.push(hostDocker(host, 'inspect', '--format', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, id));
    }
  }
  // busybox's static wget segfaults with -T: timeout(1) bounds it instead.
  const script = [...addresses.map((a) => `timeout 5 wget -qO- http://${a}:3000/ || echo "no answer from ${a}"`), 'echo ---', 'timeout 5 wget -qO- http://app:3000/ || echo "no answer from app"'].join('; ');
  const output = hostDocker(manager, 'run', '--rm', '--network', network, sandbox.baseImage, 'sh', '-c', script);
  const [byReplica, byName] = output.split('---');
  return { byReplica: byReplica.split('\n').filter(Boolean), byName: byName.trim() };
}

function updateState(): string {
  return hostDocker(manager, 'service', 'inspect', '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}', service);
}

/** 3 tasks running `image`, each on a node of the swarm, as the engines see them too. */
function expectRunning(tasks: readonly Task[], image: string): void {
  expect(tasks).toHaveLength(3);
  for (const task of tasks) expect(task).toMatchObject({ target: hostAddress(manager), service, state: 'running', image, error: '' });
  for (const task of tasks) expect(hosts.map((h) => h.address)).toContain(task.nodeAddress);
  const perHost = containersByHost();
  for (const host of hosts) {
    const here = tasks.filter((t) => t.nodeAddress === host.address).length;
    expect({ host: host.name, replicas: perHost.get(host.name)?.length }).toEqual({ host: host.name, replicas: here });
  }
}

/** And one on each node. */
function expectSpread(tasks: readonly Task[], image: string): void {
  expectRunning(tasks, image);
  expect(tasks.map((t) => t.nodeAddress).sort()).toEqual(hosts.map((h) => h.address).sort());
}

beforeAll(() => {
  // Three hosts (up.sh is idempotent and keeps what it has), then the swarm over them.
  mustExec(['bash', join(repoRoot, 'test/sandbox/up.sh'), '--hosts', '3']);
  sandbox = loadSandbox();
  hosts = ['h1', 'h2', 'h3'].map((name) => sandbox.hosts.find((h) => h.name === name)!);
  manager = hosts[0];
  mustExec(['bash', swarmScript, 'up', '1,2,3']);
  workspace = composeWorkspace(sandbox);
  const file = join(workspace, 'stack-3.yml');
  cpSync(join(fixtureDir, 'stack-3.yml'), file);
  writeFileSync(file, readFileSync(file, 'utf8').replaceAll('10.210.0.1:5000/', `${sandbox.registry.host}/`));
  const run = Date.now().toString(36);
  pages = { v1: `swarm v1 ${run}`, v2: `swarm v2 ${run}` };
  images = {
    v1: pushAppImage(sandbox, 'swarm-v1', pages.v1),
    v2: pushAppImage(sandbox, 'swarm-v2', pages.v2),
    broken: pushAppImage(sandbox, 'swarm-broken', `swarm broken ${run}`, { broken: true }),
  };
}, 600_000);

afterAll(() => {
  if (!manager) return;
  docker(manager.dockerHost, 'stack', 'rm', stack);
  // Every node leaves (workers first): other tests expect h1..h3 outside any swarm.
  exec(['bash', swarmScript, 'down', '1,2,3']);
  exec(['rm', '-rf', join(manager.home, 'slipway', stack)]);
}, 120_000);

describe('compose-up (3-node swarm)', () => {
  it('deploys 3 replicas on 3 nodes, pulled by each node with the forwarded registry auth, answering on the overlay', async () => {
    // No node has the image: the workers can only run it by pulling with the manager's forwarded login.
    for (const host of hosts) expect(docker(host.dockerHost, 'image', 'inspect', images.v1).status).not.toBe(0);
    const result = await deploy(images.v1);
    expect(result.errors).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(result.log).toContain(`Deploying stack ${stack} through the swarm manager ${hostAddress(manager)}`);

    const tasks = JSON.parse(result.outputs.tasks) as Task[];
    expectSpread(tasks, images.v1);
    for (const host of hosts) expect(docker(host.dockerHost, 'image', 'inspect', images.v1).status).toBe(0);
    for (const task of tasks) expect(result.log).toContain(`${task.task}: running on ${task.node} (${task.nodeAddress})`);
    expect(result.summary).toMatch(new RegExp(`\\| ${service}\\.1 \\| [^|]+ \\(10\\.210\\.0\\.1[123]\\) \\| running \\|`));

    const { byReplica, byName } = answers();
    expect(byReplica).toEqual([pages.v1, pages.v1, pages.v1]);
    expect(byName).toBe(pages.v1);

    // The login compose-up made on the manager is gone; the swarm keeps the forwarded auth itself.
    expect(containing(filesUnder(manager.home), sandbox.registry.password)).toEqual([]);
  }, 420_000);

  it('updates one replica at a time and reports each task on its node', async () => {
    const result = await deploy(images.v2);
    expect(result.errors).toEqual([]);
    expect(result.exitCode).toBe(0);
    expectRunning(JSON.parse(result.outputs.tasks) as Task[], images.v2);
    expect(updateState()).toBe('completed');
    const services = JSON.parse(result.outputs.services) as Array<Record<string, string>>;
    expect(services).toEqual([expect.objectContaining({ service, image: images.v2, state: '3/3 replicas', health: 'completed' })]);
    expect(answers().byReplica).toEqual([pages.v2, pages.v2, pages.v2]);
  }, 420_000);

  it('fails when an image fails its health check, saying that swarm rolled the service back (not paused)', async () => {
    const result = await deploy(images.broken);
    expect(result.exitCode).toBe(1);
    expect(result.errors.join('\n')).toContain(`swarm rolled ${service} back to its previous version after its update failed`);
    expect(updateState()).not.toMatch(/paused/);
    // The previous version runs again on every node.
    const tasks = JSON.parse(result.outputs.tasks) as Task[];
    expect(tasks.map((t) => t.image)).toEqual([images.v2, images.v2, images.v2]);
    expect(answers().byReplica).toEqual([pages.v2, pages.v2, pages.v2]);
  }, 420_000);

  it('deploys through the first host in hosts that answers and is a manager, saying why it passed the others over', async () => {
    const worker = hosts[2];
    const unreachable = `${manager.user}@${manager.address}:2222`;
    const result = await deploy(images.v2, {
      hosts: [unreachable, hostAddress(worker), hostAddress(manager)].join('\n'),
      'connect-retries': '1',
      'connect-timeout': '5s',
    });
    expect(result.errors).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(result.log).toMatch(new RegExp(`${unreachable.replace(/\./g, '\\.')}: passed over: `));
    expect(result.log).toContain(`${hostAddress(worker)}: passed over: mode: swarm needs a swarm manager, and ${hostAddress(worker)}'s engine is a swarm worker`);
    expect(result.log).toContain(`Deploying stack ${stack} through the swarm manager ${hostAddress(manager)}`);
    const results = JSON.parse(result.outputs.results) as Array<Record<string, unknown>>;
    expect(results).toEqual([expect.objectContaining({ target: hostAddress(manager), ok: true })]);
    expectRunning(JSON.parse(result.outputs.tasks) as Task[], images.v2);
  }, 420_000);
});
