import { describe, expect, it } from '@jest/globals';
import { forEachHost, type LogSink } from './fleet.js';
import type { SshHost } from './host-address.js';

const hosts: SshHost[] = ['a', 'b', 'c'].map((name) => ({ user: 'u', host: name, port: 22, label: `u@${name}:22` }));

function recordingSink(): { sink: LogSink; lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    sink: {
      info: (m) => lines.push(m),
      warning: (m) => lines.push(`warning: ${m}`),
      error: (m) => lines.push(`error: ${m}`),
      startGroup: (t) => lines.push(`group: ${t}`),
      endGroup: () => lines.push('endgroup'),
    },
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('fleet', () => {
  it("titles a part of a host's log with a line, not a nested group, and attaches long text after the host's group", async () => {
    const { sink, lines } = recordingSink();
    await forEachHost(
      [hosts[0]],
      { maxParallel: 1, failFast: false },
      async (_host, log) => {
        const value = await log.group('Pull app', async () => {
          log.info('pulling');
          return 42;
        });
        log.attach('Logs of the failing services on a', 'app_1 | boom');
        log.error('Re-applying failed too');
        return value;
      },
      { sink, describe: (o) => `${o.host.label}: ${String(o.value)}` },
    );
    expect(lines).toEqual([
      'group: u@a:22',
      '── Pull app',
      'pulling',
      'error: Re-applying failed too',
      'u@a:22: 42',
      'endgroup',
      'group: Logs of the failing services on a',
      'app_1 | boom',
      'endgroup',
    ]);
  });

  it('runs all hosts at once with max-parallel 0 and prints each host as one block', async () => {
    const { sink, lines } = recordingSink();
    let running = 0;
    let most = 0;
    const outcomes = await forEachHost(
      hosts,
      { maxParallel: 0, failFast: true },
      async (host, log) => {
        running++;
        most = Math.max(most, running);
        log.info(`${host.host} one`);
        await tick();
        log.info(`${host.host} two`);
        running--;
        return host.host;
      },
      { sink, describe: (o) => `${o.host.label} ${o.status}` },
    );
    expect(most).toBe(3);
    expect(outcomes.map((o) => [o.status, o.value])).toEqual([
      ['ok', 'a'],
      ['ok', 'b'],
      ['ok', 'c'],
    ]);
    // Each host's lines stay together, between its group and endgroup.
    for (const host of hosts) {
      const start = lines.indexOf(`group: ${host.label} ok`);
      expect(lines.slice(start, start + 5)).toEqual([`group: ${host.label} ok`, `${host.host} one`, `${host.host} two`, `${host.label} ok`, 'endgroup']);
    }
  });

  it('streams a host that runs alone, prints attachments in groups of their own, and stops after a failure with fail-fast', async () => {
    const { sink, lines } = recordingSink();
    const outcomes = await forEachHost(
      hosts,
      { maxParallel: 1, failFast: true },
      async (host, log) => {
        log.info(`working on ${host.host}`);
        if (host.host === 'b') {
          log.attach('b logs', 'line 1\nline 2');
          throw new Error('b broke\nmore detail');
        }
        return host.host;
      },
      { sink },
    );
    expect(outcomes.map((o) => o.status)).toEqual(['ok', 'failed', 'skipped']);
    expect(outcomes[1].error?.message).toBe('b broke\nmore detail');
    expect(lines[0]).toBe('group: u@a:22');
    expect(lines[1]).toBe('working on a');
    expect(lines).toContain('group: b logs');
    expect(lines[lines.indexOf('group: b logs') + 1]).toBe('line 1\nline 2');
    expect(lines.at(-1)).toBe('warning: u@c:22: skipped, an earlier host failed (fail-fast).');
  });

  it('goes on after a failure without fail-fast, and counts a returned failure as one', async () => {
    const { sink } = recordingSink();
    const outcomes = await forEachHost(hosts, { maxParallel: 2, failFast: false }, async (host) => ({ ok: host.host !== 'a' }), { sink, failed: (v) => !v.ok });
    expect(outcomes.map((o) => o.status)).toEqual(['failed', 'ok', 'ok']);
  });
});
