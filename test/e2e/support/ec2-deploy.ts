/**
 * Set-up and checks for the ec2-deploy tests: app images pushed to the sandbox registry by the
 * docker CLI (not by code under test), connection inputs for sandbox hosts, what sshd logged, and a
 * TCP listener that counts who connected to it.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec, mustExec } from './exec.js';
import { pushImage } from './registry.js';
import { runAction, type ActionResult, type RunOptions } from './run-action.js';
import { publishedAt, type Sandbox, type SandboxHost } from './sandbox.js';

/** Where a deployment keeps its files on a host (SECURITY.md): the same for ec2-deploy and compose-up. */
export const deploymentDir = (host: SandboxHost, name: string) => join(host.home, 'slipway', name);

/** Where ec2-deploy's releases before the shared layout kept them: now a link to deploymentDir, or the real one. */
export const legacyDeploymentDir = (host: SandboxHost, name: string) => join(host.home, '.slipway/ec2-deploy', name);

/** Removes a deployment's directory and the link beside it (whichever of the two is the link). */
export function removeDeploymentDir(host: SandboxHost, name: string): void {
  exec(['rm', '-rf', deploymentDir(host, name), legacyDeploymentDir(host, name)]);
}

export const appRepository = (sandbox: Sandbox) => `${sandbox.registry.host}/slipway-tests/ec2-app`;

export interface AppImage {
  /** repo@digest, as build-push's image-ref gives it. */
  ref: string;
  body: string;
}

/**
 * An app image serving `body` on :8080 (busybox httpd) that appends `body` to /data/starts at each
 * start (to see a volume survive). `healthcheck`: a HEALTHCHECK that fetches the page; `broken`:
 * the web server never starts, so that HEALTHCHECK reports unhealthy.
 */
export function pushAppImage(sandbox: Sandbox, tag: string, body: string, options: { healthcheck?: boolean; broken?: boolean } = {}): AppImage {
  const context = mkdtempSync(join(tmpdir(), 'slipway-ec2-app-'));
  const start = options.broken ? `echo '${body} starting, but its web server never will'; exec sleep 100000` : `echo '${body} started'; exec httpd -f -p 8080 -h /www`;
  writeFileSync(
    join(context, 'Dockerfile'),
    [
      `FROM ${sandbox.baseImage}`,
      `RUN mkdir -p /www /data && echo '${body}' >/www/index.html`,
      // busybox wget segfaults with -T (see test/sandbox/README.md): timeout(1) bounds it instead.
      options.healthcheck || options.broken ? 'HEALTHCHECK --interval=1s --timeout=3s --retries=2 CMD timeout 2 wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1' : '',
      `CMD ${JSON.stringify(['sh', '-c', `echo '${body}' >>/data/starts; ${start}`])}`,
      '',
    ].join('\n'),
  );
  return { ref: pushImage(sandbox, appRepository(sandbox), tag, context), body };
}

export function hostAddress(host: SandboxHost): string {
  return `${host.user}@${host.address}:${host.port}`;
}

/** Connection inputs for `hosts`, pinned by their known_hosts lines, with the plain ed25519 key. */
export function connectionInputs(sandbox: Sandbox, hosts: readonly SandboxHost[]): Record<string, string> {
  return {
    hosts: hosts.map(hostAddress).join('\n'),
    'ssh-key': readFileSync(sandbox.keys.ed25519, 'utf8'),
    'host-fingerprints': hosts.map((h) => h.knownHostsLine).join('\n'),
  };
}

export function ec2Deploy(
  inputs: Record<string, string>,
  options: { state?: Record<string, string>; timeoutMs?: number; runId?: number; cancelOn?: RunOptions['cancelOn']; actionDir?: string } = {},
): Promise<ActionResult> {
  return runAction('ec2-deploy', {
    inputs,
    actionDir: options.actionDir,
    state: options.state,
    cancelOn: options.cancelOn,
    timeoutMs: options.timeoutMs ?? 300_000,
    context: options.runId ? { runId: options.runId } : undefined,
  });
}

/** Reads what sshd appends to its log from now on. */
export class SshdLog {
  // Plain fields, not parameter properties: Node runs this file for bench/ and the demo by only
  // stripping types, which parameter properties need more than.
  private readonly file: string;
  private readonly offset: number;
  constructor(host: SandboxHost) {
    this.file = host.sshdLog;
    this.offset = statSync(host.sshdLog).size;
  }
  since(): string {
    return readFileSync(this.file).subarray(this.offset).toString('utf8');
  }
}

/** A TCP listener on 127.0.0.1 that accepts and counts connections, standing in for a host that must not be contacted. */
export async function countingListener(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let count = 0;
  const server: Server = createServer((socket) => {
    count++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { port, connections: () => count, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** `docker` on a sandbox host's engine, output trimmed; throws on failure. */
export function hostDocker(host: SandboxHost, ...args: string[]): string {
  return mustExec(['docker', '-H', host.dockerHost, ...args]);
}

/** What the container `name` on `host` serves on its published 8080, asked at the host's address. */
export function served(host: SandboxHost, name: string): string {
  const address = publishedAt(host, hostDocker(host, 'port', name, '8080/tcp'));
  const result = exec(['curl', '-sS', '--max-time', '10', `http://${address}/`]);
  return result.status === 0 ? result.stdout.trim() : '';
}

/** The `::group::` blocks of a log, title and lines, in order. */
export function logGroups(log: string): { title: string; lines: string[] }[] {
  const groups: { title: string; lines: string[] }[] = [];
  let current: { title: string; lines: string[] } | undefined;
  for (const line of log.split('\n')) {
    if (line.startsWith('::group::')) {
      current = { title: line.slice('::group::'.length), lines: [] };
      groups.push(current);
    } else if (line.startsWith('::endgroup::')) {
      current = undefined;
    } else if (current) {
      current.lines.push(line);
    }
  }
  return groups;
}
