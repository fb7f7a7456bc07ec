/**
 * Runs a committed action bundle the way the GitHub runner does: Node 24, inputs as INPUT_*
 * variables (action.yml defaults applied, `${{ github.* }}` expressions evaluated), outputs, state
 * and summary through GITHUB_OUTPUT / GITHUB_STATE / GITHUB_STEP_SUMMARY files, an event payload
 * at GITHUB_EVENT_PATH, and the step's state handed to the post step as STATE_* variables.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Node 24, what `runs.using: node24` gives on a runner; installed as the `node` dev dependency. */
export const node24 = process.env.SLIPWAY_NODE ?? join(repoRoot, 'node_modules/node/bin/node');

export interface GitHubContext {
  repository: string;
  actor: string;
  token: string;
  eventName: string;
  ref: string;
  sha: string;
  runId: number;
  /** The event payload written to GITHUB_EVENT_PATH. */
  payload: Record<string, unknown>;
}

export const defaultContext: GitHubContext = {
  repository: 'slipway-tests/app',
  actor: 'slipway-bot',
  token: 'no-token',
  eventName: 'workflow_dispatch',
  ref: 'refs/heads/main',
  sha: '5e1f4c0ffee0ddba11ad5eed1e55c0dec0de0001',
  runId: 4242,
  payload: { repository: { default_branch: 'main' } },
};

export interface RunOptions {
  inputs?: Record<string, string>;
  context?: Partial<GitHubContext>;
  /** Working directory: the workspace the action sees. */
  cwd?: string;
  env?: Record<string, string>;
  /** State saved by the main step, to run the post step with. */
  state?: Record<string, string>;
  timeoutMs?: number;
  /**
   * Cancel the step as GitHub does once its output matches (`afterMs` later): SIGINT, SIGTERM
   * 7.5 s later, SIGKILL 2.5 s after that.
   */
  cancelOn?: { output: RegExp; afterMs?: number };
  /** Run the action from this directory (its action.yml and dist/index.js) instead of actions/<action>: an earlier release's bundle. */
  actionDir?: string;
}

export interface ActionResult {
  exitCode: number;
  /** stdout and stderr as the process wrote them, workflow commands included. */
  raw: string;
  /** What the runner would show: workflow commands consumed, masked values as ***. */
  log: string;
  outputs: Record<string, string>;
  state: Record<string, string>;
  summary: string;
  /** The values the action asked the runner to mask. */
  masked: string[];
  /** `::error::` messages. */
  errors: string[];
}

function evaluateDefault(value: string, context: GitHubContext): string {
  return value
    .replace(/\$\{\{\s*github\.token\s*\}\}/g, context.token)
    .replace(/\$\{\{\s*github\.actor\s*\}\}/g, context.actor)
    .replace(/\$\{\{\s*github\.repository\s*\}\}/g, context.repository);
}

/** Reads `name<<DELIMITER\nvalue\nDELIMITER` blocks (and plain `name=value` lines) of a file command. */
export function parseFileCommand(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^=<]+)<<(.+)$/.exec(lines[i]);
    if (heredoc) {
      const [, name, delimiter] = heredoc;
      const end = lines.indexOf(delimiter, i + 1);
      values[name] = lines.slice(i + 1, end).join('\n');
      i = end;
    } else if (lines[i].includes('=')) {
      values[lines[i].slice(0, lines[i].indexOf('='))] = lines[i].slice(lines[i].indexOf('=') + 1);
    }
  }
  return values;
}

/** Applies workflow commands as the runner does: masks first, then prints the rest. */
export function renderLog(raw: string): { log: string; masked: string[]; errors: string[] } {
  const masked: string[] = [];
  const errors: string[] = [];
  const shown: string[] = [];
  for (const line of raw.split('\n')) {
    const command = /^::([a-z-]+)(?: [^:]*)?::(.*)$/.exec(line);
    if (command?.[1] === 'add-mask') {
      masked.push(command[2]);
      continue;
    }
    let text = line;
    for (const secret of [...masked].sort((a, b) => b.length - a.length)) text = text.split(secret).join('***');
    if (command?.[1] === 'error')
      errors.push(
        text
          .replace(/^::error[^:]*::/, '')
          .replace(/%0A/g, '\n')
          .replace(/%25/g, '%'),
      );
    shown.push(text);
  }
  return { log: shown.join('\n'), masked, errors };
}

export async function runAction(action: string, options: RunOptions = {}): Promise<ActionResult> {
  const context = { ...defaultContext, ...options.context };
  const actionDir = options.actionDir ?? join(repoRoot, 'actions', action);
  const metadata = yaml.load(readFileSync(join(actionDir, 'action.yml'), 'utf8')) as {
    inputs?: Record<string, { default?: string }>;
  };

  const dir = mkdtempSync(join(tmpdir(), `slipway-${action}-`));
  const files = {
    output: join(dir, 'output'),
    state: join(dir, 'state'),
    summary: join(dir, 'summary.md'),
    event: join(dir, 'event.json'),
    temp: join(dir, 'runner-temp'),
  };
  mkdirSync(files.temp);
  for (const file of [files.output, files.state, files.summary]) writeFileSync(file, '');
  writeFileSync(files.event, JSON.stringify(context.payload));

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_OUTPUT: files.output,
    GITHUB_STATE: files.state,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_EVENT_PATH: files.event,
    GITHUB_EVENT_NAME: context.eventName,
    GITHUB_REPOSITORY: context.repository,
    GITHUB_REPOSITORY_OWNER: context.repository.split('/')[0],
    GITHUB_ACTOR: context.actor,
    GITHUB_REF: context.ref,
    GITHUB_SHA: context.sha,
    GITHUB_RUN_ID: String(context.runId),
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_WORKFLOW: 'deploy',
    GITHUB_WORKSPACE: options.cwd ?? process.cwd(),
    RUNNER_TEMP: files.temp,
  };
  for (const [name, input] of Object.entries(metadata.inputs ?? {})) {
    const value = options.inputs?.[name] ?? (input.default === undefined ? '' : evaluateDefault(String(input.default), context));
    env[`INPUT_${name.toUpperCase()}`] = value;
  }
  for (const name of Object.keys(options.inputs ?? {})) {
    if (!(name in (metadata.inputs ?? {}))) throw new Error(`${action}/action.yml has no input "${name}"`);
  }
  for (const [name, value] of Object.entries(options.state ?? {})) env[`STATE_${name}`] = value;
  Object.assign(env, options.env);

  const child = spawn(node24, [join(actionDir, 'dist/index.js')], { cwd: options.cwd ?? dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let raw = '';
  const cancelTimers: NodeJS.Timeout[] = [];
  const cancelIfDue = () => {
    if (!options.cancelOn || cancelTimers.length || !options.cancelOn.output.test(raw)) return;
    const at = options.cancelOn.afterMs ?? 0;
    cancelTimers.push(
      setTimeout(() => child.kill('SIGINT'), at),
      setTimeout(() => child.kill('SIGTERM'), at + 7_500),
      setTimeout(() => child.kill('SIGKILL'), at + 10_000),
    );
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    raw += chunk;
    cancelIfDue();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    raw += chunk;
    cancelIfDue();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
  const exitCode = await new Promise<number>((done) => child.on('close', (code) => done(code ?? 1)));
  clearTimeout(timer);
  for (const cancelTimer of cancelTimers) clearTimeout(cancelTimer);

  return {
    exitCode,
    raw,
    ...renderLog(raw),
    outputs: parseFileCommand(readFileSync(files.output, 'utf8')),
    state: parseFileCommand(readFileSync(files.state, 'utf8')),
    summary: readFileSync(files.summary, 'utf8'),
  };
}
