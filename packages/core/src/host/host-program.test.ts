/**
 * The shared part of every host program, run for real by the shells a host's `/bin/sh` may be:
 * dash (Debian, Ubuntu), bash (Amazon Linux) and busybox ash (Alpine).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it, jest } from '@jest/globals';
import { EVENT_MARK, hostProgram, partText } from './host-program.js';

const PART_END = '@@slipway-end-test';
const SHELLS: string[][] = [['sh'], ['bash'], ['busybox', 'sh']];

/** Runs `main` after the prelude in `shell`, sending `part` once the program says `prepared`; closes stdin after `closeAfter` ms if given. */
async function run(shell: string[], main: string, part?: string, closeAfter?: number): Promise<{ code: number | null; events: string[]; output: string[] }> {
  // A group of its own: the watcher's `kill -TERM 0` stops the program's group, never this test's.
  const child = spawn(shell[0], [...shell.slice(1), '-s'], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  const events: string[] = [];
  const output: string[] = [];
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith(`${EVENT_MARK}\t`)) {
        output.push(line);
        continue;
      }
      events.push(line.slice(EVENT_MARK.length + 1));
      if (line === `${EVENT_MARK}\tprepared`) {
        if (part !== undefined) child.stdin.write(part);
        if (closeAfter !== undefined) setTimeout(() => child.stdin.end(), closeAfter);
      }
    }
  });
  child.stderr.resume();
  child.stdin.on('error', () => {});
  child.stdin.write(hostProgram([['part_end', PART_END]], '', main));
  const code = await new Promise<number | null>((resolve) => child.on('close', (status) => resolve(status)));
  return { code, events, output };
}

jest.setTimeout(15_000);

describe.each(SHELLS.map((shell) => [shell.join(' '), shell]))('host program under %s', (_name, shell) => {
  it('runs the next part sent on stdin at prepared, its values kept literal however they are written', async () => {
    const value = `multi\nline 'quoted' "double" \\ $HOME \`x\`\n  leading and trailing  \n${PART_END}-not-the-end`;
    const part = partText([['value', value]], 'set -- one "two words"\nprintf "%s|" "$value" "$@"; echo\nev done\nexit 0', PART_END);
    const ran = await run(shell as string[], 'ev hello\nnext_part prepared', part);
    expect(ran.code).toBe(0);
    expect(ran.events).toEqual(['hello', 'prepared', 'done']);
    expect(ran.output.join('\n')).toBe(`${value}|one|two words|`);
  });

  it('stops the watcher it forked a moment before, then ends with status 143 when its stdin closes while it waits for the next part', async () => {
    const ran = await run(shell as string[], 'next_part prepared\nev after', undefined, 50);
    expect(ran.code).toBe(143);
    expect(ran.events).toEqual(['prepared']);
  });

  it('watches its stdin again once the part came: a close while the part runs stops the program', async () => {
    const part = partText([], 'ev running\nsleep 20\nev slept', PART_END);
    const ran = await run(shell as string[], 'next_part prepared', part, 300);
    expect(ran.code).toBe(143);
    expect(ran.events).toEqual(['prepared', 'running']);
  });
});
