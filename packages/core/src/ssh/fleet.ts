/**
 * Working on many hosts: at most `maxParallel` at once, stopping after a failure when `failFast`,
 * and with each host's log kept together. Hosts that run in parallel write into a buffer that is
 * printed as one group when the host finishes; a host that runs alone streams into its group.
 */
import * as core from '@actions/core';
import { formatDuration } from '../inputs.js';
import type { DeployLog } from '../log.js';
import type { SshHost } from './host-address.js';

export interface FleetOptions {
  /** 0 means all hosts at once. */
  maxParallel: number;
  /** After a host fails, start no further hosts (meaningful when hosts wait their turn). */
  failFast: boolean;
}

export interface HostOutcome<T> {
  host: SshHost;
  status: 'ok' | 'failed' | 'skipped';
  value?: T;
  error?: Error;
  durationMs: number;
}

export interface FleetCallbacks<T> {
  /** Whether a host that returned `value` failed (e.g. it was rolled back); default never. */
  failed?: (value: T) => boolean;
  /** One line for the end of a host's group and its title (failures are the caller's to annotate). */
  describe?: (outcome: HostOutcome<T>) => string;
  /** Where the groups go: the action log by default. */
  sink?: LogSink;
}

/** The few @actions/core calls a fleet's log needs; replaced in tests. */
export interface LogSink {
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  startGroup(title: string): void;
  endGroup(): void;
}

export const actionsSink: LogSink = {
  info: (m) => core.info(m),
  warning: (m) => core.warning(m),
  error: (m) => core.error(m),
  startGroup: (t) => core.startGroup(t),
  endGroup: () => core.endGroup(),
};

type Entry = { kind: 'info' | 'warning' | 'error'; text: string };

class BufferedHostLog implements DeployLog {
  readonly entries: Entry[] = [];
  readonly attachments: { title: string; text: string }[] = [];

  constructor(
    private readonly sink: LogSink,
    /** Streaming: write through at once instead of keeping the lines. */
    private readonly live: boolean,
  ) {}

  info(text: string): void {
    this.add({ kind: 'info', text });
  }
  warning(text: string): void {
    this.add({ kind: 'warning', text });
  }
  error(text: string): void {
    this.add({ kind: 'error', text });
  }
  attach(title: string, text: string): void {
    this.attachments.push({ title, text });
  }
  group<R>(title: string, fn: () => Promise<R>): Promise<R> {
    this.info(`── ${title}`);
    return fn();
  }

  private add(entry: Entry): void {
    if (this.live) this.sink[entry.kind](entry.text);
    else this.entries.push(entry);
  }
}

function defaultDescribe<T>(outcome: HostOutcome<T>): string {
  if (outcome.status === 'skipped') return `${outcome.host.label}: skipped`;
  const how = outcome.status === 'ok' ? 'done' : `failed${outcome.error ? `: ${outcome.error.message.split('\n')[0]}` : ''}`;
  return `${outcome.host.label}: ${how} in ${formatDuration(outcome.durationMs)}`;
}

export async function forEachHost<T>(
  hosts: readonly SshHost[],
  options: FleetOptions,
  work: (host: SshHost, log: DeployLog) => Promise<T>,
  callbacks: FleetCallbacks<T> = {},
): Promise<HostOutcome<T>[]> {
  const sink = callbacks.sink ?? actionsSink;
  const describe = callbacks.describe ?? defaultDescribe;
  const parallel = options.maxParallel > 0 ? Math.min(options.maxParallel, hosts.length) : hosts.length;
  const live = parallel === 1;
  const outcomes: HostOutcome<T>[] = new Array<HostOutcome<T>>(hosts.length);
  let next = 0;
  let stop = false;

  const runOne = async (index: number): Promise<void> => {
    const host = hosts[index];
    const log = new BufferedHostLog(sink, live);
    if (live) sink.startGroup(host.label);
    const started = Date.now();
    let outcome: HostOutcome<T>;
    try {
      const value = await work(host, log);
      outcome = { host, status: callbacks.failed?.(value) ? 'failed' : 'ok', value, durationMs: Date.now() - started };
    } catch (error) {
      outcome = { host, status: 'failed', error: error instanceof Error ? error : new Error(String(error)), durationMs: Date.now() - started };
    }
    outcomes[index] = outcome;
    const summary = describe(outcome);
    // Printed as one block: no other host's line can land inside it.
    if (!live) {
      sink.startGroup(summary);
      for (const entry of log.entries) sink[entry.kind](entry.text);
    }
    sink.info(summary);
    sink.endGroup();
    for (const { title, text } of log.attachments) {
      sink.startGroup(title);
      sink.info(text);
      sink.endGroup();
    }
    if (outcome.status === 'failed' && options.failFast && options.maxParallel > 0) stop = true;
  };

  const worker = async (): Promise<void> => {
    while (!stop && next < hosts.length) await runOne(next++);
  };
  await Promise.all(Array.from({ length: parallel }, worker));

  for (let i = 0; i < hosts.length; i++) {
    if (!outcomes[i]) {
      outcomes[i] = { host: hosts[i], status: 'skipped', durationMs: 0 };
      sink.warning(`${hosts[i].label}: skipped, an earlier host failed (fail-fast).`);
    }
  }
  return outcomes;
}

/** A message about one host, with the host in front unless it names it already (core's errors do). */
export function aboutHost(label: string, message: string): string {
  return message.startsWith(label) ? message : `${label}: ${message}`;
}
