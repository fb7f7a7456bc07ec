import { describe, expect, it } from '@jest/globals';
import { DockerCli } from '../docker.js';
import type { Command, CommandResult, Shell } from '../shell.js';
import { ServicesNotReadyError, readiness, waitForServices, type ContainerStatus } from './health.js';

type Snapshot = Array<Partial<ContainerStatus> & { service: string }>;

/**
 * A Shell that answers `docker ps` and `docker inspect` from a list of snapshots, one per poll:
 * the boundary where the engine's answers come in, and the only thing replaced here.
 */
class EngineScript implements Shell {
  readonly target = 'fake';
  readonly commands: string[][] = [];
  private poll = -1;
  constructor(private readonly snapshots: Snapshot[]) {}

  private current(): ContainerStatus[] {
    const snapshot = this.snapshots[Math.min(this.poll, this.snapshots.length - 1)];
    return snapshot.map((c, i) => ({ id: `id-${c.service}-${i}`, name: `p-${c.service}-${i + 1}`, image: `img/${c.service}`, state: 'running', health: 'none', exitCode: 0, ...c }));
  }

  async run(command: Command): Promise<CommandResult> {
    this.commands.push([...command.args]);
    const [, verb] = command.args;
    let stdout = '';
    if (verb === 'ps') {
      this.poll++;
      stdout = this.current().map((c) => c.id).join('\n');
    } else if (verb === 'inspect') {
      stdout = JSON.stringify(
        this.current().map((c) => ({
          Id: c.id,
          Name: `/${c.name}`,
          Config: { Image: c.image, Labels: { 'com.docker.compose.service': c.service } },
          State: { Status: c.state, ExitCode: c.exitCode, Health: c.health === 'none' ? undefined : { Status: c.health } },
        })),
      );
    }
    return { exitCode: 0, timedOut: false, stdout, stderr: '', durationMs: 1 };
  }
  async writeFile(): Promise<void> {}
  async close(): Promise<void> {}
}

/** A clock that moves only when the code under test sleeps. */
function clock() {
  let time = 0;
  const slept: number[] = [];
  return { now: () => time, sleep: async (ms: number) => void (slept.push(ms), (time += ms)), slept };
}

describe('health', () => {
  it.each<[Partial<ContainerStatus>, string]>([
    [{ state: 'running', health: 'none' }, 'ready'],
    [{ state: 'running', health: 'healthy' }, 'ready'],
    [{ state: 'running', health: 'starting' }, 'waiting'],
    [{ state: 'running', health: 'unhealthy' }, 'failed'],
    [{ state: 'exited', exitCode: 0 }, 'ready'],
    [{ state: 'exited', exitCode: 3 }, 'failed'],
    [{ state: 'created' }, 'waiting'],
    [{ state: 'restarting' }, 'waiting'],
    [{ state: 'dead' }, 'failed'],
  ])('reads %j as %s', (status, expected) => {
    expect(readiness({ id: 'i', name: 'n', service: 's', image: 'x', state: 'running', health: 'none', exitCode: 0, ...status })).toBe(expected);
  });

  it('waits until a healthcheck passes, counting one-shot services that exited 0 as done', async () => {
    const engine = new EngineScript([
      [{ service: 'db', state: 'created' }],
      [{ service: 'db', health: 'starting' }, { service: 'migrate', state: 'running' }],
      [{ service: 'db', health: 'starting' }, { service: 'migrate', state: 'exited', exitCode: 0 }, { service: 'app' }],
      [{ service: 'db', health: 'healthy' }, { service: 'migrate', state: 'exited', exitCode: 0 }, { service: 'app' }],
    ]);
    const time = clock();
    const progress: string[] = [];
    const containers = await waitForServices(new DockerCli(engine), 'p', ['db', 'migrate', 'app'], { timeoutMs: 60_000, intervalMs: 1_000, ...time, onProgress: (m) => progress.push(m) });
    expect(containers.map((c) => `${c.service}:${c.state}:${c.health}`)).toEqual(['app:running:none', 'db:running:healthy', 'migrate:exited:none']);
    expect(time.slept).toEqual([1_000, 1_000, 1_000]);
    expect(progress[0]).toBe('Waiting for db (p-db-1 created); migrate (no container); app (no container)');
    // Containers are found by compose's labels, so v1 and v2 projects are read the same way.
    expect(engine.commands[0]).toEqual(['docker', 'ps', '--all', '--quiet', '--no-trunc', '--filter', 'label=com.docker.compose.project=p', '--filter', 'label=com.docker.compose.oneoff=False']);
  });

  it('fails at once on an unhealthy container or a non-zero exit, naming the service', async () => {
    const time = clock();
    const unhealthy = new EngineScript([[{ service: 'app', health: 'unhealthy' }, { service: 'proxy' }]]);
    const error = (await waitForServices(new DockerCli(unhealthy), 'p', ['app', 'proxy'], { timeoutMs: 60_000, ...time }).catch((e: unknown) => e)) as ServicesNotReadyError;
    expect(error).toBeInstanceOf(ServicesNotReadyError);
    expect(error.failing).toEqual(['app']);
    expect(error.timedOut).toBe(false);
    expect(error.message).toBe('Service(s) app failed: p-app-1 running, unhealthy.');
    expect(time.slept).toEqual([]);

    const crashed = new EngineScript([[{ service: 'app', state: 'exited', exitCode: 137 }]]);
    await expect(waitForServices(new DockerCli(crashed), 'p', ['app'], { timeoutMs: 60_000, ...clock() })).rejects.toThrow('p-app-1 exited with code 137');
  });

  it('gives up at the timeout, naming what is still not ready', async () => {
    const engine = new EngineScript([[{ service: 'app', health: 'starting' }, { service: 'proxy' }]]);
    const time = clock();
    const error = (await waitForServices(new DockerCli(engine), 'p', ['app', 'proxy'], { timeoutMs: 5_000, intervalMs: 2_000, ...time }).catch((e: unknown) => e)) as ServicesNotReadyError;
    expect(error.timedOut).toBe(true);
    expect(error.failing).toEqual(['app']);
    expect(error.message).toBe('Service(s) app not ready after 5.0s: app (p-app-1 running, starting).');
    // It sleeps no further than the deadline, and checks once more there.
    expect(time.slept).toEqual([2_000, 2_000, 1_000]);
  });

  it('ignores containers of services it was not asked about', async () => {
    const engine = new EngineScript([[{ service: 'app' }, { service: 'old', state: 'exited', exitCode: 1 }]]);
    const containers = await waitForServices(new DockerCli(engine), 'p', ['app'], { timeoutMs: 1_000, ...clock() });
    expect(containers.map((c) => c.service)).toEqual(['app']);
  });
});
