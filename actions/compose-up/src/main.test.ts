import { describe, expect } from '@jest/globals';
import { writeSummary, type SwarmTask, type TargetResult } from '@slipway/core';
import { itRendersSummary, renderedSummary } from '@slipway/core/testing';
import { summaryMarkdown } from './main.js';

const inputs = {
  project: 'shop',
  mode: 'compose' as const,
  model: { files: [{ path: '/w/compose.yml', relativePath: 'compose.yml' }], services: new Map() },
  images: new Map([['app', 'ghcr.io/o/app@sha256:abc']]),
  vars: new Map([['PORT', '2221']]),
};

const results: TargetResult[] = [
  {
    target: 'ec2-user@10.0.1.10:22',
    ok: true,
    compose: 'docker compose 2.24.5',
    release: 'r2',
    rolledBack: false,
    durationMs: 8_123,
    services: [
      { service: 'app', container: 'shop-app-1', image: 'ghcr.io/o/app@sha256:abc', state: 'running', health: 'healthy' },
      { service: 'proxy', container: 'shop-proxy-1', image: 'proxy', state: 'running', health: 'none' },
    ],
  },
  { target: 'ec2-user@10.0.1.11:22', ok: false, release: 'r2', previousRelease: 'r1', rolledBack: true, services: [], durationMs: 30_000, error: 'app is unhealthy | exit 1\nsee the log' },
];

/** Task `n` of shop_app, running on the node at 10.0.1.`node`, moved there from `movedFrom` if given. */
function task(n: number, node: number, movedFrom?: string): SwarmTask {
  return {
    service: 'shop_app',
    task: `shop_app.${n}`,
    node: `ip-10-0-1-${node}`,
    nodeAddress: `10.0.1.${node}`,
    state: 'running',
    image: 'ghcr.io/o/app@sha256:abc',
    error: '',
    movedFrom,
  };
}

/** The rendered summary of a swarm deployment to one manager, whose result is completed by `result` (its tasks, the nodes down). */
function swarmSummary(result: Partial<TargetResult>): Promise<string> {
  const manager: TargetResult = {
    target: 'ec2-user@10.0.1.10:22',
    ok: true,
    compose: 'docker compose 2.24.5',
    release: 'r3',
    rolledBack: false,
    durationMs: 20_000,
    services: [{ service: 'shop_app', container: '', image: 'ghcr.io/o/app@sha256:abc', state: '2/2 replicas', health: 'completed' }],
    ...result,
  };
  return renderedSummary(() => writeSummary('compose-up: shop', summaryMarkdown({ ...inputs, mode: 'swarm' }, [manager])));
}

describe('main', () => {
  itRendersSummary('writes a summary GitHub renders as two tables and the errors', async () => {
    const html = await renderedSummary(() => writeSummary('compose-up: shop', summaryMarkdown(inputs, results)));
    expect(html.match(/<table>/g)).toHaveLength(2);
    expect(html).toMatch(/<td>Images<\/td>\s*<td><code>app=ghcr.io\/o\/app@sha256:abc<\/code><\/td>/);
    expect(html).toMatch(/<td>Vars<\/td>\s*<td><code>PORT=2221<\/code><\/td>/);
    expect(html).toMatch(/<td>ec2-user@10.0.1.10:22<\/td>\s*<td>✅ up<\/td>\s*<td>docker compose 2.24.5<\/td>\s*<td>r2<\/td>\s*<td>app: running \(healthy\)<br>proxy: running<\/td>/);
    expect(html).toContain('<td>❌ failed, r1 restored</td>');
    expect(html).toContain('<p><strong>ec2-user@10.0.1.11:22</strong>: app is unhealthy | exit 1<br>see the log</p>');
    expect(html).not.toContain('| --- |');
  });

  itRendersSummary("draws each host's phases as a timeline above the table", async () => {
    const phases = [
      { phase: 'connect' as const, startMs: 1_000, endMs: 1_400 },
      { phase: 'lock' as const, startMs: 1_400, endMs: 1_500 },
      { phase: 'start' as const, startMs: 1_500, endMs: 3_000 },
    ];
    const html = await renderedSummary(() => writeSummary('compose-up: shop', summaryMarkdown(inputs, [{ ...results[0], phases }, results[1]])));
    // GitHub draws a mermaid block itself; rendered markdown keeps it as a code block of language mermaid.
    const chart = html.indexOf('mermaid');
    expect(chart).toBeGreaterThan(html.indexOf('<td>Images</td>'));
    expect(chart).toBeLessThan(html.indexOf('<td>ec2-user@10.0.1.10:22</td>'));
    expect(html).toContain('section ec2-user@10.0.1.10 22');
    expect(html).toContain('start 1.50s : 500, 2000');
    expect(html).not.toContain('section ec2-user@10.0.1.11');
  });

  itRendersSummary("lists a swarm stack's tasks with the node each runs on", async () => {
    const html = await swarmSummary({ tasks: [task(1, 10), task(2, 11)] });
    expect(html.match(/<table>/g)).toHaveLength(3);
    expect(html).toMatch(/<td>ec2-user@10.0.1.10:22<\/td>\s*<td>shop_app.1<\/td>\s*<td>ip-10-0-1-10 \(10.0.1.10\)<\/td>\s*<td>running<\/td>/);
    expect(html).toMatch(/<td>shop_app.2<\/td>\s*<td>ip-10-0-1-11 \(10.0.1.11\)<\/td>/);
  });

  itRendersSummary('says which swarm nodes went down and which tasks moved off them', async () => {
    const html = await swarmSummary({ tasks: [task(1, 10), task(2, 10, 'ip-10-0-1-12 (10.0.1.12)')], nodesDown: ['ip-10-0-1-12 (10.0.1.12)'] });
    expect(html).toMatch(/<td>shop_app.2<\/td>\s*<td>ip-10-0-1-10 \(10.0.1.10\)<\/td>\s*<td>running \(moved from ip-10-0-1-12 \(10.0.1.12\), down\)<\/td>/);
    expect(html).toContain('<strong>Swarm nodes down during the deployment</strong>: ip-10-0-1-12 (10.0.1.12); swarm started their tasks on the other nodes.');
  });
});
