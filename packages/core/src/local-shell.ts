/** `Shell` on the runner itself, over child processes. */
import { spawn } from 'node:child_process';
import { writeFile, chmod } from 'node:fs/promises';
import * as core from '@actions/core';
import { checkResult, type Command, type CommandResult, type Shell } from './shell.js';

/** After a timeout, SIGTERM first so docker can clean up; SIGKILL if it will not go. */
const KILL_GRACE_MS = 5_000;

export class LocalShell implements Shell {
  readonly target = 'runner';

  async run(command: Command): Promise<CommandResult> {
    const [program, ...args] = command.args;
    const started = Date.now();
    const child = spawn(program, args, {
      cwd: command.cwd,
      env: { ...process.env, ...command.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });

    let stdout = '';
    let stderr = '';
    const streamer = command.stream ? new LineStreamer() : undefined;
    const outLines = command.onLine ? new LineStreamer((line) => command.onLine!(line, 'stdout')) : undefined;
    const errLines = command.onLine ? new LineStreamer((line) => command.onLine!(line, 'stderr')) : undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      streamer?.push(chunk);
      outLines?.push(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      streamer?.push(chunk);
      errLines?.push(chunk);
    });
    // A command that exits before reading its stdin closes the pipe; that is its business, not an error.
    child.stdin.on('error', () => {});
    if (command.holdStdin) {
      child.stdin.write(command.stdin ?? '');
      command.feed?.((text) => void (child.stdin.writableEnded || child.stdin.write(text)));
    } else {
      child.stdin.end(command.stdin ?? '');
    }

    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer = command.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGTERM');
          killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
        }, command.timeoutMs)
      : undefined;

    const result = await new Promise<CommandResult>((resolve) => {
      child.on('error', (error: NodeJS.ErrnoException) => {
        // The program is not there (ENOENT) or cannot run: report it like a failed command.
        stderr += `${program}: ${error.code === 'ENOENT' ? 'command not found' : error.message}\n`;
      });
      child.on('close', (code, signal) => {
        resolve({
          exitCode: code ?? (signal ? 128 : 127),
          signal: signal ?? undefined,
          timedOut,
          stdout,
          stderr,
          durationMs: Date.now() - started,
        });
      });
    });
    clearTimeout(timer);
    clearTimeout(killTimer);
    if (command.holdStdin) child.stdin.end();
    streamer?.flush();
    outLines?.flush();
    errLines?.flush();
    return checkResult(this.target, command, result);
  }

  async writeFile(path: string, content: string | Buffer, mode: number): Promise<void> {
    await writeFile(path, content, { mode });
    // writeFile's mode applies only to a new file (and through the umask): make it exact.
    await chmod(path, mode);
  }

  async close(): Promise<void> {}
}

/** Sends whole lines to the log, so interleaved chunks from stdout and stderr stay readable. */
export class LineStreamer {
  private pending = '';
  constructor(private readonly write: (line: string) => void = (line) => core.info(line)) {}

  push(chunk: string): void {
    const lines = (this.pending + chunk).split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) this.write(line.replace(/\r$/, ''));
  }

  flush(): void {
    if (this.pending) this.write(this.pending);
    this.pending = '';
  }
}
