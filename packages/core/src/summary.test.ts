import { describe, expect } from '@jest/globals';
import { factsTable, writeSummary } from './summary.js';
import { itRendersSummary, renderedSummary } from './testing/index.js';

describe('summary', () => {
  itRendersSummary('writes a heading and a table that GitHub renders as a table', async () => {
    const html = await renderedSummary(() =>
      writeSummary(
        'build-push: ghcr.io/o/app',
        factsTable([
          ['Image', 'ghcr.io/o/app'],
          ['Tags', 'v1 | v2'],
        ]),
      ),
    );
    expect(html).toContain('<h3>build-push: ghcr.io/o/app</h3>');
    expect(html).toMatch(/<table>[\s\S]*<td>Image<\/td>\s*<td><code>ghcr.io\/o\/app<\/code><\/td>[\s\S]*<td><code>v1 \| v2<\/code><\/td>[\s\S]*<\/table>/);
    expect(html).not.toContain('| --- |');
  });
});
