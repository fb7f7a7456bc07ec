import { describe, expect } from '@jest/globals';
import { writeSummary } from '@slipway/core';
import { itRendersSummary, renderedSummary } from '@slipway/core/testing';
import { summaryTable, type HostResult } from './main.js';

const result = (host: string, fields: Partial<HostResult>): HostResult => ({
  host,
  ok: true,
  mode: 'deploy',
  image: 'ghcr.io/o/app@sha256:abc',
  imageId: null,
  digest: null,
  previousImage: null,
  rolledBack: false,
  health: null,
  hostKey: 'SHA256:YM5uzrYXRF94lPFDSherNITUFDGVX2fIpASmSvVb0BI',
  durationMs: 4_200,
  error: null,
  ...fields,
});

describe('main', () => {
  itRendersSummary('writes a summary GitHub renders as a table, a row per host', async () => {
    const results = [
      result('ec2-user@10.0.1.10:22', { previousImage: 'ghcr.io/o/app:v1' }),
      result('ec2-user@10.0.1.11:22', { ok: false, rolledBack: true, error: 'unhealthy | exit 1\nlogs above' }),
      result('ec2-user@10.0.1.12:22', { ok: false, hostKey: null, error: 'skipped: an earlier host failed (fail-fast)' }),
    ];
    const html = await renderedSummary(() => writeSummary('ec2-deploy: ghcr.io/o/app@sha256:abc', summaryTable(results)));
    expect(html).toContain('<h3>ec2-deploy: ghcr.io/o/app@sha256:abc</h3>');
    expect(html.match(/<tr>/g)).toHaveLength(4);
    expect(html).toMatch(/<td>ec2-user@10.0.1.10:22<\/td>\s*<td>✅ ok<\/td>\s*<td><code>ghcr.io\/o\/app@sha256:abc<\/code><\/td>\s*<td><code>ghcr.io\/o\/app:v1<\/code><\/td>/);
    expect(html).toContain('<td>↩️ failed, rolled back<br>unhealthy | exit 1</td>');
    expect(html).toContain('<td>❌ skipped<br>skipped: an earlier host failed (fail-fast)</td>');
    expect(html).not.toContain('| --- |');
  });

  itRendersSummary('shows `vars` as they are, above the hosts', async () => {
    const html = await renderedSummary(() => writeSummary('ec2-deploy: script', summaryTable([result('ec2-user@10.0.1.10:22', {})], new Map([['PORT', '2221']]))));
    expect(html.match(/<table>/g)).toHaveLength(2);
    expect(html).toMatch(/<td>Vars<\/td>\s*<td><code>PORT=2221<\/code><\/td>/);
  });
});
