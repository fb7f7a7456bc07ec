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
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { composeWorkspace, fixtureDir, pushAppImage } from './support/compose-app.js';
import { hostAddress, hostDocker } from './support/ec2-deploy.js';
import { docker, exec, mustExec } from './support/exec.js';
import { containing, filesUnder } from './support/files.js';
import { sandboxScript } from './support/hardening.js';
import { repoRoot, runAction, type ActionResult } from './support/run-action.js';
import { loadSandbox, sandboxDir, type Sandbox, type SandboxHost } from './support/sandbox.js';

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
  movedFrom?: string;
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
  const script = [...addresses.map((a) => `timeout 5 wget -qO- http://${a}:3000/ || echo "no answer from ${a}"`), 'echo ---', 'timeout 5 wget -qO- http://app:3000/ || echo "no answer from app"'].join(
    '; ',
  );
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

/** The swarm's ID for a host's node (sandbox nodes share one hostname). */
function nodeId(host: SandboxHost): string {
  return hostDocker(host, 'info', '--format', '{{.Swarm.NodeID}}');
}

/**
 * Polls `check` every second until it holds, or fails after `seconds` with `what`. A check that
 * throws counts as not yet: a manager answers DeadlineExceeded for a while when a node leaves or
 * rejoins.
 */
async function until(what: string, seconds: number, check: () => boolean): Promise<void> {
  let lastError = '';
  for (let i = 0; i < seconds; i++) {
    try {
      if (check()) return;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await sleep(1_000);
  }
  throw new Error(`gave up after ${seconds}s waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`);
}

/**
 * The sandbox registry's htpasswd file (the registry reads it again when it changes), rewritten
 * whole and renamed into place, so the registry never reads half a file.
 */
function rewriteHtpasswd(edit: (text: string) => string): void {
  const file = (JSON.parse(readFileSync(join(sandboxDir, 'sandbox.json'), 'utf8')) as { registry: { htpasswd: string } }).registry.htpasswd;
  const next = `${file}.swarm-e2e`;
  writeFileSync(next, edit(readFileSync(file, 'utf8')));
  chmodSync(next, statSync(file).mode & 0o777);
  renameSync(next, file);
}

/** A host's dockerd log: where a node's failed pulls are told. */
function dockerdLog(host: SandboxHost): string {
  return (JSON.parse(readFileSync(join(sandboxDir, 'sandbox.json'), 'utf8')) as { hosts: Array<{ name: string; dockerdLog: string }> }).hosts.find((h) => h.name === host.name)!.dockerdLog;
}

/** What the registry answers `user` at /v2/: 200 with a valid login, 401 without one. */
function registryAnswers(user: string, password: string): string {
  return mustExec(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-u', `${user}:${password}`, '--cacert', sandbox.registry.caCert, `https://${sandbox.registry.host}/v2/`]);
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
  it('keeps forwarded registry auth for later pulls: with the registry user gone, a task started on a node without the image cannot pull', async () => {
    // A registry user of this test's own (the sandbox's `slipway` user is left alone), as a job's token is: valid for the deploy, gone after.
    const user = `swarm-e2e-${Date.now().toString(36)}`;
    const password = randomBytes(16).toString('hex');
    const line = mustExec(['htpasswd', '-niB', user], { input: password });
    const image = pushAppImage(sandbox, 'swarm-v3', `swarm v3 ${Date.now().toString(36)}`);
    rewriteHtpasswd((text) => `${text.trimEnd()}\n${line}\n`);
    let worker: SandboxHost | undefined;
    try {
      await until(`the registry to accept ${user}`, 10, () => registryAnswers(user, password) === '200');
      for (const host of hosts) expect(docker(host.dockerHost, 'image', 'inspect', image).status).not.toBe(0);
      const result = await deploy(image, { 'registry-username': user, 'registry-password': password });
      expect(result.errors).toEqual([]);
      expect(result.exitCode).toBe(0);
      expectRunning(JSON.parse(result.outputs.tasks) as Task[], image);
      // What the step says about the login the swarm keeps, and what to give instead.
      expect(result.log).toContain(
        `The swarm keeps the login to ${sandbox.registry.host} for later pulls (tasks rescheduled after this job): it must outlive the job; otherwise give a long-lived read-only token`,
      );
      expect(result.log).toContain('or have the images on every node');

      // The job is over: its token dies.
      rewriteHtpasswd((text) => text.replace(`${line}\n`, ''));
      await until(`the registry to refuse ${user}`, 10, () => registryAnswers(user, password) === '401');

      // A node without the image: the one with the fewest tasks. A rolling update may leave one node
      // with none (two on another) and that node may never have pulled the image, so draining a
      // fixed node could send its task there, where it cannot pull either. Moved off (drain) onto
      // nodes that run the image, its containers and the image removed.
      const perHost = containersByHost();
      worker = [...hosts].sort((a, b) => perHost.get(a.name)!.length - perHost.get(b.name)!.length)[0];
      if (perHost.get(worker.name)!.length) {
        hostDocker(manager, 'node', 'update', '--availability', 'drain', nodeId(worker));
        await until(
          `${worker.name} to run no task`,
          120,
          () => (containersByHost().get(worker!.name) ?? []).length === 0 && hostDocker(manager, 'service', 'ls', '--filter', `name=${service}`, '--format', '{{.Replicas}}').startsWith('3/3'),
        );
      }
      const stopped = hostDocker(worker, 'ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${service}`).split('\n').filter(Boolean);
      if (stopped.length) hostDocker(worker, 'rm', '-f', ...stopped);
      if (docker(worker.dockerHost, 'image', 'inspect', image).status === 0) hostDocker(worker, 'image', 'rm', image);
      hostDocker(manager, 'node', 'update', '--availability', 'active', nodeId(worker));
      const logFrom = statSync(dockerdLog(worker)).size;

      // A task started after the job (one more replica: swarm puts it on the node with the fewest, the emptied one) pulls with the stored login.
      hostDocker(manager, 'service', 'scale', '--detach', `${service}=4`);
      let refused = '';
      await until(`a pull on ${worker.name} refused`, 90, () => {
        refused = readFileSync(dockerdLog(worker!), 'utf8').slice(logFrom);
        return refused.includes(`No such image: ${image}`);
      });
      // The node's engine asked with the stored login and the registry refused it; the task then had no image.
      expect(refused).toMatch(/msg="pulling image failed" error="(unauthorized: authentication required|no basic auth credentials)"/);
      expect(refused).toMatch(new RegExp(`msg="fatal task error" error="No such image: ${image.replace(/[.]/g, '\\.')}"`));
      const onWorker = hostDocker(manager, 'service', 'ps', '--no-trunc', '--filter', `node=${nodeId(worker)}`, '--format', '{{.DesiredState}} {{.CurrentState}} {{.Error}}', service);
      expect(onWorker).toMatch(/No such image|unauthorized|no basic auth/i);
      expect(docker(worker.dockerHost, 'image', 'inspect', image).status).not.toBe(0);
    } finally {
      rewriteHtpasswd((text) => text.replace(`${line}\n`, ''));
      if (worker) exec(['docker', '-H', manager.dockerHost, 'node', 'update', '--availability', 'active', nodeId(worker)]);
      exec(['docker', '-H', manager.dockerHost, 'service', 'scale', '--detach', `${service}=3`]);
    }
  }, 600_000);

  it('deploys one run at a time through different managers: the swarm-wide deploy lock', async () => {
    const second = hosts[1];
    mustExec(['bash', swarmScript, 'up', '1,2,3', '--managers', '2']);
    try {
      const finished: string[] = [];
      const through = (host: SandboxHost, image: string) =>
        deploy(image, { hosts: hostAddress(host) }).then((result) => {
          finished.push(host.name);
          return result;
        });
      const [first, other] = await Promise.all([through(manager, images.v1), through(second, images.v2)]);
      for (const result of [first, other]) {
        expect(result.errors).toEqual([]);
        expect(result.exitCode).toBe(0);
        expect(result.log).toContain(`Swarm deploy lock taken (config slipway-deploy-lock-${stack}).`);
        expect(result.log).toContain('Swarm deploy lock released.');
      }
      expect(first.log).toContain(`Deploying stack ${stack} through the swarm manager ${hostAddress(manager)}`);
      expect(other.log).toContain(`Deploying stack ${stack} through the swarm manager ${hostAddress(second)}`);
      // One of them waited for the other's whole deployment, and ended after it: its image is the one running.
      const waited = [first, other].filter((r) => r.log.includes(`Waiting for the swarm deploy lock (config slipway-deploy-lock-${stack}), held by`));
      expect(waited).toHaveLength(1);
      const last = waited[0] === first ? manager.name : second.name;
      expect(finished[1]).toBe(last);
      const lastImage = last === manager.name ? images.v1 : images.v2;
      expect(hostDocker(manager, 'service', 'inspect', '--format', '{{.Spec.TaskTemplate.ContainerSpec.Image}}', service)).toBe(lastImage);
      expect(hostDocker(manager, 'config', 'ls', '-q', '--filter', `name=slipway-deploy-lock-${stack}`)).toBe('');
    } finally {
      // Back to one manager, as the other tests expect.
      mustExec(['bash', swarmScript, 'up', '1,2,3']);
    }
  }, 900_000);

  // Swarm keeps the update `updating` while the slot on the down node waits for it, and `service ls`
  // counts that node's task as running (4/3): the step ends once the replicas run the new image on
  // the nodes that are up, and says that swarm finishes the rest.
  it("a worker's engine stopped during an update: its tasks start on the other nodes, and the step says so", async () => {
    await until(
      'the service at rest, 3/3',
      180,
      () => updateState() !== 'updating' && hostDocker(manager, 'service', 'ls', '--filter', `name=${service}`, '--format', '{{.Replicas}}').startsWith('3/3'),
    );
    // The worker with the most tasks: 3 replicas at most 2 a node leave at least one on a worker.
    const perHost = containersByHost();
    const worker = hosts.slice(1).sort((a, b) => perHost.get(b.name)!.length - perHost.get(a.name)!.length)[0];
    expect(perHost.get(worker.name)!.length).toBeGreaterThan(0);
    const running = hostDocker(manager, 'service', 'inspect', '--format', '{{.Spec.TaskTemplate.ContainerSpec.Image}}', service);
    const next = running === images.v2 ? images.v1 : images.v2;
    try {
      // A wait-timeout that leaves the step time to fail, re-apply the previous release and report within deploy()'s own limit.
      const deploying = deploy(next, { 'wait-timeout': '150s' });
      await until('the update to start', 60, () => updateState() === 'updating');
      sandboxScript('host.sh', 'stop-docker', worker.name.slice(1));
      const result = await deploying;
      // On failure, the end of the step's log says what swarm did.
      expect({ exitCode: result.exitCode, errors: result.errors, log: result.exitCode ? result.log.slice(-6000) : '' }).toEqual({ exitCode: 0, errors: [], log: '' });
      const tasks = JSON.parse(result.outputs.tasks) as Task[];
      expect(tasks).toHaveLength(3);
      for (const task of tasks) expect(task).toMatchObject({ state: 'running', image: next });
      expect(tasks.map((t) => t.nodeAddress)).not.toContain(worker.address);
      const moved = tasks.filter((t) => t.movedFrom);
      expect(moved.length).toBeGreaterThan(0);
      for (const task of moved) expect(task.movedFrom).toContain(`(${worker.address})`);
      expect(result.log).toMatch(new RegExp(`Swarm node [^\\n]* \\(${worker.address.replace(/\./g, '\\.')}\\) is (down|unknown)`));
      expect(result.log).toContain(`${moved[0].task} moved from ${moved[0].movedFrom}, which is down, to`);
      if (/"health":"updating"/.test(result.outputs.services)) {
        expect(result.log).toMatch(
          new RegExp(`${service}: every replica runs the new image on the nodes that are up; swarm keeps its update open for the slot on [^\n]*\\(${worker.address.replace(/\./g, '\\.')}\\)`),
        );
      }
      expect((JSON.parse(result.outputs.results) as Array<{ nodesDown?: string[] }>)[0].nodesDown).toEqual([expect.stringContaining(`(${worker.address})`)]);
      expect(result.summary).toContain('**Swarm nodes down during the deployment**');
      expect(result.summary).toContain(`(moved from ${moved[0].movedFrom}, down)`);

      // With the worker still down, 5 replicas at max 2 a node: one has no node. The step fails with swarm's reason soon, not at wait-timeout.
      const five = join(workspace, 'stack-5.yml');
      writeFileSync(five, readFileSync(join(workspace, 'stack-3.yml'), 'utf8').replace('replicas: 3', 'replicas: 5'));
      const started = Date.now();
      const unplaceable = await deploy(next, { 'compose-files': 'stack-5.yml', 'wait-timeout': '300s' });
      expect(unplaceable.exitCode).toBe(1);
      expect(Date.now() - started).toBeLessThan(200_000);
      const error = unplaceable.errors.join('\n');
      expect(error).toMatch(new RegExp(`swarm has no node for ${service}\\.\\d \\("?no suitable node \\(max replicas per node limit exceed`));
      expect(error).toMatch(new RegExp(`node [^;]*\\(${worker.address.replace(/\./g, '\\.')}\\) (down|unknown)`));
      expect(error).toContain('The previous release');
      expect((JSON.parse(unplaceable.outputs.tasks) as Task[]).some((t) => t.state === 'pending' && /no suitable node/.test(t.error))).toBe(true);
    } finally {
      sandboxScript('host.sh', 'start-docker', worker.name.slice(1));
      await until(`${worker.name} ready in the swarm again`, 120, () => hostDocker(manager, 'node', 'inspect', '--format', '{{.Status.State}}', nodeId(worker)) === 'ready');
    }
  }, 900_000);
});
