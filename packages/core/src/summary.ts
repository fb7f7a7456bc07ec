/** Job summaries: the table a user reads on the run's page instead of the log. */
import * as core from '@actions/core';

export type SummaryRow = readonly [label: string, value: string];

/** Markdown table cells: a `|` or a newline in a value would break the row. */
export function tableCell(value: string): string {
  return value.replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
}

/** Formats a two-column table of facts, values as code. */
export function factsTable(rows: readonly SummaryRow[]): string {
  const lines = ['| | |', '| --- | --- |'];
  for (const [label, value] of rows) lines.push(`| ${tableCell(label)} | ${value === '' ? '' : `\`${tableCell(value)}\``} |`);
  return lines.join('\n');
}

/** Appends a heading and markdown to the step summary; a no-op when the runner gives no summary file. */
export async function writeSummary(heading: string, markdown: string): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return;
  // The heading is an HTML block, which in GitHub's renderer (cmark-gfm) runs until a blank line:
  // without one, the table after it stayed literal pipes.
  await core.summary.addHeading(heading, 3).addEOL().addRaw(markdown, true).write();
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
