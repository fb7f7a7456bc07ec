/**
 * When each phase of a host's deployment started and ended, as the runner saw the progress lines
 * arrive, drawn in the job summary as a mermaid gantt chart (which GitHub renders).
 */
// detect: compose-up's finding which compose a host has (2 s with docker-compose v1), apart from the lock.
export const PHASES = ['connect', 'lock', 'detect', 'upload', 'pull', 'pre-deploy', 'start', 'health', 'switch', 'drain', 'commit'] as const;
export type Phase = (typeof PHASES)[number];

export interface PhaseSpan {
  phase: Phase;
  /** Epoch ms. */
  startMs: number;
  endMs: number;
}

export class PhaseTimeline {
  readonly spans: PhaseSpan[] = [];
  private open?: PhaseSpan;

  constructor(private readonly now: () => number = Date.now) {}

  /** Ends the phase in progress, if any, and starts `phase`. */
  start(phase: Phase): void {
    this.end();
    this.open = { phase, startMs: this.now(), endMs: this.now() };
  }

  end(): void {
    if (!this.open) return;
    this.open.endMs = this.now();
    this.spans.push(this.open);
    this.open = undefined;
  }
}

export function isPhase(name: string): name is Phase {
  return (PHASES as readonly string[]).includes(name);
}

/** Characters mermaid reads as syntax in a section or task name. */
const MERMAID_SYNTAX = /[:#;\n\r]/g;

/**
 * A mermaid gantt block with a section a host, its phases as tasks on one time axis: milliseconds
 * from the first phase's start (so the axis reads seconds from the start of the step).
 */
export function ganttChart(hosts: readonly { host: string; spans: readonly PhaseSpan[] }[]): string {
  const all = hosts.flatMap((h) => h.spans);
  if (!all.length) return '';
  const origin = Math.min(...all.map((s) => s.startMs));
  const lines = ['```mermaid', 'gantt', '  dateFormat x', '  axisFormat %M:%S'];
  for (const { host, spans } of hosts) {
    if (!spans.length) continue;
    lines.push(`  section ${host.replace(MERMAID_SYNTAX, ' ')}`);
    for (const span of spans) {
      // A phase shorter than a pixel still shows as one: at least 1 ms long.
      const start = span.startMs - origin;
      lines.push(`  ${span.phase} ${((span.endMs - span.startMs) / 1000).toFixed(2)}s : ${start}, ${Math.max(start + 1, span.endMs - origin)}`);
    }
  }
  lines.push('```');
  return lines.join('\n');
}
