import { describe, expect, it } from '@jest/globals';
import yaml from 'js-yaml';
import { DockerCli } from '../docker.js';
import { fakeClock } from '../testing/clock.js';
import { ScriptedShell } from '../testing/scripted-shell.js';
import {
  StackNotConvergedError,
  SwarmLock,
  forwardedLoginNotice,
  isShortLivedGitHubToken,
  movedTasks,
  stackTasks,
  startFirstAtLimit,
  swarmLockName,
  waitForStack,
  withRollbackOnFailure,
  type SwarmNode,
  type SwarmTask,
} from './swarm.js';

/** A swarm manager's engine answering each docker command by its first words: the engine's side. */
function engine(answers: Array<[words: string, stdout: string]>): ScriptedShell {
  const shell = new ScriptedShell({ target: 'manager' });
  // What a wait also looks at, unless a test says otherwise: every node ready, every task placed.
  shell.on({ prefix: ['docker', 'node', 'ls'] }, { stdout: '' });
  shell.on({ prefix: ['docker', 'stack', 'ps'] }, { stdout: '' });
  for (const [words, stdout] of answers) shell.on({ prefix: ['docker', ...words.split(' ')] }, { stdout });
  return shell;
}

describe('swarm', () => {
  it('gives services that choose no failure_action a rollback, and leaves the others as they are', () => {
    const rendered = [
      'services:',
      '  app:',
      '    image: r/app:v1',
      '    deploy:',
      '      replicas: 3',
      '      update_config: {parallelism: 1, order: start-first}',
      '  worker:',
      '    image: r/worker:v1',
      '  cron:',
      '    image: r/cron:v1',
      '    deploy:',
      '      update_config: {failure_action: pause}',
      '',
    ].join('\n');
    const { text, defaulted } = withRollbackOnFailure(rendered);
    expect(defaulted).toEqual(['app', 'worker']);
    const services = (yaml.load(text) as { services: Record<string, { deploy: { replicas?: number; update_config: Record<string, unknown> } }> }).services;
    expect(services.app.deploy).toEqual({ replicas: 3, update_config: { parallelism: 1, order: 'start-first', failure_action: 'rollback' } });
    expect(services.worker.deploy.update_config).toEqual({ failure_action: 'rollback' });
    expect(services.cron.deploy.update_config).toEqual({ failure_action: 'pause' });
  });

  it('returns the rendered file untouched when every service chose', () => {
    const rendered = "services:\n  app:\n    image: 'r/app:v1'\n    deploy:\n      update_config:\n        failure_action: continue\n";
    expect(withRollbackOnFailure(rendered)).toEqual({ text: rendered, defaulted: [] });
  });

  it('finds the services whose start-first updates have no node left to start a new task on', () => {
    const rendered = [
      'services:',
      '  full: {image: a, deploy: {replicas: 3, update_config: {order: start-first}, placement: {max_replicas_per_node: 1}}}',
      '  room: {image: r, deploy: {replicas: 3, update_config: {order: start-first}, placement: {max_replicas_per_node: 2}}}',
      '  stop: {image: w, deploy: {replicas: 3, update_config: {order: stop-first}, placement: {max_replicas_per_node: 1}}}',
      '  api: {image: p, deploy: {update_config: {order: start-first}}}',
      '  db: {image: d}',
    ].join('\n');
    expect(startFirstAtLimit(rendered, 3)).toEqual(['full']);
    expect(startFirstAtLimit(rendered, 4)).toEqual([]);
  });

  it('reports each running task with the hostname and swarm address of its node', async () => {
    const shell = engine([
      ['stack ps', 't2\ts_app.2\tr/app:v2\t\nt1\ts_app.1\tr/app:v2\t\nt10\ts_app.10\tr/app:v2\tno suitable node\n'],
      ['inspect --type task', 't1\tn1\trunning\nt2\tn2\trunning\nt10\t\tpending\n'],
      ['node inspect', 'n1\tip-10-0-1-10\t10.0.1.10\nn2\tip-10-0-1-11\t10.0.1.11\n'],
    ]);
    const tasks = await stackTasks(new DockerCli(shell), 's');
    expect(tasks).toEqual([
      { service: 's_app', task: 's_app.1', node: 'ip-10-0-1-10', nodeAddress: '10.0.1.10', state: 'running', image: 'r/app:v2', error: '' },
      { service: 's_app', task: 's_app.2', node: 'ip-10-0-1-11', nodeAddress: '10.0.1.11', state: 'running', image: 'r/app:v2', error: '' },
      { service: 's_app', task: 's_app.10', node: '', nodeAddress: '', state: 'pending', image: 'r/app:v2', error: 'no suitable node' },
    ]);
    expect(shell.commands[0].args).toEqual(['docker', 'stack', 'ps', '--no-trunc', '--filter', 'desired-state=running', '--format', '{{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Error}}', 's']);
    expect(shell.commands[2].args).toEqual(['docker', 'node', 'inspect', '--format', '{{.ID}}\t{{.Description.Hostname}}\t{{.Status.Addr}}', 'n1', 'n2']);
  });

  it('says that swarm rolled a service back, with the reason docker gave', async () => {
    const shell = engine([
      ['service ls', 's_app\t3/3\tr/app:v1\n'],
      ['service inspect', 'rollback_completed\trollback completed\n'],
    ]);
    const waiting = waitForStack(new DockerCli(shell), 's', { timeoutMs: 1_000, sleep: async () => {} });
    await expect(waiting).rejects.toThrow(new StackNotConvergedError(['s_app'], [], 'Stack s: swarm rolled s_app back to its previous version after its update failed (rollback completed).'));
  });

  it('waits while swarm rolls a failed update back, then says it did', async () => {
    // While it waits it also looks at the nodes and the tasks: all nodes ready, every task placed.
    const shell = engine([
      ['service ls', 's_app\t3/3 (max 2 per node)\tr/app:v1\n'],
      ['node ls', 'n1\n'],
      ['node inspect', 'n1\tip-10-0-1-10\t10.0.1.10\tready\tactive\n'],
      ['stack ps', ''],
    ]);
    shell.on({ prefix: ['docker', 'service', 'inspect'] }, [
      { stdout: 'updating\t' },
      { stdout: 'rollback_started\tupdate rolled back due to failure' },
      { stdout: 'rollback_completed\trollback completed' },
    ]);
    const progress: string[] = [];
    const waiting = waitForStack(new DockerCli(shell), 's', { timeoutMs: 60_000, sleep: async () => {}, onProgress: (m) => progress.push(m) });
    await expect(waiting).rejects.toThrow('Stack s: swarm rolled s_app back to its previous version after its update failed (rollback completed).');
    expect(progress).toEqual(['Waiting for s_app 3/3 (max 2 per node) (updating)', 'Waiting for s_app 3/3 (max 2 per node) (rollback_started)']);
  });

  it('fails on a paused update, naming the state', async () => {
    const shell = engine([
      ['service ls', 's_app\t2/3\tr/app:v2\n'],
      ['service inspect', 'paused\tupdate paused due to failure or early termination of task x\n'],
    ]);
    await expect(waitForStack(new DockerCli(shell), 's', { timeoutMs: 1_000, sleep: async () => {} })).rejects.toThrow(
      'Stack s: the update of s_app ended paused (update paused due to failure or early termination of task x).',
    );
  });

  it("fails after the grace when swarm has no node for a task, naming the task, docker's reason and the node that is down", async () => {
    const shell = engine([
      ['service ls', 's_app\t4/5 (max 2 per node)\tr/app:v1\n'],
      ['service inspect', ''],
      ['node ls', 'n1\nn3\n'],
      ['node inspect', 'n1\tip-10-0-1-10\t10.0.1.10\tready\tactive\nn3\tip-10-0-1-12\t10.0.1.12\tdown\tactive\n'],
      ['stack ps', 't5\ts_app.5\tr/app:v1\tno suitable node (max replicas per node limit exceed)\n'],
      ['inspect --type task', 't5\t\tpending\n'],
    ]);
    const clock = fakeClock(1_000_000);
    const down: SwarmNode[] = [];
    const waiting = waitForStack(new DockerCli(shell), 's', { timeoutMs: 600_000, unplaceableGraceMs: 30_000, ...clock, onNodeDown: (node) => down.push(node) });
    await expect(waiting).rejects.toThrow('Stack s: swarm has no node for s_app.5 (no suitable node (max replicas per node limit exceed)), pending for 30.0s; node ip-10-0-1-12 (10.0.1.12) down.');
    expect(down).toEqual([{ id: 'n3', hostname: 'ip-10-0-1-12', address: '10.0.1.12', state: 'down', availability: 'active' }]);
    // Well before wait-timeout: 15 polls of 2 s.
    expect(clock.slept.reduce((a, b) => a + b, 0)).toBe(30_000);
  });

  it('waits on while a task is placed again within the grace, counting the tasks rather than `service ls` while a node is down, and tells it once', async () => {
    const shell = engine([
      ['node ls', 'n1\nn3\n'],
      ['node inspect', 'n1\th1\t10.0.1.10\tready\tactive\nn3\th3\t10.0.1.12\tdown\tactive\n'],
      ['service inspect', ''],
      ['service ls', 's_app\t3/3\tr/app:v1\n'],
    ]);
    // `service ls` says 3/3 throughout (it counts the task on the node that is down); the tasks say otherwise until s_app.3 runs on n1.
    const placed = 't1\ts_app.1\tr/app:v1\t\nt2\ts_app.2\tr/app:v1\t\n';
    shell.on({ prefix: ['docker', 'stack', 'ps'] }, [
      { stdout: `${placed}t3\ts_app.3\tr/app:v1\tno suitable node (1 node not available)\n` },
      { stdout: `${placed}t3\ts_app.3\tr/app:v1\tno suitable node (1 node not available)\n` },
      { stdout: `${placed}t4\ts_app.3\tr/app:v1\t\n` },
    ]);
    shell.on({ prefix: ['docker', 'inspect', '--type', 'task'] }, { stdout: 't1\tn1\trunning\nt2\tn1\trunning\nt3\t\tpending\nt4\tn1\trunning\n' });
    const down: string[] = [];
    const services = await waitForStack(new DockerCli(shell), 's', { timeoutMs: 600_000, unplaceableGraceMs: 30_000, ...fakeClock(), onNodeDown: (node) => down.push(node.id) });
    expect(services.map((s) => s.replicas)).toEqual(['3/3']);
    expect(down).toEqual(['n3']);
  });

  it('counts a task on a node that went down as gone, though `service ls` still counts it running', async () => {
    const shell = engine([
      ['service ls', 's_app\t4/3 (max 2 per node)\tr/app:v2\n'],
      ['service inspect', 'completed\tupdate completed\n'],
      ['node ls', 'n1\nn3\n'],
      ['node inspect', 'n1\th1\t10.0.1.10\tready\tactive\nn3\th3\t10.0.1.12\tdown\tactive\n'],
      ['stack ps', 't1\ts_app.1\tr/app:v2\t\nt2\ts_app.2\tr/app:v2\t\nt4\ts_app.4\tr/app:v2\t\n'],
      ['inspect --type task', 't1\tn1\trunning\nt2\tn1\trunning\nt4\tn2\trunning\n'],
    ]);
    const services = await waitForStack(new DockerCli(shell), 's', { timeoutMs: 600_000, ...fakeClock() });
    expect(services).toEqual([expect.objectContaining({ name: 's_app', replicas: '3/3 (max 2 per node)', running: 3, desired: 3 })]);
  });

  it('ends the wait on an update swarm keeps open only for a down node, once every replica runs the new image on the nodes that are up, and says so once', async () => {
    const shell = engine([
      ['service ls', 's_app\t4/3 (max 2 per node)\tr/app:v2\n'],
      ['service inspect', 'updating\tupdate in progress\n'],
      ['node ls', 'n1\nn3\n'],
      ['node inspect', 'n1\th1\t10.0.1.10\tready\tactive\nn3\th3\t10.0.1.12\tdown\tactive\n'],
    ]);
    // First an old replica still runs on a node that is up; then all three run v2 there.
    shell.on({ prefix: ['docker', 'stack', 'ps'] }, [
      { stdout: 't1\ts_app.1\tr/app:v2\t\nt2\ts_app.2\tr/app:v1\t\nt4\ts_app.3\tr/app:v2\t\n' },
      { stdout: 't1\ts_app.1\tr/app:v2\t\nt5\ts_app.2\tr/app:v2\t\nt4\ts_app.3\tr/app:v2\t\n' },
    ]);
    shell.on({ prefix: ['docker', 'inspect', '--type', 'task'] }, { stdout: 't1\tn1\trunning\nt2\tn1\trunning\nt4\tn2\trunning\nt5\tn2\trunning\n' });
    const told: string[] = [];
    const clock = fakeClock();
    const services = await waitForStack(new DockerCli(shell), 's', {
      timeoutMs: 600_000,
      ...clock,
      onUpdateLeftToSwarm: (service, nodes) => told.push(`${service.name} ${nodes.map((n) => n.id).join()}`),
    });
    expect(services).toEqual([expect.objectContaining({ name: 's_app', running: 3, desired: 3, updateState: 'updating' })]);
    expect(told).toEqual(['s_app n3']);
    expect(clock.slept).toHaveLength(1);
  });

  it('sets going again an update stuck on a task it gave a node now down, which keeps that slot on the previous image, and waits for the new one', async () => {
    const shell = engine([
      ['service ls', 's_app\t4/3 (max 2 per node)\tr/app:v2\n'],
      ['node ls', 'n1\nn3\n'],
      ['node inspect', 'n1\th1\t10.0.1.10\tready\tactive\nn3\th3\t10.0.1.12\tdown\tactive\n'],
      ['service update', ''],
    ]);
    shell.on({ prefix: ['docker', 'service', 'inspect'] }, [{ stdout: 'updating\tupdate in progress\n' }, { stdout: 'updating\tupdate in progress\n' }, { stdout: 'completed\tupdate completed\n' }]);
    // Slot 2 runs v1 (t2) beside its replacement on v2 (t5) until the new update replaces t2.
    const stuck = 't1\ts_app.1\tr/app:v2\t\nt2\ts_app.2\tr/app:v1\t\nt5\ts_app.2\tr/app:v2\t\nt4\ts_app.3\tr/app:v2\t\n';
    shell.on({ prefix: ['docker', 'stack', 'ps'] }, [{ stdout: stuck }, { stdout: stuck }, { stdout: 't1\ts_app.1\tr/app:v2\t\nt6\ts_app.2\tr/app:v2\t\nt4\ts_app.3\tr/app:v2\t\n' }]);
    shell.on({ prefix: ['docker', 'inspect', '--type', 'task'] }, { stdout: 't1\tn1\trunning\nt2\tn1\trunning\nt4\tn1\trunning\nt5\tn1\trunning\nt6\tn1\trunning\n' });
    const told: string[] = [];
    const services = await waitForStack(new DockerCli(shell), 's', {
      timeoutMs: 600_000,
      ...fakeClock(),
      onUpdateResumed: (service, nodes) => told.push(`resumed ${service.name} ${nodes.map((n) => n.id).join()}`),
      onUpdateLeftToSwarm: (service) => told.push(`left ${service.name}`),
    });
    expect(told).toEqual(['resumed s_app n3']);
    expect(services).toEqual([expect.objectContaining({ name: 's_app', running: 3, desired: 3, updateState: 'completed' })]);
    const updates = shell.lines.filter((line) => line.startsWith('docker service update'));
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatch(/^docker service update --detach --no-resolve-image --label-add com\.slipway\.update-resumed=\S+ s_app$/);
  });

  it('sets going again an update open across a down node whose tasks have not changed for stalledUpdateMs, not sooner', async () => {
    const shell = engine([
      ['service ls', 's_app\t3/3 (max 2 per node)\tr/app:v2\n'],
      ['node ls', 'n1\nn3\n'],
      ['node inspect', 'n1\th1\t10.0.1.10\tready\tactive\nn3\th3\t10.0.1.12\tdown\tactive\n'],
      ['service update', ''],
      ['inspect --type task', 't1\tn1\trunning\nt2\tn1\trunning\nt3\tn3\tassigned\nt4\tn1\trunning\nt6\tn1\trunning\n'],
    ]);
    // Slot 2 still on v1 (t2); its new task t3 went to the node that is down and never runs. 20 polls alike, then the new update's task t6.
    const open = 't1\ts_app.1\tr/app:v2\t\nt2\ts_app.2\tr/app:v1\t\nt3\ts_app.2\tr/app:v2\t\nt4\ts_app.3\tr/app:v2\t\n';
    shell.on({ prefix: ['docker', 'stack', 'ps'] }, [
      ...Array.from({ length: 20 }, () => ({ stdout: open })),
      { stdout: 't1\ts_app.1\tr/app:v2\t\nt6\ts_app.2\tr/app:v2\t\nt4\ts_app.3\tr/app:v2\t\n' },
    ]);
    shell.on({ prefix: ['docker', 'service', 'inspect'] }, [...Array.from({ length: 20 }, () => ({ stdout: 'updating\t\n' })), { stdout: 'completed\tupdate completed\n' }]);
    const clock = fakeClock();
    const resumedAt: number[] = [];
    await waitForStack(new DockerCli(shell), 's', { timeoutMs: 600_000, intervalMs: 2_000, stalledUpdateMs: 30_000, ...clock, onUpdateResumed: () => resumedAt.push(clock.now()) });
    // First seen at 0 s: resumed at the first poll 30 s later, once.
    expect(resumedAt).toEqual([30_000]);
    expect(shell.ran('docker', 'service', 'update')).toHaveLength(1);
  });

  it('does not fail a task with no node while an update open across a down node is still to be set going again: it is set going, and the grace starts over', async () => {
    const shell = engine([
      ['service ls', 's_app\t3/3 (max 2 per node)\tr/app:v2\n'],
      ['node ls', 'n1\nn2\nn3\n'],
      ['node inspect', 'n1\th1\t10.0.1.10\tready\tactive\nn2\th2\t10.0.1.11\tready\tactive\nn3\th3\t10.0.1.12\tdown\tactive\n'],
      ['service update', ''],
    ]);
    // Slot 2's new task has no node (n1 holds slot 1 and slot 2's previous task, n2 slot 3 and the task moved off n3);
    // slot 3's task starts at 10 s, so the tasks last change then. 21 polls alike in all, then every slot on v2.
    const noNode = 't3\ts_app.2\tr/app:v2\tno suitable node (max replicas per node limit exceed; 1 node not available for new tasks)\n';
    const open = `t1\ts_app.1\tr/app:v2\t\nt2\ts_app.2\tr/app:v1\t\n${noNode}t4\ts_app.3\tr/app:v2\t\n`;
    shell.on({ prefix: ['docker', 'stack', 'ps'] }, [
      ...Array.from({ length: 21 }, () => ({ stdout: open })),
      { stdout: 't1\ts_app.1\tr/app:v2\t\nt6\ts_app.2\tr/app:v2\t\nt4\ts_app.3\tr/app:v2\t\n' },
    ]);
    const placed = (slot3: string) => ({ stdout: `t1\tn1\trunning\nt2\tn1\trunning\nt3\t\tpending\nt4\tn2\t${slot3}\nt6\tn2\trunning\n` });
    shell.on({ prefix: ['docker', 'inspect', '--type', 'task'] }, [...Array.from({ length: 5 }, () => placed('starting')), placed('running')]);
    shell.on({ prefix: ['docker', 'service', 'inspect'] }, [...Array.from({ length: 21 }, () => ({ stdout: 'updating\t\n' })), { stdout: 'completed\tupdate completed\n' }]);
    const clock = fakeClock();
    const resumedAt: number[] = [];
    const services = await waitForStack(new DockerCli(shell), 's', {
      timeoutMs: 600_000,
      intervalMs: 2_000,
      unplaceableGraceMs: 30_000,
      stalledUpdateMs: 30_000,
      ...clock,
      onUpdateResumed: () => resumedAt.push(clock.now()),
    });
    // The task had no node from 0 s, past the grace; the update was set going 30 s after the tasks last changed.
    expect(resumedAt).toEqual([40_000]);
    expect(services).toEqual([expect.objectContaining({ name: 's_app', running: 3, desired: 3, updateState: 'completed' })]);
  });

  it('fails a task with no node a grace after the update open across a down node was set going again', async () => {
    const shell = engine([
      ['service ls', 's_app\t4/5 (max 2 per node)\tr/app:v2\n'],
      ['service inspect', 'updating\t\n'],
      ['node ls', 'n1\nn2\nn3\n'],
      ['node inspect', 'n1\th1\t10.0.1.10\tready\tactive\nn2\th2\t10.0.1.11\tready\tactive\nn3\th3\t10.0.1.12\tdown\tactive\n'],
      ['service update', ''],
      [
        'stack ps',
        't1\ts_app.1\tr/app:v2\t\nt2\ts_app.2\tr/app:v2\t\nt3\ts_app.3\tr/app:v2\t\nt4\ts_app.4\tr/app:v2\t\nt5\ts_app.5\tr/app:v2\tno suitable node (max replicas per node limit exceed)\n',
      ],
      ['inspect --type task', 't1\tn1\trunning\nt2\tn1\trunning\nt3\tn2\trunning\nt4\tn2\trunning\nt5\t\tpending\n'],
    ]);
    const clock = fakeClock();
    const resumedAt: number[] = [];
    const waiting = waitForStack(new DockerCli(shell), 's', {
      timeoutMs: 600_000,
      intervalMs: 2_000,
      unplaceableGraceMs: 30_000,
      stalledUpdateMs: 30_000,
      ...clock,
      onUpdateResumed: () => resumedAt.push(clock.now()),
    });
    await expect(waiting).rejects.toThrow(/^Stack s: swarm has no node for s_app\.5 \(no suitable node \(max replicas per node limit exceed\)\), pending for 30\.0s; node h3 \(10\.0\.1\.12\) down\./);
    expect(resumedAt).toEqual([30_000]);
    expect(clock.now()).toBe(60_000);
  });

  it('waits on an update that is open while every node is up, though the replicas run the new image', async () => {
    const shell = engine([
      ['service ls', 's_app\t3/3\tr/app:v2\n'],
      ['stack ps', 't1\ts_app.1\tr/app:v2\t\n'],
      ['inspect --type task', 't1\tn1\trunning\n'],
      ['node inspect', 'n1\th1\t10.0.1.10\n'],
    ]);
    shell.on({ prefix: ['docker', 'service', 'inspect'] }, [{ stdout: 'updating\tupdate in progress\n' }, { stdout: 'completed\tupdate completed\n' }]);
    const told: string[] = [];
    const clock = fakeClock();
    await waitForStack(new DockerCli(shell), 's', { timeoutMs: 600_000, ...clock, onUpdateLeftToSwarm: (service) => told.push(service.name) });
    expect(told).toEqual([]);
    expect(clock.slept).toHaveLength(1);
  });

  it('marks the tasks whose slot was on a node that went down, and only those', () => {
    const task = (name: string, node: string, address: string): SwarmTask => ({ service: 's_app', task: name, node, nodeAddress: address, state: 'running', image: 'r/app:v2', error: '' });
    const before = [task('s_app.1', 'h1', '10.0.1.10'), task('s_app.2', 'h2', '10.0.1.11'), task('s_app.3', 'h3', '10.0.1.12')];
    const after = [task('s_app.1', 'h2', '10.0.1.11'), task('s_app.2', 'h2', '10.0.1.11'), task('s_app.3', 'h1', '10.0.1.10')];
    const down: SwarmNode[] = [{ id: 'n3', hostname: 'h3', address: '10.0.1.12', state: 'down', availability: 'active' }];
    expect(movedTasks(before, after, down)).toEqual([{ ...after[2], movedFrom: 'h3 (10.0.1.12)' }]);
    expect(movedTasks(before, after, [])).toEqual([]);
  });

  it("knows GitHub's job-scoped tokens, which a swarm keeps past the job", () => {
    expect(isShortLivedGitHubToken('ghs_16C7e42F292c6912E7710c838347Ae178B4a')).toBe(true);
    expect(isShortLivedGitHubToken('ghp_16C7e42F292c6912E7710c838347Ae178B4a')).toBe(false);
    expect(isShortLivedGitHubToken('github_pat_11AAAA')).toBe(false);
    expect(isShortLivedGitHubToken('0123456789abcdef')).toBe(false);
  });

  it('warns when the login a swarm keeps is a job token, and says what to give instead', () => {
    const warning = forwardedLoginNotice('ghcr.io', 'ghs_16C7e42F292c6912E7710c838347Ae178B4a');
    expect(warning.level).toBe('warning');
    expect(warning.message).toContain('registry-password is a GitHub token that dies with this job (ghs_…)');
    expect(warning.message).toContain('give a long-lived read-only token');
    expect(warning.message).toContain('or have the images on every node');
    expect(warning.message).not.toContain('16C7e42F');
    expect(forwardedLoginNotice('ghcr.io', 'ghp_long_lived')).toEqual({
      level: 'info',
      message: expect.stringContaining('The swarm keeps the login to ghcr.io for later pulls (tasks rescheduled after this job): it must outlive the job'),
    });
  });

  describe('SwarmLock', () => {
    const owner = { token: 'aaa', description: 'https://github.com/o/r/actions/runs/1 (attempt 1)' };
    const inspectFormat = '{{.ID}}\t{{index .Spec.Labels "dev.slipway.lock.token"}}\t{{index .Spec.Labels "dev.slipway.lock.expires"}}\t{{index .Spec.Labels "dev.slipway.lock.owner"}}';

    it('is a swarm config created with the token and expiry as labels: the managers refuse a second one of its name', async () => {
      const shell = new ScriptedShell({ target: 'manager' });
      shell.on({ prefix: ['docker', 'config', 'create'] }, { stdout: 'cfg1\n' });
      const held = await new SwarmLock(new DockerCli(shell), 'shop').acquire(owner, { expiryMs: 3_600_000, waitMs: 60_000, now: () => 1_000_000 });
      expect(held).toEqual({ name: 'slipway-deploy-lock-shop', id: 'cfg1', token: 'aaa' });
      expect(shell.commands[0].args).toEqual([
        'docker',
        'config',
        'create',
        '--label',
        'dev.slipway.lock.token=aaa',
        '--label',
        'dev.slipway.lock.expires=4600',
        '--label',
        `dev.slipway.lock.owner=${owner.description}`,
        'slipway-deploy-lock-shop',
        '-',
      ]);
      expect(shell.commands[0].stdin).toBe('aaa');
    });

    it('waits while another run holds it, then takes it', async () => {
      const shell = new ScriptedShell({ target: 'manager' });
      shell.on({ prefix: ['docker', 'config', 'create'] }, [
        { exitCode: 1, stderr: 'Error response from daemon: rpc error: code = AlreadyExists desc = config slipway-deploy-lock-shop already exists' },
        { stdout: 'cfg2\n' },
      ]);
      shell.on({ prefix: ['docker', 'config', 'inspect'] }, { stdout: 'cfg1\tbbb\t999999\tanother run\n' });
      const told: string[] = [];
      const held = await new SwarmLock(new DockerCli(shell), 'shop').acquire(owner, { expiryMs: 3_600_000, waitMs: 60_000, ...fakeClock(1_000_000), onWait: (m) => told.push(m) });
      expect(held.id).toBe('cfg2');
      expect(told).toEqual(['Waiting for the swarm deploy lock (config slipway-deploy-lock-shop), held by another run (up to 1m0s).']);
      expect(shell.ran('docker', 'config', 'rm')).toEqual([]);
    });

    it('gives up after the wait, naming the holder', async () => {
      const shell = new ScriptedShell({ target: 'manager' });
      shell.on({ prefix: ['docker', 'config', 'create'] }, { exitCode: 1, stderr: 'config slipway-deploy-lock-shop already exists' });
      shell.on({ prefix: ['docker', 'config', 'inspect'] }, { stdout: 'cfg1\tbbb\t999999\tanother run\n' });
      await expect(new SwarmLock(new DockerCli(shell), 'shop').acquire(owner, { expiryMs: 3_600_000, waitMs: 10_000, ...fakeClock(1_000_000) })).rejects.toThrow(
        'manager: another deployment of this stack holds the swarm deploy lock (config slipway-deploy-lock-shop, another run); gave up after waiting 10.0s.',
      );
    });

    it('takes over an expired lock by removing that lock by its ID, not by name', async () => {
      const shell = new ScriptedShell({ target: 'manager' });
      shell.on({ prefix: ['docker', 'config', 'create'] }, [{ exitCode: 1, stderr: 'already exists' }, { stdout: 'cfg2\n' }]);
      shell.on({ prefix: ['docker', 'config', 'inspect'] }, { stdout: 'cfg1\tbbb\t999\ta run that died\n' });
      shell.on({ prefix: ['docker', 'config', 'rm'] });
      const told: string[] = [];
      const held = await new SwarmLock(new DockerCli(shell), 'shop').acquire(owner, { expiryMs: 3_600_000, waitMs: 60_000, now: () => 1_000_000, onWait: (m) => told.push(m) });
      expect(held.id).toBe('cfg2');
      expect(shell.ran('docker', 'config', 'rm').map((c) => c.args)).toEqual([['docker', 'config', 'rm', 'cfg1']]);
      expect(told).toEqual(['Took over an expired swarm deploy lock from a run that died.']);
      expect(shell.ran('docker', 'config', 'inspect')[0].args).toEqual(['docker', 'config', 'inspect', '--format', inspectFormat, 'slipway-deploy-lock-shop']);
    });

    it('releases only the lock it took: not one taken over since', async () => {
      const shell = new ScriptedShell({ target: 'manager' });
      shell.on({ prefix: ['docker', 'config', 'inspect'] }, [{ stdout: 'cfg1\taaa\t4600\tus\n' }, { exitCode: 1, stderr: 'no such config: cfg1' }]);
      shell.on({ prefix: ['docker', 'config', 'rm'] });
      const lock = new SwarmLock(new DockerCli(shell), 'shop');
      expect(await lock.release({ name: lock.name, id: 'cfg1', token: 'aaa' })).toBe(true);
      expect(await lock.release({ name: lock.name, id: 'cfg1', token: 'aaa' })).toBe(false);
      expect(shell.ran('docker', 'config', 'rm')).toHaveLength(1);
    });

    it('names the lock within the 64 characters a config name may have', () => {
      expect(swarmLockName('shop')).toBe('slipway-deploy-lock-shop');
      const long = swarmLockName('a'.repeat(60));
      expect(long).toMatch(/^slipway-deploy-lock-[0-9a-f]{32}$/);
      expect(long.length).toBeLessThanOrEqual(64);
    });
  });
});
