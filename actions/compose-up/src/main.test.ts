import { describe, expect } from '@jest/globals';
import { writeSummary, type TargetResult } from '@slipway/core';
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

  itRendersSummary("lists a swarm stack's tasks with the node each runs on", async () => {
    const swarm: TargetResult[] = [
      {
        target: 'ec2-user@10.0.1.10:22',
        ok: true,
        compose: 'docker compose 2.24.5',
        release: 'r3',
        rolledBack: false,
        durationMs: 20_000,
        services: [{ service: 'shop_app', container: '', image: 'ghcr.io/o/app@sha256:abc', state: '2/2 replicas', health: 'completed' }],
        tasks: [
          { service: 'shop_app', task: 'shop_app.1', node: 'ip-10-0-1-10', nodeAddress: '10.0.1.10', state: 'running', image: 'ghcr.io/o/app@sha256:abc', error: '' },
          { service: 'shop_app', task: 'shop_app.2', node: 'ip-10-0-1-11', nodeAddress: '10.0.1.11', state: 'running', image: 'ghcr.io/o/app@sha256:abc', error: '' },
        ],
      },
    ];
    const html = await renderedSummary(() => writeSummary('compose-up: shop', summaryMarkdown({ ...inputs, mode: 'swarm' }, swarm)));
    expect(html.match(/<table>/g)).toHaveLength(3);
    expect(html).toMatch(/<td>ec2-user@10.0.1.10:22<\/td>\s*<td>shop_app.1<\/td>\s*<td>ip-10-0-1-10 \(10.0.1.10\)<\/td>\s*<td>running<\/td>/);
    expect(html).toMatch(/<td>shop_app.2<\/td>\s*<td>ip-10-0-1-11 \(10.0.1.11\)<\/td>/);
  });

  itRendersSummary('says which swarm nodes went down and which tasks moved off them', async () => {
    const swarm: TargetResult[] = [
      {
        target: 'ec2-user@10.0.1.10:22',
        ok: true,
        compose: 'docker compose 2.24.5',
        release: 'r4',
        rolledBack: false,
        durationMs: 40_000,
        services: [{ service: 'shop_app', container: '', image: 'ghcr.io/o/app@sha256:abc', state: '2/2 replicas', health: 'completed' }],
        tasks: [
          { service: 'shop_app', task: 'shop_app.1', node: 'ip-10-0-1-10', nodeAddress: '10.0.1.10', state: 'running', image: 'ghcr.io/o/app@sha256:abc', error: '' },
          {
            service: 'shop_app',
            task: 'shop_app.2',
            node: 'ip-10-0-1-10',
            nodeAddress: '10.0.1.10',
            state: 'running',
            image: 'ghcr.io/o/app@sha256:abc',
            error: '',
            movedFrom: 'ip-10-0-1-12 (10.0.1.12)',
          },
        ],
        nodesDown: ['ip-10-0-1-12 (10.0.1.12)'],
      },
    ];
    const html = await renderedSummary(() => writeSummary('compose-up: shop', summaryMarkdown({ ...inputs, mode: 'swarm' }, swarm)));
    expect(html).toMatch(/<td>shop_app.2<\/td>\s*<td>ip-10-0-1-10 \(10.0.1.10\)<\/td>\s*<td>running \(moved from ip-10-0-1-12 \(10.0.1.12\), down\)<\/td>/);
    expect(html).toContain('<strong>Swarm nodes down during the deployment</strong>: ip-10-0-1-12 (10.0.1.12); swarm started their tasks on the other nodes.');
  });
});
