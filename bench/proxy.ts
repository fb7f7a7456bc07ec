/**
 * Proxy mode against stop-and-start (issue 12), on one sandbox host (h5, away from the swarm tests'
 * h1..h3): the same two images deployed in turn, `runs` times each way, while this process requests
 * the app 40 times a second. For each deploy: its wall time, the requests that failed, and in proxy
 * mode the switch time, the `switch` phase of the step's timeline: from the new release reported
 * healthy to the proxy sending it every request (the live file made or removed on the host).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { exec } from '../test/e2e/support/exec.js';
import { connectionInputs, removeDeploymentDir } from '../test/e2e/support/ec2-deploy.js';
import { pushProxyImage, RequestLoop } from '../test/e2e/support/proxy.js';
import { pushImage } from '../test/e2e/support/registry.js';
import { runAction } from '../test/e2e/support/run-action.js';
import type { Sandbox, SandboxHost } from '../test/e2e/support/sandbox.js';

// Ports of their own, away from the demo (80, 8080), the tests and the other bench sections.
const PLAIN = { name: 'bench-px-plain', port: 18097 };
const PROXY = { name: 'bench-px-proxy', port: 18098 };

export interface ProxyBenchResult {
  runs: number;
  plain: { wallMs: number; failed: number; requests: number };
  proxy: { wallMs: number; failed: number; requests: number; switchMs: number; drainMs: number };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** busybox httpd on :8080 (EXPOSEd) under docker's init, with /health. */
function pushApp(sandbox: Sandbox, tag: string): string {
  const context = mkdtempSync(join(tmpdir(), 'slipway-bench-proxy-'));
  writeFileSync(
    join(context, 'Dockerfile'),
    [`FROM ${sandbox.baseImage}`, `RUN mkdir -p /www && echo '${tag}' >/www/index.html && echo ok >/www/health`, 'EXPOSE 8080', 'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]', ''].join('\n'),
  );
  return pushImage(sandbox, `${sandbox.registry.host}/slipway-bench/proxy-app`, tag, context);
}

function cleanUp(host: SandboxHost): void {
  const docker = (...args: string[]) => exec(['docker', '-H', host.dockerHost, ...args]);
  const releases = docker('ps', '--all', '--quiet', '--filter', `label=slipway.release=${PROXY.name}`).stdout.split('\n').filter(Boolean);
  docker('rm', '--force', PLAIN.name, `${PROXY.name}-slipway-proxy`, ...releases);
  docker('network', 'rm', `${PROXY.name}-slipway`);
  for (const name of [PLAIN.name, PROXY.name]) removeDeploymentDir(host, name);
}

/** The `switch` phase of the summary's gantt chart, in ms. */
function switchPhaseMs(summary: string): number {
  const match = /^\s*switch ([\d.]+)s :/m.exec(summary);
  return match ? Number(match[1]) * 1000 : NaN;
}

export async function proxyBench(sandbox: Sandbox, runs: number, progress: (message: string) => void): Promise<ProxyBenchResult> {
  const host = sandbox.hosts.find((h) => h.name === 'h5') ?? sandbox.hosts[sandbox.hosts.length - 1];
  cleanUp(host);
  progress('proxy: pushing the images');
  const images = [pushApp(sandbox, `a-${Date.now()}`), pushApp(sandbox, `b-${Date.now()}`)];
  const proxyImage = pushProxyImage(sandbox);
  const common = {
    ...connectionInputs(sandbox, [host]),
    'registry-username': sandbox.registry.username,
    'registry-password': sandbox.registry.password,
    'run-args': '--init',
  };
  const modes = {
    plain: { ...common, name: PLAIN.name, ports: `${PLAIN.port}:8080`, 'health-url': `http://127.0.0.1:${PLAIN.port}/health` },
    proxy: { ...common, name: PROXY.name, 'proxy-port': String(PROXY.port), 'proxy-image': proxyImage, 'health-url': '/health' },
  };
  const samples = { plain: { wall: [] as number[], failed: 0, requests: 0 }, proxy: { wall: [] as number[], failed: 0, requests: 0, switch: [] as number[], drain: [] as number[] } };
  try {
    for (const mode of ['plain', 'proxy'] as const) {
      const port = mode === 'plain' ? PLAIN.port : PROXY.port;
      // The first deploy puts a release (and in proxy mode the proxy) in place; it is not measured.
      const first = await runAction('ec2-deploy', { inputs: { ...modes[mode], image: images[0] }, timeoutMs: 300_000 });
      if (first.exitCode !== 0) throw new Error(`proxy bench: the first ${mode} deploy failed:\n${first.log}`);
      for (let run = 0; run < runs; run++) {
        progress(`proxy: ${mode} deploy ${run + 1} of ${runs}`);
        const loop = new RequestLoop(`${host.address}:${port}`).start();
        const started = performance.now();
        const result = await runAction('ec2-deploy', { inputs: { ...modes[mode], image: images[(run + 1) % 2] }, timeoutMs: 300_000 });
        samples[mode].wall.push(performance.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 500));
        await loop.stop();
        if (result.exitCode !== 0) throw new Error(`proxy bench: a ${mode} deploy failed:\n${result.log}`);
        samples[mode].failed += loop.failed().length;
        samples[mode].requests += loop.answers.length;
        if (mode === 'proxy') {
          samples.proxy.switch.push(switchPhaseMs(result.summary));
          samples.proxy.drain.push(Number(result.outputs['drain-ms']));
        }
      }
    }
  } finally {
    cleanUp(host);
  }
  return {
    runs,
    plain: { wallMs: median(samples.plain.wall), failed: samples.plain.failed, requests: samples.plain.requests },
    proxy: {
      wallMs: median(samples.proxy.wall),
      failed: samples.proxy.failed,
      requests: samples.proxy.requests,
      switchMs: median(samples.proxy.switch),
      drainMs: median(samples.proxy.drain),
    },
  };
}

export function proxyReport(result: ProxyBenchResult): string[] {
  const s = (value: number) => `${(value / 1000).toFixed(2)} s`;
  return [
    '## Zero-downtime deploys (ec2-deploy `proxy-port` against stop-and-start)',
    '',
    `One host, a re-deploy alternating two images (busybox httpd, health-url), ${result.runs} runs each way, medians; 40 requests a second from the runner during each deploy.`,
    '',
    '| mode | deploy wall time | failed requests | switch time (healthy → all traffic on the new release) | drain |',
    '| --- | --- | --- | --- | --- |',
    `| stop-and-start (\`ports\`) | ${s(result.plain.wallMs)} | ${result.plain.failed} of ${result.plain.requests} | | |`,
    `| proxy (\`proxy-port\`) | ${s(result.proxy.wallMs)} | ${result.proxy.failed} of ${result.proxy.requests} | ${Math.round(result.proxy.switchMs)} ms | ${Math.round(result.proxy.drainMs)} ms |`,
    '',
    "Switch time: the `switch` phase of the step's timeline, from the host reporting the new release healthy to it reporting the switch (the live file made or removed; no proxy reload), as the runner received the two lines.",
    '',
  ];
}
