#!/usr/bin/env node
// A TCP relay that adds latency: every chunk is held --delay-ms / 2 in each direction, so a round
// trip through it costs --delay-ms more, as a far-away EC2 region would. This kernel has no
// sch_netem (`tc qdisc ... netem` fails), hence a relay. Order is kept: a chunk is released no
// earlier than the one before it. Started and stopped by test/sandbox/host.sh (delay / undelay).
//
// Usage: node delay-relay.mjs --listen 127.0.0.1:22001 --target 10.210.0.11:22 --delay-ms 100 [--pidfile F]
import { writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    listen: { type: 'string' },
    target: { type: 'string' },
    'delay-ms': { type: 'string', default: '100' },
    pidfile: { type: 'string' },
  },
});

function hostPort(value, name) {
  const match = /^(.+):(\d+)$/.exec(value ?? '');
  if (!match) throw new Error(`--${name} must be host:port, got ${JSON.stringify(value)}`);
  return { host: match[1], port: Number(match[2]) };
}

const listen = hostPort(values.listen, 'listen');
const target = hostPort(values.target, 'target');
const delayMs = Number(values['delay-ms']);
if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error('--delay-ms must be a number of milliseconds >= 0');
const oneWay = delayMs / 2;

/**
 * Copies `from` to `to`, each chunk released oneWay ms after it arrived, in order; ends `to` after
 * the last. One queue and one timer a direction: a timer per chunk can fire out of order (Node
 * orders timers of different durations by an expiry computed from its own cached loop time), and
 * one reordered chunk in an SSH stream is a MAC error that ends the connection.
 */
function delayedPipe(from, to) {
  const queue = [];
  let timer;
  let ended = false;
  const release = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length && queue[0].at <= now) {
      const { chunk } = queue.shift();
      if (!to.destroyed) to.write(chunk);
    }
    if (queue.length) timer = setTimeout(release, Math.max(0, queue[0].at - now));
    else if (ended) to.end();
  };
  from.on('data', (chunk) => {
    queue.push({ chunk, at: performance.now() + oneWay });
    timer ??= setTimeout(release, oneWay);
  });
  from.on('end', () => {
    ended = true;
    if (!timer && !queue.length) to.end();
  });
}

// Half-open allowed: an end is passed on only after the data held before it (see delayedPipe).
const server = createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
  const upstream = connect({ host: target.host, port: target.port, noDelay: true, allowHalfOpen: true });
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  delayedPipe(client, upstream);
  delayedPipe(upstream, client);
});

server.listen(listen.port, listen.host, () => {
  if (values.pidfile) writeFileSync(values.pidfile, `${process.pid}\n`);
  console.log(`delay-relay: ${listen.host}:${listen.port} -> ${target.host}:${target.port}, +${delayMs} ms a round trip`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
