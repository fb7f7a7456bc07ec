/** waitUntilHealthy against a fake Shell standing for a host: docker's answers are scripted, the waiting logic is real. */
import { describe, expect, it } from '@jest/globals';
import { DockerCli, type Command, type CommandResult, type Shell } from '@slipway/core';
import { UnhealthyError, waitUntilHealthy } from './health.js';

interface State {
  status?: string;
  health?: string;
  restarts?: number;
  exitCode?: number;
  healthLog?: string;
}

/** A host whose container goes through `states`, one per inspect; probes answer from `probe`. */
class FakeHost implements Shell {
  readonly target = 'u@h:22';
  readonly commands: string[][] = [];
  constructor(
    private readonly states: State[],
    private readonly probe: (args: readonly string[]) => number = () => 1,
  ) {}

  async run(command: Command): Promise<CommandResult> {
    this.commands.push([...command.args]);
    const ok = (stdout: string, exitCode = 0): CommandResult => ({ exitCode, timedOut: false, stdout, stderr: exitCode ? 'failed' : '', durationMs: 1 });
    if (command.args[0] === 'docker' && command.args[1] === 'container') {
      const s = this.states.length > 1 ? this.states.shift()! : this.states[0];
      return ok(
        JSON.stringify({
          Id: 'c1', Name: '/app', Image: 'sha256:1', RestartCount: s.restarts ?? 0, Config: { Image: 'app:v1', Labels: {} },
          State: { Status: s.status ?? 'running', ExitCode: s.exitCode ?? 0, Health: s.health ? { Status: s.health, Log: s.healthLog ? [{ Output: s.healthLog }] : [] } : undefined },
        }),
      );
    }
    return ok('', this.probe(command.args));
  }
  async writeFile(): Promise<void> {}
  async close(): Promise<void> {}
}

function clock() {
  let now = 0;
  return { now: () => now, sleep: async (ms: number) => void (now += ms) };
}

describe('health', () => {
  it('follows the image HEALTHCHECK when there is one', async () => {
    const host = new FakeHost([{ health: 'starting' }, { health: 'starting' }, { health: 'healthy' }]);
    await expect(waitUntilHealthy(new DockerCli(host), 'app', { kind: 'url', url: 'http://x' }, { timeoutMs: 60_000, ...clock() })).resolves.toBe(
      "the image's HEALTHCHECK reports healthy",
    );
    // The HEALTHCHECK wins: the URL was never fetched.
    expect(host.commands.every((c) => c[0] === 'docker')).toBe(true);
  });

  it('fails at once on unhealthy, with the probe output', async () => {
    const host = new FakeHost([{ health: 'starting' }, { health: 'unhealthy', healthLog: 'connection refused' }]);
    await expect(waitUntilHealthy(new DockerCli(host), 'app', { kind: 'auto' }, { timeoutMs: 60_000, ...clock() })).rejects.toThrow(
      "the image's HEALTHCHECK reports unhealthy: connection refused",
    );
  });

  it('runs health-cmd on the host until it succeeds', async () => {
    let calls = 0;
    const host = new FakeHost([{}], (args) => (args[0] === 'sh' && ++calls >= 3 ? 0 : 1));
    await expect(waitUntilHealthy(new DockerCli(host), 'app', { kind: 'cmd', command: 'curl -f localhost' }, { timeoutMs: 60_000, ...clock() })).resolves.toBe(
      'health-cmd `curl -f localhost` succeeded',
    );
    expect(host.commands.filter((c) => c[0] === 'sh')).toEqual(Array(3).fill(['sh', '-c', 'curl -f localhost']));
  });

  it('gives the URL to curl or wget as an argument, never inside the script', async () => {
    const host = new FakeHost([{}], () => 0);
    await waitUntilHealthy(new DockerCli(host), 'app', { kind: 'url', url: "http://x/'; reboot" }, { timeoutMs: 60_000, ...clock() });
    const probe = host.commands.find((c) => c[0] === 'sh')!;
    expect(probe.at(-1)).toBe("http://x/'; reboot");
    expect(probe[2]).not.toContain('reboot');
  });

  it('times out naming the last failure', async () => {
    const host = new FakeHost([{}], () => 7);
    await expect(waitUntilHealthy(new DockerCli(host), 'app', { kind: 'cmd', command: 'false' }, { timeoutMs: 10_000, ...clock() })).rejects.toThrow(
      'not healthy after 10s (`false` exited with 7: failed)',
    );
  });

  it('without any check, wants a few seconds of running without restarts', async () => {
    const ok = new FakeHost([{}]);
    await expect(waitUntilHealthy(new DockerCli(ok), 'app', { kind: 'auto' }, { timeoutMs: 60_000, ...clock() })).resolves.toBe('running for 5s without restarting');
    const crashing = new FakeHost([{ restarts: 0 }, { restarts: 0 }, { status: 'restarting', restarts: 1 }]);
    await expect(waitUntilHealthy(new DockerCli(crashing), 'app', { kind: 'auto' }, { timeoutMs: 60_000, ...clock() })).rejects.toThrow(UnhealthyError);
    const exited = new FakeHost([{}, { status: 'exited', exitCode: 3 }]);
    await expect(waitUntilHealthy(new DockerCli(exited), 'app', { kind: 'auto' }, { timeoutMs: 60_000, ...clock() })).rejects.toThrow('container app exited with code 3');
  });
});
