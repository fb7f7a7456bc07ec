/**
 * Helpers of the hardening suite (test/e2e/hardening-*.test.ts): fault injection through the
 * sandbox's own scripts, listeners that stand in for broken servers, and the places a secret must
 * never be found (the step log, any process's argv, files the deploy user left on a host).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { mustExec } from './exec.js';
import { containing, filesUnder } from './files.js';
import type { ArgvWatcher } from './argv-watch.js';
import { repoRoot, type ActionResult } from './run-action.js';
import { loadSandbox, type Sandbox, type SandboxHost } from './sandbox.js';

/** Runs a sandbox fault-injection script (host.sh, registry.sh); they are idempotent. */
export function sandboxScript(script: 'host.sh' | 'registry.sh', ...args: string[]): void {
  mustExec(['bash', join(repoRoot, 'test/sandbox', script), ...args]);
}

/**
 * The sandbox, with the host the hardening suite may break at will: h3, which other tests leave
 * alone. The default sandbox has two hosts: up.sh (idempotent, keeping the hosts it has) adds it.
 */
export function faultHost(): { sandbox: Sandbox; host: SandboxHost; index: string } {
  let sandbox = loadSandbox();
  if (!sandbox.hosts.some((h) => h.name === 'h3')) {
    mustExec(['bash', join(repoRoot, 'test/sandbox/up.sh'), '--hosts', '3']);
    sandbox = loadSandbox();
  }
  const host = sandbox.hosts.find((h) => h.name === 'h3');
  if (!host) throw new Error('the hardening suite needs sandbox host h3: bash test/sandbox/up.sh --hosts 3');
  return { sandbox, host, index: '3' };
}

/** PIDs of processes whose argv[0] is exactly `name` (as sshd retitles its session processes). */
function pidsTitled(name: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').trim();
      if (argv === name) pids.push(Number(pid));
    } catch {
      // Gone between readdir and read.
    }
  }
  return pids;
}

/**
 * Cuts every open SSH session of `user`, as a host that goes away does (`host.sh stop-sshd` stops
 * the listener only, open sessions live on): the privileged sshd process of each, and the user's
 * own, which holds the connection and would otherwise carry a running command on to its end.
 */
export function killSshSessions(user: string): number {
  const pids = [...pidsTitled(`sshd: ${user} [priv]`), ...pidsTitled(`sshd: ${user}@notty`)];
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Ended on its own meanwhile.
    }
  }
  return pids.length;
}

/** SIGKILLs the action process this suite started with GITHUB_RUN_ID `runId` (a runner that dies). */
export function killActionRun(runId: number): number[] {
  const killed: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!argv.includes('/dist/index.js')) continue;
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (!environ.includes(`GITHUB_RUN_ID=${runId}`)) continue;
      process.kill(Number(pid), 'SIGKILL');
      killed.push(Number(pid));
    } catch {
      // Not ours, or gone.
    }
  }
  return killed;
}

/** Waits (polling, no timing asserted) until `check` is true; throws after `limitMs`. */
export async function waitFor(what: string, check: () => boolean, limitMs = 120_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export interface Listener {
  port: number;
  /** Connections (or HTTP requests) seen so far. */
  count: () => number;
  close: () => Promise<void>;
}

/** A TCP server on 127.0.0.1:`port` that accepts and never says a word: an SSH server that hangs before its banner. */
export async function silentListener(port: number): Promise<Listener> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return {
    port,
    count: () => count,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A registry at the sandbox's `registry.faultHost` that answers every request with `status` (a
 * registry in trouble). It speaks TLS with the sandbox registry's certificate, which every engine,
 * the hosts' included, trusts at that address: a host pulls from it as from any remote registry.
 */
export async function erroringRegistry(sandbox: Sandbox, status = 503): Promise<Listener & { host: string }> {
  let count = 0;
  const tls = { cert: readFileSync(sandbox.registry.tlsCert), key: readFileSync(sandbox.registry.tlsKey) };
  const host = sandbox.registry.faultHost;
  const [address, port] = [host.slice(0, host.lastIndexOf(':')), Number(host.slice(host.lastIndexOf(':') + 1))];
  const server = createHttpsServer(tls, (request, response) => {
    count++;
    request.resume();
    response.writeHead(status, { 'Content-Type': 'application/json', 'Docker-Distribution-Api-Version': 'registry/2.0' });
    response.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'the registry is having a bad day' }] }));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, address, resolve));
  return { host, port, count: () => count, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Every form of the sandbox's secrets a leak could take: the registry token, each key line, the passphrase. */
export function sandboxSecrets(sandbox: Sandbox): { name: string; value: string }[] {
  const secrets = [
    { name: 'registry token', value: sandbox.registry.password },
    { name: 'key passphrase', value: sandbox.keys.ed25519Passphrase.passphrase },
  ];
  for (const [name, path] of [
    ['ed25519 key', sandbox.keys.ed25519],
    ['passphrase-protected key', sandbox.keys.ed25519Passphrase.path],
  ] as const) {
    const text = readFileSync(path, 'utf8');
    secrets.push({ name, value: text.trim() });
    secrets.push({ name: `${name} (base64)`, value: Buffer.from(text).toString('base64') });
    // Each line of the key's body (the BEGIN/END lines are no secret).
    text
      .split('\n')
      .filter((line) => line.length >= 20 && !line.startsWith('-----'))
      .forEach((line, i) => secrets.push({ name: `${name} line ${i + 2}`, value: line }));
  }
  return secrets;
}

function uidOf(user: string): number {
  return Number(mustExec(['id', '-u', user]));
}

/**
 * The files the deploy user of `host` could have left: everything under its home, and every file
 * it owns under /tmp and /var/tmp (the sandbox's own state directory, which holds the test keys, aside).
 */
export function filesLeftOnHost(host: SandboxHost, stateDir: string): string[] {
  const uid = uidOf(host.user);
  return [
    ...filesUnder(host.home, () => true),
    ...filesUnder('/tmp', (_, owner) => owner === uid),
    ...filesUnder(
      '/var/tmp',
      (_, owner) => owner === uid,
      (path) => path === stateDir,
    ),
  ];
}

/**
 * Every place one of the sandbox's secrets turned up: the runs' logs as the runner shows them, their
 * raw output (the `::add-mask::` lines aside), any argv the watcher saw, and `files` on the host.
 */
export function secretLeaks(sandbox: Sandbox, runs: readonly ActionResult[], watcher: ArgvWatcher, files: readonly string[]): string[] {
  const leaks: string[] = [];
  for (const { name: what, value } of sandboxSecrets(sandbox)) {
    for (const [i, result] of runs.entries()) {
      if (result.log.includes(value)) leaks.push(`${what} in the log of run ${i}`);
      if (result.raw.replace(/^::add-mask::.*$/gm, '').includes(value)) leaks.push(`${what} in the raw output of run ${i}`);
    }
    for (const argv of watcher.containing(value)) leaks.push(`${what} in argv: ${argv.slice(0, 80)}`);
    for (const file of containing(files, value)) leaks.push(`${what} in ${file}`);
  }
  return leaks;
}
