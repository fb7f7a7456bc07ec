/**
 * Set-up and checks for ec2-deploy's proxy mode: the test proxy image (Debian's Caddy 2.6 FROM
 * scratch, test/sandbox/proxy-image.sh), app images with a slow page, and a request loop that
 * records when each request started and ended and which release answered it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mustExec } from './exec.js';
import { pushImage } from './registry.js';
import { repoRoot } from './run-action.js';
import type { Sandbox } from './sandbox.js';

/** Builds the proxy image and pushes it to the sandbox registry; `repo@digest`, given as `proxy-image` like `caddy:2`. */
export function pushProxyImage(sandbox: Sandbox): string {
  const context = mkdtempSync(join(tmpdir(), 'slipway-proxy-image-'));
  mustExec(['bash', join(repoRoot, 'test/sandbox/proxy-image.sh'), context]);
  return pushImage(sandbox, `${sandbox.registry.host}/slipway-tests/caddy`, '2.6', context);
}

/**
 * A busybox httpd app FROM the sandbox's scratch busybox, EXPOSE 8080: `/` answers `body`,
 * `/health` answers ok (not in a `broken` image, whose health check then fails while `/` still
 * answers, so a request that reached it would show), `/cgi-bin/slow` answers `slow <body>` after 5 s.
 */
export function pushProxyApp(sandbox: Sandbox, tag: string, body: string, options: { broken?: boolean } = {}): string {
  const context = mkdtempSync(join(tmpdir(), 'slipway-proxy-app-'));
  writeFileSync(join(context, 'slow'), `#!/bin/sh\nsleep 5\nprintf 'Content-Type: text/plain\\r\\n\\r\\nslow %s\\n' '${body}'\n`, { mode: 0o755 });
  writeFileSync(
    join(context, 'Dockerfile'),
    [
      `FROM ${sandbox.baseImage}`,
      `RUN mkdir -p /www/cgi-bin /data && echo '${body}' >/www/index.html${options.broken ? '' : ' && echo ok >/www/health'}`,
      'COPY slow /www/cgi-bin/slow',
      'EXPOSE 8080',
      'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]',
      '',
    ].join('\n'),
  );
  return pushImage(sandbox, `${sandbox.registry.host}/slipway-tests/proxy-app`, tag, context);
}

export interface Answer {
  path: string;
  /** Epoch ms. */
  startMs: number;
  endMs: number;
  status?: number;
  body?: string;
  error?: string;
}

/** GET http://address/path on a connection of its own (no keep-alive), 15 s at most. */
export function get(address: string, path: string): Promise<Answer> {
  const [host, port] = address.split(':');
  const answer: Answer = { path, startMs: Date.now(), endMs: 0 };
  return new Promise((resolve) => {
    const done = (extra: Partial<Answer>) => resolve({ ...answer, ...extra, endMs: Date.now() });
    const req = request({ host, port: Number(port), path, agent: false, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => done({ status: res.statusCode, body: body.trim() }));
      res.on('error', (error) => done({ status: res.statusCode, error: error.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error) => done({ error: error.message }));
    req.end();
  });
}

/** Requests `path` every `everyMs` (each on its own, not waiting for the one before) until stopped. */
export class RequestLoop {
  /** Loops still running: a test that failed half-way leaves one, which would keep jest from exiting. */
  static readonly running = new Set<RequestLoop>();
  readonly answers: Answer[] = [];
  private readonly pending = new Set<Promise<void>>();
  private timer?: NodeJS.Timeout;
  startedMs = 0;
  stoppedMs = 0;

  // Plain fields, not parameter properties: bench/ runs this file with Node's type stripping only.
  private readonly address: string;
  private readonly path: string;
  private readonly everyMs: number;
  constructor(address: string, path = '/', everyMs = 25) {
    this.address = address;
    this.path = path;
    this.everyMs = everyMs;
  }

  start(): this {
    this.startedMs = Date.now();
    RequestLoop.running.add(this);
    this.timer = setInterval(() => {
      const sent = get(this.address, this.path).then((answer) => {
        this.answers.push(answer);
        this.pending.delete(sent);
      });
      this.pending.add(sent);
    }, this.everyMs);
    return this;
  }

  /** Stops sending and waits for every request in flight. */
  async stop(): Promise<Answer[]> {
    clearInterval(this.timer);
    RequestLoop.running.delete(this);
    this.stoppedMs = Date.now();
    await Promise.all([...this.pending]);
    return this.answers.sort((a, b) => a.startMs - b.startMs);
  }

  failed(): Answer[] {
    return this.answers.filter((a) => a.error || a.status !== 200);
  }
}
