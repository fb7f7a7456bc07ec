/**
 * One way to run commands, whether on the runner or on a host over SSH: the docker and compose
 * code is written once against `Shell`. Commands are argument arrays; `quoteArgs` is the one place
 * they become a shell string, for an SSH exec request or for the log.
 */

export interface Command {
  /** The program and its arguments, never a shell string. */
  args: readonly string[];
  /** Fed to the command's standard input: where secrets and scripts go, so they never reach argv. */
  stdin?: string | Buffer;
  /** Added to the environment of the command. */
  env?: Readonly<Record<string, string>>;
  cwd?: string;
  /** Killed after this long, and then the result is a failure. */
  timeoutMs?: number;
  /** Copy output to the log line by line as it comes (a build or a pull), not only on failure. */
  stream?: boolean;
  /** Return a failed result instead of throwing `CommandError`. */
  allowFailure?: boolean;
  /** Called with each whole line of output as it comes: how a remote program reports its progress. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /**
   * Keep the command's stdin open until it exits, instead of closing it after `stdin`: a remote
   * program that watches its stdin then sees it close when the SSH session ends (a cancelled or
   * killed run), and stops itself and what it started (see container/program.ts).
   */
  holdStdin?: boolean;
  /**
   * With `holdStdin`: called once the command has started, with a function that writes more to its
   * stdin. How the runner answers a remote program that reads on after its first part (the release
   * values a container deployment sends once it has heard what runs on the host). What is written
   * after the command ended is dropped.
   */
  feed?: (write: (text: string) => void) => void;
}

export interface CommandResult {
  exitCode: number;
  /** Set when a signal ended the command; that counts as a failure whatever the exit code. */
  signal?: string;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface Shell {
  /** `runner`, or the host's `user@host:port`: how the log and errors name where a command ran. */
  readonly target: string;
  run(command: Command): Promise<CommandResult>;
  /** Writes `content` to `path` with `mode`, creating nothing else. */
  writeFile(path: string, content: string | Buffer, mode: number): Promise<void>;
  close(): Promise<void>;
}

export function succeeded(result: CommandResult): boolean {
  return result.exitCode === 0 && !result.signal && !result.timedOut;
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** POSIX single-quoting: the result is one literal word to any POSIX shell, whatever it contains. */
export function quoteArg(arg: string): string {
  if (arg !== '' && SAFE_WORD.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function quoteArgs(args: readonly string[]): string {
  return args.map(quoteArg).join(' ');
}

/** How a command ended, for a message: "exited with code 2", "was killed by SIGKILL", "timed out after 30s". */
export function howItEnded(result: CommandResult): string {
  if (result.timedOut) return `timed out after ${Math.round(result.durationMs / 1000)}s`;
  return result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
}

export class CommandError extends Error {
  constructor(
    readonly target: string,
    readonly command: readonly string[],
    readonly result: CommandResult,
  ) {
    const how = howItEnded(result);
    const detail = lastLines(result.stderr || result.stdout, 20);
    super(`\`${quoteArgs(command)}\` on ${target} ${how}${detail ? `:\n${detail}` : ''}`);
    this.name = 'CommandError';
  }
}

export function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

/** Throws `CommandError` for a failed result unless the command allows failure. */
export function checkResult(target: string, command: Command, result: CommandResult): CommandResult {
  if (!succeeded(result) && !command.allowFailure) throw new CommandError(target, command.args, result);
  return result;
}

/**
 * The home directory of the target's user, for paths under it: commands run from argv, with no
 * shell to expand `~`. `hint` says what the user can do instead when there is none.
 */
export async function homeDirectory(shell: Shell, hint = ''): Promise<string> {
  const home = (await shell.run({ args: ['printenv', 'HOME'], timeoutMs: 30_000 })).stdout.trim();
  if (!home.startsWith('/')) throw new Error(`${shell.target} reports no usable HOME ("${home}")${hint ? `: ${hint}` : ''}.`);
  return home;
}
