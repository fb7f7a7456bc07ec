/**
 * Job summaries rendered as GitHub renders them, by cmark-gfm with its table extension and raw
 * HTML kept (`cmark-gfm --unsafe -e table`; Debian's `cmark-gfm` package, which scripts/setup.sh
 * installs), so a test asserts on the HTML a user sees rather than on markdown that only looks right.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, it } from '@jest/globals';

const CMARK_GFM = 'cmark-gfm';
const installed = spawnSync(CMARK_GFM, ['--version']).error === undefined;
// Jest lists no titles of a file whose tests are all skipped: say why here.
if (!installed) console.warn(`${CMARK_GFM} is not installed (apt-get install ${CMARK_GFM}, as scripts/setup.sh does): the tests that render job summaries are skipped.`);

/** `it`, or `it.skip` when cmark-gfm is not installed. */
export function itRendersSummary(title: string, test: () => Promise<void>): void {
  (installed ? it : it.skip)(title, test);
}

// One file for the whole test file: @actions/core's summary keeps the first path it is given.
const summaryDir = mkdtempSync(join(tmpdir(), 'slipway-summary-'));
const summaryFile = join(summaryDir, 'summary.md');
afterAll(() => rmSync(summaryDir, { recursive: true, force: true }));

/** What `write` appends to the step summary, as the HTML GitHub shows. */
export async function renderedSummary(write: () => Promise<void>): Promise<string> {
  writeFileSync(summaryFile, '');
  const previous = process.env.GITHUB_STEP_SUMMARY;
  process.env.GITHUB_STEP_SUMMARY = summaryFile;
  try {
    await write();
  } finally {
    if (previous === undefined) delete process.env.GITHUB_STEP_SUMMARY;
    else process.env.GITHUB_STEP_SUMMARY = previous;
  }
  const rendered = spawnSync(CMARK_GFM, ['--unsafe', '-e', 'table'], { input: readFileSync(summaryFile, 'utf8'), encoding: 'utf8' });
  if (rendered.status !== 0) throw new Error(`${CMARK_GFM} failed: ${rendered.stderr || rendered.error?.message}`);
  return rendered.stdout;
}
