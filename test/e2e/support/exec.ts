/** Plain process calls for test set-up and checks (not the code under test). */
import { spawnSync } from 'node:child_process';

export interface Exec {
  status: number;
  stdout: string;
  stderr: string;
}

export function exec(args: readonly string[], options: { input?: string; env?: Record<string, string>; cwd?: string } = {}): Exec {
  const result = spawnSync(args[0], args.slice(1), {
    input: options.input,
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: result.status ?? 1, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

/** Runs and throws with the output when the command fails. */
export function mustExec(args: readonly string[], options: Parameters<typeof exec>[1] = {}): string {
  const result = exec(args, options);
  if (result.status !== 0) throw new Error(`${args.join(' ')} failed (${result.status}):\n${result.stderr}${result.stdout}`);
  return result.stdout.trim();
}

/** docker against one engine: the runner's, or a sandbox host's (its dockerHost). */
export function docker(dockerHost: string, ...args: string[]): Exec {
  return exec(['docker', '-H', dockerHost, ...args]);
}
