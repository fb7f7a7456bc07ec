/**
 * `Shell` on a host over SSH (node-ssh on ssh2): one connection per host, opened once and reused
 * for every command and upload of the run.
 *
 * - The host key is checked in ssh2's `hostVerifier`, which runs during key exchange, before the
 *   client authenticates: a wrong host never sees a signature made with our key.
 * - Only the connect phase (TCP connect, handshake) is retried, with backoff; a refused key or host
 *   key is not, and nothing is retried once a command started (it may have changed the host).
 * - An `error` listener stays on the ssh2 client for the connection's whole life: node-ssh removes its
 *   own once connected, and a late ECONNRESET with no listener crashes Node (node-ssh #421).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { PassThrough, Readable, type Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import * as core from '@actions/core';
import { NodeSSH } from 'node-ssh';
import type { Client, ClientChannel, SFTPWrapper } from 'ssh2';
import { LineStreamer } from '../local-shell.js';
import { retry } from '../retry.js';
import type { DeployLog } from '../log.js';
import { checkResult, quoteArg, quoteArgs, type Command, type CommandResult, type Shell } from '../shell.js';
import type { SshEndpoint } from './connection-inputs.js';
import { describeHostKeyFailure, describeHostKeyTypeMismatch, hostKeyAlgorithms, pinsForHost, verifyHostKey, type SeenHostKey } from './host-keys.js';

export type ConnectPhase = 'connect' | 'handshake' | 'host-key' | 'auth';

export class SshConnectError extends Error {
  constructor(
    readonly target: string,
    readonly phase: ConnectPhase,
    message: string,
    /** True for failures another attempt may not meet (refused, reset, timed out). */
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'SshConnectError';
  }
}

/** What an SSH connection says of itself (a host key learned, a retry): two of a deployment's log's calls. */
export type SshLog = Pick<DeployLog, 'info' | 'warning'>;

export const actionsLog: SshLog = { info: (m) => core.info(m), warning: (m) => core.warning(m) };

export interface SshShellOptions {
  endpoint: SshEndpoint;
  /** Connect through this host (ssh -J): a TCP channel from it to the target carries the session. */
  jump?: SshEndpoint;
  insecureSkipHostKeyCheck: boolean;
  connectTimeoutMs: number;
  /** Bound of a command that sets no `timeoutMs` of its own. */
  commandTimeoutMs: number;
  /** Connection attempts in all. */
  connectRetries: number;
  keepaliveIntervalMs?: number;
  /** Where retries, unverified host keys and streamed output go; the action log by default. */
  log?: SshLog;
  /** Wait before the second connection attempt; doubled after each failure. */
  retryDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** After a timeout: TERM, then KILL, then the channel is closed, then we stop waiting. */
const KILL_GRACE_MS = 5_000;
const SFTP_CHUNK = 32 * 1024;

/** ssh2's debug line with the server's host key algorithms, which it gives nowhere else. */
const REMOTE_HOST_KEY_FORMATS = 'Handshake: (remote) Host key format: ';

/** The exit code OpenSSH's client gives when the connection, not the command, failed. */
const CONNECTION_LOST_EXIT = 255;

/** A connected, verified, authenticated SSH session. */
interface Session {
  ssh: NodeSSH;
  client: Client;
  hostKey: SeenHostKey;
}

export class SshShell implements Shell {
  readonly target: string;
  private sftp?: Promise<SFTPWrapper>;
  private lostReason?: string;
  private closed = false;

  private constructor(
    private readonly session: Session,
    private readonly jumpSession: Session | undefined,
    private readonly options: SshShellOptions,
  ) {
    this.target = options.endpoint.host.label;
    // Any time later, a connection error (reset, keepalive timeout) ends the session: note why, so
    // the next command fails with the reason instead of a bare "Not connected".
    const lost = (why: string) => (error?: Error) => {
      if (!this.closed && !this.lostReason) this.lostReason = error?.message ? `${why}: ${error.message}` : why;
    };
    session.client.on('error', lost('connection error'));
    session.client.on('close', lost('connection closed'));
    jumpSession?.client.on('error', lost('jump host connection error'));
    jumpSession?.client.on('close', lost('jump host connection closed'));
  }

  /** The host key the server presented (and that was verified, unless the check is off). */
  get hostKey(): SeenHostKey {
    return this.session.hostKey;
  }

  static async connect(options: SshShellOptions): Promise<SshShell> {
    const log = options.log ?? actionsLog;
    const label = options.endpoint.host.label;
    return retry(
      async () => {
        let jump: Session | undefined;
        try {
          let sock: Duplex;
          if (options.jump) {
            jump = await openSession(options.jump, await tcpConnect(options.jump, options.connectTimeoutMs), options, log);
            sock = await forwardThrough(jump, options.endpoint, options.connectTimeoutMs);
          } else {
            sock = await tcpConnect(options.endpoint, options.connectTimeoutMs);
          }
          const session = await openSession(options.endpoint, sock, options, log);
          return new SshShell(session, jump, options);
        } catch (error) {
          jump?.ssh.dispose();
          throw error;
        }
      },
      {
        attempts: options.connectRetries,
        initialDelayMs: options.retryDelayMs ?? 2_000,
        sleep: options.sleep,
        retryable: (error) => error instanceof SshConnectError && error.retryable,
        onRetry: (error, attempt, delay) => log.warning(`${label}: connection attempt ${attempt} of ${options.connectRetries} failed (${(error as Error).message}); trying again in ${delay / 1000}s.`),
      },
    );
  }

  async run(command: Command): Promise<CommandResult> {
    if (this.closed) throw new Error(`${this.target}: the SSH connection was closed before \`${quoteArgs(command.args)}\`.`);
    if (this.lostReason) throw new Error(`${this.target}: the SSH connection is gone (${this.lostReason}); \`${quoteArgs(command.args)}\` was not run.`);
    const line = remoteCommandLine(command);
    const timeoutMs = command.timeoutMs ?? this.options.commandTimeoutMs;
    const started = Date.now();
    const out = new Collector();
    const err = new Collector();
    const log = this.options.log ?? actionsLog;
    const streamer = command.stream ? new LineStreamer((text) => log.info(text)) : undefined;
    const outLines = command.onLine ? new LineStreamer((text) => command.onLine!(text, 'stdout')) : undefined;
    const errLines = command.onLine ? new LineStreamer((text) => command.onLine!(text, 'stderr')) : undefined;
    // Held open, stdin ends only when we end it after the command, or when the session goes.
    const heldStdin = command.holdStdin ? new PassThrough() : undefined;
    if (heldStdin && command.stdin !== undefined) heldStdin.write(command.stdin);
    // Written after the command ended: nobody reads it, and a write after end would throw.
    if (heldStdin) command.feed?.((text) => void (heldStdin.writableEnded || heldStdin.write(text)));

    let channel: ClientChannel | undefined;
    let timedOut = false;
    const timers: NodeJS.Timeout[] = [];
    let giveUp: (() => void) | undefined;
    const abandoned = new Promise<null>((resolve) => (giveUp = () => resolve(null)));

    const execution = this.session.ssh
      .execCommand(line, {
        stdin: heldStdin ?? (command.stdin === undefined ? undefined : typeof command.stdin === 'string' ? command.stdin : Readable.from([command.stdin])),
        noTrim: true,
        onChannel: (ch) => {
          channel = ch;
          // A command that exits before reading all its stdin closes the channel: not our error.
          ch.on('error', () => {});
        },
        onStdout: (chunk) => {
          const text = out.push(chunk);
          streamer?.push(text);
          outLines?.push(text);
        },
        onStderr: (chunk) => {
          const text = err.push(chunk);
          streamer?.push(text);
          errLines?.push(text);
        },
      })
      .catch((error: Error) => {
        // The exec request itself failed (the connection went, or the server refused a channel).
        err.text += `${error.message}\n`;
        return { code: null, signal: null, stdout: '', stderr: '' };
      });

    timers.push(
      setTimeout(() => {
        timedOut = true;
        sendSignal(channel, 'TERM');
        timers.push(setTimeout(() => sendSignal(channel, 'KILL'), KILL_GRACE_MS));
        timers.push(setTimeout(() => channel?.close(), KILL_GRACE_MS * 2));
        timers.push(setTimeout(() => giveUp?.(), KILL_GRACE_MS * 3));
      }, timeoutMs),
    );
    const response = await Promise.race([execution, abandoned]);
    for (const timer of timers) clearTimeout(timer);
    heldStdin?.end();
    streamer?.flush();
    outLines?.flush();
    errLines?.flush();

    let exitCode = response?.code ?? CONNECTION_LOST_EXIT;
    const signal = response?.signal ? (response.signal.startsWith('SIG') ? response.signal : `SIG${response.signal}`) : undefined;
    if (response && response.code === null && !response.signal && !timedOut) {
      // No exit status: the channel closed under the command (connection lost). Never a success.
      err.text += `${this.target}: the connection ended before the command reported its exit status${this.lostReason ? ` (${this.lostReason})` : ''}.\n`;
      exitCode = CONNECTION_LOST_EXIT;
    }
    if (signal && exitCode === 0) exitCode = 128;
    const result: CommandResult = { exitCode, signal, timedOut, stdout: out.end(), stderr: err.end(), durationMs: Date.now() - started };
    return checkResult(this.target, command, result);
  }

  /**
   * Writes a file over SFTP. The mode is set on the open handle before any byte is written, so a
   * secret is never readable by others, not even for a moment, even when the file existed before.
   */
  async writeFile(path: string, content: string | Buffer, mode: number): Promise<void> {
    if (this.lostReason) throw new Error(`${this.target}: the SSH connection is gone (${this.lostReason}); ${path} was not written.`);
    this.sftp ??= this.session.ssh.requestSFTP();
    const sftp = await this.sftp;
    const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    const call = <T>(fn: (cb: (error: Error | null | undefined, value?: T) => void) => void) =>
      new Promise<T>((resolve, reject) => fn((error, value) => (error ? reject(new Error(`${this.target}: writing ${path} over SFTP failed: ${error.message}`)) : resolve(value as T))));
    const handle = await call<Buffer>((cb) => sftp.open(path, 'w', { mode }, cb));
    try {
      await call<void>((cb) => sftp.fchmod(handle, mode, cb));
      for (let offset = 0; offset < data.length; offset += SFTP_CHUNK) {
        const length = Math.min(SFTP_CHUNK, data.length - offset);
        await call<void>((cb) => sftp.write(handle, data, offset, length, offset, cb));
      }
    } finally {
      await call<void>((cb) => sftp.close(handle, cb));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sftp) {
      try {
        (await this.sftp).end();
      } catch {
        // The SFTP session never opened: nothing to end.
      }
    }
    this.session.ssh.dispose();
    this.jumpSession?.ssh.dispose();
  }
}

/**
 * Sends a signal request (RFC 4254 6.9); OpenSSH's sshd delivers it to the command's process group.
 * ssh2's `channel.signal()` sends nothing once our side of the channel is ended (stdin closed, which
 * every command here does at once), though the protocol allows it: so the request goes out directly.
 */
function sendSignal(channel: ClientChannel | undefined, name: 'TERM' | 'KILL'): void {
  const ch = channel as unknown as { outgoing?: { id: number; state: string }; _client?: { _protocol?: { signal(id: number, name: string): void } } } | undefined;
  // 'eof' is our stdin ended: the channel is still open both ways for requests.
  if (ch?.outgoing && ['open', 'eof'].includes(ch.outgoing.state)) ch._client?._protocol?.signal(ch.outgoing.id, name);
}

/** Decodes a byte stream as UTF-8 without splitting characters across chunks. */
class Collector {
  text = '';
  private readonly decoder = new StringDecoder('utf8');

  push(chunk: Buffer): string {
    const piece = this.decoder.write(chunk);
    this.text += piece;
    return piece;
  }

  end(): string {
    this.text += this.decoder.end();
    return this.text;
  }
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The command line of an SSH exec request, which the host's login shell (POSIX, as for `ssh host
 * cmd`) interprets: every word quoted by `quoteArgs`. The environment has to travel in this line (sshd
 * refuses most `env` requests, AcceptEnv), so it is visible in the host's process list: never put a
 * secret in `Command.env` (they go on stdin or in 0600 files).
 */
export function remoteCommandLine(command: Command): string {
  const words: string[] = [];
  if (command.cwd) words.push('cd', quoteArg(command.cwd), '&&');
  const env = Object.entries(command.env ?? {});
  if (env.length) {
    words.push('env');
    for (const [name, value] of env) {
      if (!ENV_NAME.test(name)) throw new Error(`invalid environment variable name "${name}"`);
      words.push(quoteArg(`${name}=${value}`));
    }
  }
  words.push(quoteArgs(command.args));
  return words.join(' ');
}

/** TCP to the endpoint, bounded by its own timeout (ssh2's readyTimeout covers only the handshake). */
function tcpConnect(endpoint: SshEndpoint, timeoutMs: number): Promise<Socket> {
  const { host, port, label } = endpoint.host;
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new SshConnectError(label, 'connect', `${label}: TCP connection timed out after ${timeoutMs / 1000}s`, true));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      // Every command is a few small packets each way: with Nagle's algorithm on, each waits for
      // the peer's delayed ACK (40 ms on Linux), which made a command's round trip ~100 ms.
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const permanent = error.code === 'ENOTFOUND';
      reject(new SshConnectError(label, 'connect', `${label}: TCP connection failed: ${error.code ?? error.message}${permanent ? ' (no such host name)' : ''}`, !permanent));
    });
  });
}

/** A TCP channel from the jump host to the target: the target's SSH session runs inside it. */
async function forwardThrough(jump: Session, target: SshEndpoint, timeoutMs: number): Promise<Duplex> {
  const { host, port, label } = target.host;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      jump.ssh.forwardOut('127.0.0.1', 0, host, port) as Promise<Duplex>,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new SshConnectError(label, 'connect', `${label}: no connection through the jump host within ${timeoutMs / 1000}s`, true)), timeoutMs);
      }),
    ]);
  } catch (error) {
    if (error instanceof SshConnectError) throw error;
    // sshd on the jump host answers "Connection refused" / "open failed" when it cannot reach the target.
    throw new SshConnectError(label, 'connect', `${label}: the jump host could not connect to it: ${(error as Error).message}`, true);
  } finally {
    clearTimeout(timer);
  }
}

/** SSH handshake, host key check and authentication over `sock`. */
async function openSession(endpoint: SshEndpoint, sock: Duplex, options: SshShellOptions, log: SshLog): Promise<Session> {
  const { host } = endpoint;
  const label = host.label;
  let seen: SeenHostKey | undefined;
  let refusal: string | undefined;
  let offered: string[] | undefined;
  const pins = pinsForHost(endpoint.hostKeys, host.host, host.port);
  const ssh = new NodeSSH();
  const connecting = ssh.connect({
    sock: sock,
    username: host.user,
    privateKey: endpoint.key.text,
    passphrase: endpoint.key.passphrase,
    // The key only: ssh2 would otherwise ask with method `none` first, a round trip spent to learn
    // the methods the server allows, where the key's own attempt says whether it is accepted.
    authHandler: ['publickey'],
    readyTimeout: options.connectTimeoutMs,
    keepaliveInterval: options.keepaliveIntervalMs ?? 15_000,
    keepaliveCountMax: 4,
    // Without this, the server picks its preferred key type, which may not be the one pinned.
    algorithms: options.insecureSkipHostKeyCheck ? undefined : { serverHostKey: hostKeyAlgorithms(pins) as never },
    // When the host has no key of a pinned type, the error should name the types it has.
    debug: (line: string) => {
      if (line.startsWith(REMOTE_HOST_KEY_FORMATS)) offered = line.slice(REMOTE_HOST_KEY_FORMATS.length).split(',');
    },
    // Called with the raw public key blob (no hostHash): its SHA256 is OpenSSH's fingerprint.
    hostVerifier: (blob: Buffer) => {
      const verdict = verifyHostKey(endpoint.hostKeys, host.host, host.port, blob);
      seen = verdict.key;
      if (options.insecureSkipHostKeyCheck) {
        log.warning(
          `${label}: host key NOT verified (insecure-skip-host-key-check); it presented ${seen.keyType} ${seen.fingerprint}. ` +
            `Pin it: add ${seen.fingerprint} to \`${endpoint.hostKeysInput}\` and drop insecure-skip-host-key-check.`,
        );
        return true;
      }
      if (!verdict.ok) refusal = describeHostKeyFailure(label, verdict, endpoint.hostKeysInput);
      return verdict.ok;
    },
  });
  // node-ssh creates the client synchronously inside connect(): listen for errors from now on.
  const client = ssh.connection!;
  client.on('error', () => {});
  try {
    await connecting;
  } catch (error) {
    ssh.dispose();
    sock.destroy();
    throw classifyConnectError(label, endpoint, error as Error & { level?: string; code?: string }, refusal, options.connectTimeoutMs, offered);
  }
  if (!seen) throw new SshConnectError(label, 'host-key', `${label}: the host key was never checked`, false);
  return { ssh, client, hostKey: seen };
}

function classifyConnectError(
  label: string,
  endpoint: SshEndpoint,
  error: Error & { level?: string; code?: string },
  refusal: string | undefined,
  timeoutMs: number,
  /** The server's host key algorithms, from its key exchange init. */
  offered: readonly string[] | undefined,
): SshConnectError {
  if (refusal) return new SshConnectError(label, 'host-key', refusal, false);
  const message = error.message;
  if (error.level === 'client-authentication') {
    return new SshConnectError(
      label,
      'auth',
      `${label}: authentication failed: the host refused the key ${endpoint.key.type} ${endpoint.key.fingerprint} for user ${endpoint.host.user} ` +
        `(is its public key in ~${endpoint.host.user}/.ssh/authorized_keys, and is the user right?)`,
      false,
    );
  }
  if (/no matching host key format/i.test(message)) {
    const pins = pinsForHost(endpoint.hostKeys, endpoint.host.host, endpoint.host.port);
    const why = offered ? describeHostKeyTypeMismatch(label, offered, pins, endpoint.hostKeysInput) : `${label}: the host offers none of the pinned host key types (${message}); pin the key it has.`;
    return new SshConnectError(label, 'host-key', why, false);
  }
  if (error.level === 'client-timeout' || /timed out/i.test(message)) {
    return new SshConnectError(label, 'handshake', `${label}: SSH handshake timed out after ${timeoutMs / 1000}s (${message})`, true);
  }
  // Reset, closed before the handshake finished ("No response from server"): worth another try.
  return new SshConnectError(label, 'handshake', `${label}: SSH handshake failed: ${message}`, true);
}
