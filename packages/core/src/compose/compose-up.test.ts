import { describe, expect, it } from '@jest/globals';
import type { HostLog } from '../ssh/fleet.js';
import { hostDeployLog } from './compose-up.js';

function recordingHostLog() {
  const lines: string[] = [];
  const log: HostLog = {
    info: (m) => lines.push(`info ${m}`),
    warning: (m) => lines.push(`warning ${m}`),
    error: (m) => lines.push(`error ${m}`),
    attach: (title, text) => lines.push(`attach ${title}: ${text}`),
  };
  return { log, lines };
}

describe('compose-up', () => {
  it('writes a host deployment into its fleet log, a titled line for each step instead of a nested group', async () => {
    const { log, lines } = recordingHostLog();
    const deployLog = hostDeployLog(log);
    const value = await deployLog.group('Pull app', async () => {
      deployLog.info('pulling');
      return 42;
    });
    deployLog.attach('Logs of the failing services on h1', 'app_1 | boom');
    deployLog.error('Re-applying failed too');
    expect(value).toBe(42);
    expect(lines).toEqual(['info ── Pull app', 'info pulling', 'attach Logs of the failing services on h1: app_1 | boom', 'error Re-applying failed too']);
  });
});
