import { describe, expect, it } from '@jest/globals';
import { ganttChart, isPhase, PhaseTimeline } from './timeline.js';

describe('timeline', () => {
  it('ends each phase when the next starts, and the last one on end()', () => {
    let now = 1_000;
    const timeline = new PhaseTimeline(() => now);
    timeline.start('lock');
    now = 1_250;
    timeline.start('pull');
    now = 3_000;
    timeline.end();
    timeline.end();
    expect(timeline.spans).toEqual([
      { phase: 'lock', startMs: 1_000, endMs: 1_250 },
      { phase: 'pull', startMs: 1_250, endMs: 3_000 },
    ]);
  });

  it('knows the phases by name', () => {
    expect(['connect', 'lock', 'pull', 'start', 'health', 'commit'].every(isPhase)).toBe(true);
    expect(isPhase('prepared')).toBe(false);
  });

  it('draws hosts as sections on one axis from the first start, each phase at least 1 ms long', () => {
    const chart = ganttChart([
      {
        host: 'deploy@h1:22',
        spans: [
          { phase: 'connect', startMs: 10_000, endMs: 10_400 },
          { phase: 'lock', startMs: 10_400, endMs: 10_400 },
        ],
      },
      { host: 'h2', spans: [] },
      { host: 'deploy@h3:22 #3', spans: [{ phase: 'health', startMs: 10_100, endMs: 12_600 }] },
    ]);
    expect(chart).toBe(
      [
        '```mermaid',
        'gantt',
        '  dateFormat x',
        '  axisFormat %M:%S',
        '  section deploy@h1 22',
        '  connect 0.40s : 0, 400',
        '  lock 0.00s : 400, 401',
        '  section deploy@h3 22  3',
        '  health 2.50s : 100, 2600',
        '```',
      ].join('\n'),
    );
  });

  it('draws nothing without spans', () => {
    expect(ganttChart([{ host: 'h1', spans: [] }])).toBe('');
  });
});
