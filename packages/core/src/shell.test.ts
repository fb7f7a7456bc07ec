import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { CommandError, quoteArg, quoteArgs } from './shell.js';

describe('shell', () => {
  it('leaves plain words alone and quotes everything else', () => {
    expect(quoteArg('ghcr.io/o/app:v1')).toBe('ghcr.io/o/app:v1');
    expect(quoteArg('')).toBe("''");
    expect(quoteArg('a b')).toBe("'a b'");
    expect(quoteArg("it's")).toBe("'it'\\''s'");
  });

  it('quotes so that a real POSIX shell sees each argument literally', () => {
    const hostile = ['$(touch /tmp/slipway-pwned)', '`id`', 'a;b', 'q\'uo"te', 'new\nline', 'ünïcødé ✓', '*', '~', '-n', '$HOME'];
    const script = `printf '%s\\0' ${quoteArgs(hostile)}`;
    const printed = spawnSync('sh', ['-c', script], { encoding: 'utf8' }).stdout;
    expect(printed.split('\0').slice(0, -1)).toEqual(hostile);
  });

  it('says where a command failed, how, and its last output lines', () => {
    const error = new CommandError('deploy@host:22', ['docker', 'pull', 'x y'], {
      exitCode: 1,
      timedOut: false,
      stdout: '',
      stderr: 'line 1\nmanifest unknown\n',
      durationMs: 10,
    });
    expect(error.message).toBe("`docker pull 'x y'` on deploy@host:22 exited with code 1:\nline 1\nmanifest unknown");
    const killed = new CommandError('runner', ['sleep', '9'], { exitCode: 0, signal: 'SIGKILL', timedOut: false, stdout: '', stderr: '', durationMs: 1 });
    expect(killed.message).toBe('`sleep 9` on runner was killed by SIGKILL');
  });
});
