import { describe, expect, it } from '@jest/globals';
import { DockerCli } from '../docker.js';
import { fakeClock } from '../testing/clock.js';
import { scriptContainers } from '../testing/docker.js';
import { ScriptedShell } from '../testing/scripted-shell.js';
import { ServicesNotReadyError, readiness, waitForServices, type ContainerStatus } from './health.js';

type Snapshot = Array<Partial<ContainerStatus> & { service: string }>;

/** An engine whose compose containers are one snapshot per `docker ps` (the last one repeating): the only thing replaced here. */
function engine(snapshots: Snapshot[]): ScriptedShell {
  const shell = new ScriptedShell({ target: 'fake' });
  scriptContainers(shell, (poll) =>
    snapshots[Math.min(poll, snapshots.length - 1)].map((c, i) => ({
      id: `id-${c.service}-${i}`,
      name: `p-${c.service}-${i + 1}`,
      image: `img/${c.service}`,
      state: 'running',
      health: 'none',
      exitCode: 0,
      ...c,
    })),
  );
  return shell;
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
    const host = engine([
      [{ service: 'db', state: 'created' }],
      [
        { service: 'db', health: 'starting' },
        { service: 'migrate', state: 'running' },
      ],
      [{ service: 'db', health: 'starting' }, { service: 'migrate', state: 'exited', exitCode: 0 }, { service: 'app' }],
      [{ service: 'db', health: 'healthy' }, { service: 'migrate', state: 'exited', exitCode: 0 }, { service: 'app' }],
    ]);
    const time = fakeClock();
    const progress: string[] = [];
    const containers = await waitForServices(new DockerCli(host), 'p', ['db', 'migrate', 'app'], { timeoutMs: 60_000, intervalMs: 1_000, ...time, onProgress: (m) => progress.push(m) });
    expect(containers.map((c) => `${c.service}:${c.state}:${c.health}`)).toEqual(['app:running:none', 'db:running:healthy', 'migrate:exited:none']);
    expect(time.slept).toEqual([1_000, 1_000, 1_000]);
    expect(progress[0]).toBe('Waiting for db (p-db-1 created); migrate (no container); app (no container)');
    // Containers are found by compose's labels, so v1 and v2 projects are read the same way.
    expect(host.commands[0].args).toEqual(['docker', 'ps', '--all', '--quiet', '--no-trunc', '--filter', 'label=com.docker.compose.project=p', '--filter', 'label=com.docker.compose.oneoff=False']);
  });

  it('fails at once on an unhealthy container or a non-zero exit, naming the service', async () => {
    const time = fakeClock();
    const unhealthy = engine([[{ service: 'app', health: 'unhealthy' }, { service: 'proxy' }]]);
    const error = (await waitForServices(new DockerCli(unhealthy), 'p', ['app', 'proxy'], { timeoutMs: 60_000, ...time }).catch((e: unknown) => e)) as ServicesNotReadyError;
    expect(error).toBeInstanceOf(ServicesNotReadyError);
    expect(error.failing).toEqual(['app']);
    expect(error.timedOut).toBe(false);
    expect(error.message).toBe('Service(s) app failed: p-app-1 running, unhealthy.');
    expect(time.slept).toEqual([]);

    const crashed = engine([[{ service: 'app', state: 'exited', exitCode: 137 }]]);
    await expect(waitForServices(new DockerCli(crashed), 'p', ['app'], { timeoutMs: 60_000, ...fakeClock() })).rejects.toThrow('p-app-1 exited with code 137');
  });

  it('gives up at the timeout, naming what is still not ready', async () => {
    const host = engine([[{ service: 'app', health: 'starting' }, { service: 'proxy' }]]);
    const time = fakeClock();
    const error = (await waitForServices(new DockerCli(host), 'p', ['app', 'proxy'], { timeoutMs: 5_000, intervalMs: 2_000, ...time }).catch((e: unknown) => e)) as ServicesNotReadyError;
    expect(error.timedOut).toBe(true);
    expect(error.failing).toEqual(['app']);
    expect(error.message).toBe('Service(s) app not ready after 5.0s: app (p-app-1 running, starting).');
    // It sleeps no further than the deadline, and checks once more there.
    expect(time.slept).toEqual([2_000, 2_000, 1_000]);
  });

  it('ignores containers of services it was not asked about', async () => {
    const host = engine([[{ service: 'app' }, { service: 'old', state: 'exited', exitCode: 1 }]]);
    const containers = await waitForServices(new DockerCli(host), 'p', ['app'], { timeoutMs: 1_000, ...fakeClock() });
    expect(containers.map((c) => c.service)).toEqual(['app']);
  });
});
