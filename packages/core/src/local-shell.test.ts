import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineStreamer, LocalShell } from './local-shell.js';
import { CommandError } from './shell.js';

const shell = new LocalShell();

describe('local-shell', () => {
  it('runs a program with arguments, stdin and extra environment', async () => {
    const result = await shell.run({ args: ['sh', '-c', 'read line; echo "$line:$EXTRA:$1"', 'sh', 'arg one'], stdin: 'from stdin\n', env: { EXTRA: 'x' } });
    expect(result.stdout).toBe('from stdin:x:arg one\n');
    expect(result.exitCode).toBe(0);
  });

  it('throws CommandError on failure unless failure is allowed', async () => {
    await expect(shell.run({ args: ['sh', '-c', 'echo oops >&2; exit 3'] })).rejects.toThrow(CommandError);
    const result = await shell.run({ args: ['sh', '-c', 'exit 3'], allowFailure: true });
    expect(result.exitCode).toBe(3);
  });

  it('reports a program that does not exist as a failed command', async () => {
    const result = await shell.run({ args: ['slipway-no-such-program'], allowFailure: true });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('command not found');
  });

  it('kills a command that outlives its timeout and marks it timed out', async () => {
    const result = await shell.run({ args: ['sleep', '30'], timeoutMs: 200, allowFailure: true });
    expect(result.timedOut).toBe(true);
    expect(result.signal).toBe('SIGTERM');
  });

  it('counts a command killed by a signal as failed', async () => {
    await expect(shell.run({ args: ['sh', '-c', 'kill -9 $$'] })).rejects.toThrow('was killed by SIGKILL');
  });

  it('writes a file with exactly the mode asked for', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'slipway-')), 'env');
    await shell.writeFile(file, 'A=1\n', 0o600);
    expect(readFileSync(file, 'utf8')).toBe('A=1\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('streams whole lines, however the chunks are cut', () => {
    const lines: string[] = [];
    const streamer = new LineStreamer((line) => lines.push(line));
    streamer.push('Step 1/3 : FR');
    streamer.push('OM x\r\nStep 2/3\nStep');
    streamer.flush();
    expect(lines).toEqual(['Step 1/3 : FROM x', 'Step 2/3', 'Step']);
  });
});
