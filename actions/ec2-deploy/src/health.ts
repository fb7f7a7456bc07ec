/**
 * When is a new container good? Docker's health status when the image has a HEALTHCHECK; else the
 * user's `health-cmd` or `health-url`, run on the host; else running for a few seconds without
 * restarting. In every case a container that exits, dies or restarts has failed at once.
 */
import { lastLines, quoteArgs, sleep as realSleep, type DockerCli } from '@slipway/core';
import type { HealthCheck } from './inputs.js';

export interface ContainerState {
  id: string;
  name: string;
  /** The image ID (`sha256:…`) the container runs. */
  imageId: string;
  /** The reference it was deployed as: our `slipway.image` label, else docker's Config.Image. */
  image: string;
  /** created, running, restarting, paused, exited, dead. */
  status: string;
  exitCode: number;
  restartCount: number;
  /** healthy, unhealthy, starting; undefined when the container has no healthcheck. */
  health?: string;
  /** Output of the last health probe, for the error. */
  healthOutput?: string;
}

interface Inspected {
  Id: string;
  Name: string;
  Image: string;
  RestartCount: number;
  Config: { Image: string; Labels?: Record<string, string> | null };
  State: { Status: string; ExitCode: number; Health?: { Status: string; Log?: { Output: string }[] | null } | null };
}

export const IMAGE_LABEL = 'slipway.image';

/** The container called `name`, or undefined when there is none. */
export async function inspectContainer(docker: DockerCli, name: string): Promise<ContainerState | undefined> {
  const result = await docker.run(['container', 'inspect', '--format', '{{json .}}', name], { allowFailure: true, timeoutMs: 60_000 });
  if (result.exitCode !== 0) {
    if (/no such (container|object)/i.test(result.stderr)) return undefined;
    throw new Error(`docker container inspect ${name} failed on ${docker.shell.target}: ${lastLines(result.stderr, 3)}`);
  }
  const c = JSON.parse(result.stdout) as Inspected;
  const log = c.State.Health?.Log ?? [];
  return {
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    imageId: c.Image,
    image: c.Config.Labels?.[IMAGE_LABEL] || c.Config.Image,
    status: c.State.Status,
    exitCode: c.State.ExitCode,
    restartCount: c.RestartCount,
    health: c.State.Health?.Status,
    healthOutput: log.length ? log[log.length - 1].Output.trim() : undefined,
  };
}

export class UnhealthyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnhealthyError';
  }
}

/**
 * How often the container is looked at. A look is one `docker inspect` over the open SSH
 * connection (~20 ms), so a short interval costs little and a long one is paid in full by every
 * deploy: with 1 s, a container healthy after 1.1 s was seen healthy only at 2 s.
 */
const POLL_MS = 250;
const AUTO_POLL_MS = 1_000;

export interface HealthOptions {
  timeoutMs: number;
  /** How long a container without any check must keep running. */
  settleMs?: number;
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** Waits until the container is healthy; returns how that was decided, or throws `UnhealthyError`. */
export async function waitUntilHealthy(docker: DockerCli, name: string, check: HealthCheck, options: HealthOptions): Promise<string> {
  const sleep = options.sleep ?? realSleep;
  const now = options.now ?? Date.now;
  const started = now();
  const settleMs = Math.min(options.settleMs ?? 5_000, options.timeoutMs);
  let c = await inspectContainer(docker, name);
  if (!c) throw new UnhealthyError(`container ${name} is gone`);
  const restarts = c.restartCount;
  const mode = c.health !== undefined ? 'docker' : check.kind;
  // Waiting out the settle time needs no quick looks: a crash shows in the restart count anyway.
  const pollMs = options.pollMs ?? (mode === 'auto' ? AUTO_POLL_MS : POLL_MS);
  let last = '';

  for (;;) {
    if (c.status === 'exited' || c.status === 'dead') throw new UnhealthyError(`container ${name} exited with code ${c.exitCode}`);
    if (c.restartCount > restarts || c.status === 'restarting') throw new UnhealthyError(`container ${name} is restarting (it crashed; ${c.restartCount} restarts)`);

    const elapsed = now() - started;
    const remaining = options.timeoutMs - elapsed;
    if (c.status === 'running') {
      if (mode === 'docker') {
        if (c.health === 'healthy') return 'the image\'s HEALTHCHECK reports healthy';
        if (c.health === 'unhealthy') throw new UnhealthyError(`the image's HEALTHCHECK reports unhealthy${c.healthOutput ? `: ${lastLines(c.healthOutput, 5)}` : ''}`);
        last = c.healthOutput ? `health: ${c.health}: ${lastLines(c.healthOutput, 3)}` : `health: ${c.health}`;
      } else if (check.kind === 'cmd' || check.kind === 'url') {
        const args =
          check.kind === 'cmd'
            ? ['sh', '-c', check.command]
            : // curl where the host has it (Amazon Linux, Ubuntu), else wget (busybox, Alpine).
              ['sh', '-c', 'if command -v curl >/dev/null 2>&1; then exec curl -fsS -o /dev/null --max-time 5 "$1"; else exec wget -q -O /dev/null "$1"; fi', 'sh', check.url];
        const probe = await docker.shell.run({ args, allowFailure: true, timeoutMs: Math.max(1_000, Math.min(30_000, remaining)) });
        if (probe.exitCode === 0 && !probe.signal && !probe.timedOut) {
          return check.kind === 'cmd' ? `health-cmd \`${check.command}\` succeeded` : `${check.url} answered`;
        }
        const what = check.kind === 'cmd' ? `\`${check.command}\`` : quoteArgs(['GET', check.url]);
        const output = probe.stderr.trim() || probe.stdout.trim();
        last = `${what} ${probe.timedOut ? 'timed out' : `exited with ${probe.exitCode}`}${output ? `: ${lastLines(output, 3)}` : ''}`;
      } else if (mode === 'auto' && elapsed >= settleMs) {
        return `running for ${Math.round(settleMs / 1000)}s without restarting`;
      }
    } else {
      last = `container status: ${c.status}`;
    }
    if (now() - started >= options.timeoutMs) {
      throw new UnhealthyError(`not healthy after ${Math.round(options.timeoutMs / 1000)}s${last ? ` (${last})` : ''}`);
    }
    await sleep(Math.min(pollMs, Math.max(100, options.timeoutMs - (now() - started))));
    c = await inspectContainer(docker, name);
    if (!c) throw new UnhealthyError(`container ${name} is gone`);
  }
}
