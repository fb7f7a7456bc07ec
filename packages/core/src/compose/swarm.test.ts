import { describe, expect, it } from '@jest/globals';
import yaml from 'js-yaml';
import { DockerCli } from '../docker.js';
import type { Command, CommandResult, Shell } from '../shell.js';
import { StackNotConvergedError, stackTasks, startFirstAtLimit, waitForStack, withRollbackOnFailure } from './swarm.js';

/** A Shell that answers each docker command by its first words, from a table: the engine's side. */
class EngineScript implements Shell {
  readonly target = 'manager';
  readonly commands: string[][] = [];
  constructor(private readonly answers: Array<[prefix: string, stdout: string]>) {}

  async run(command: Command): Promise<CommandResult> {
    this.commands.push([...command.args]);
    const line = command.args.slice(1).join(' ');
    const answer = this.answers.find(([prefix]) => line.startsWith(prefix));
    return { exitCode: 0, timedOut: false, stdout: answer?.[1] ?? '', stderr: '', durationMs: 1 };
  }
  async writeFile(): Promise<void> {}
  async close(): Promise<void> {}
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
    const shell = new EngineScript([
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
    expect(shell.commands[0]).toEqual(['docker', 'stack', 'ps', '--no-trunc', '--filter', 'desired-state=running', '--format', '{{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Error}}', 's']);
    expect(shell.commands[2]).toEqual(['docker', 'node', 'inspect', '--format', '{{.ID}}\t{{.Description.Hostname}}\t{{.Status.Addr}}', 'n1', 'n2']);
  });

  it('says that swarm rolled a service back, with the reason docker gave', async () => {
    const shell = new EngineScript([
      ['service ls', 's_app\t3/3\tr/app:v1\n'],
      ['service inspect', 'rollback_completed\trollback completed\n'],
    ]);
    const waiting = waitForStack(new DockerCli(shell), 's', { timeoutMs: 1_000, sleep: async () => {} });
    await expect(waiting).rejects.toThrow(new StackNotConvergedError(['s_app'], [], 'Stack s: swarm rolled s_app back to its previous version after its update failed (rollback completed).'));
  });

  it('waits while swarm rolls a failed update back, then says it did', async () => {
    const states = ['updating\t', 'rollback_started\tupdate rolled back due to failure', 'rollback_completed\trollback completed'];
    let poll = 0;
    const shell = new EngineScript([['service ls', 's_app\t3/3 (max 2 per node)\tr/app:v1\n']]);
    const run = shell.run.bind(shell);
    shell.run = async (command) => {
      const result = await run(command);
      return command.args[1] === 'service' && command.args[2] === 'inspect' ? { ...result, stdout: states[Math.min(poll++, states.length - 1)] } : result;
    };
    const progress: string[] = [];
    const waiting = waitForStack(new DockerCli(shell), 's', { timeoutMs: 60_000, sleep: async () => {}, onProgress: (m) => progress.push(m) });
    await expect(waiting).rejects.toThrow('Stack s: swarm rolled s_app back to its previous version after its update failed (rollback completed).');
    expect(progress).toEqual(['Waiting for s_app 3/3 (max 2 per node) (updating)', 'Waiting for s_app 3/3 (max 2 per node) (rollback_started)']);
  });

  it('fails on a paused update, naming the state', async () => {
    const shell = new EngineScript([
      ['service ls', 's_app\t2/3\tr/app:v2\n'],
      ['service inspect', 'paused\tupdate paused due to failure or early termination of task x\n'],
    ]);
    await expect(waitForStack(new DockerCli(shell), 's', { timeoutMs: 1_000, sleep: async () => {} })).rejects.toThrow(
      'Stack s: the update of s_app ended paused (update paused due to failure or early termination of task x).',
    );
  });
});
