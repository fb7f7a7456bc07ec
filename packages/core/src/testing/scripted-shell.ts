/**
 * A `Shell` for unit tests that answers from a script and records what ran: the one boundary a
 * deployment's unit tests replace. Everything above it (docker and compose argv, release layout,
 * rollback, locks) runs for real.
 *
 *   const host = new ScriptedShell({ target: 'deploy@h1:22' });
 *   host.on(['printenv', 'HOME'], { stdout: '/home/deploy\n' });          // a rule: any time, any number of times
 *   host.on({ prefix: ['docker', 'compose', 'version'] }, { stdout: '2.24.5\n' });
 *   host.on(/^docker inspect /, (command) => ({ stdout: inspect(command.args) }));
 *   host.on({ prefix: ['docker', 'service', 'inspect'] }, [{ stdout: 'updating' }, { stdout: 'completed' }]); // one answer per call, the last repeats
 *   host.expect(['mkdir', '-m', '0700', dir]);                             // an exchange in order, answered once
 *   ...run the code...
 *   host.verify();                                                         // unmatched commands; in strict mode, exchanges left over
 *   host.commands, host.lines, host.files, host.events                    // what ran and was written, in order
 *
 * A command no rule answers is an error thrown at the caller with the command line and every rule,
 * and is kept for `verify()`, so code that catches errors cannot turn it into a silent success.
 * Failed answers are checked as the real shells check them (`checkResult`): a non-zero exit throws
 * `CommandError` unless the command allows failure.
 */
import { checkResult, quoteArgs, type Command, type CommandResult, type Shell } from '../shell.js';

/** Which commands a rule answers. An array is the exact argv; a RegExp is tested on the quoted command line. */
export type CommandMatcher =
  | readonly string[]
  | RegExp
  | ((command: Command) => boolean)
  | {
      /** The exact argv. */
      args?: readonly string[];
      /** The argv starts with these words. */
      prefix?: readonly string[];
      /** Tested on the command line as `quoteArgs` writes it (as the log and an SSH exec see it). */
      line?: RegExp | ((line: string) => boolean);
      /** Tested on stdin, as text: equal to a string, or matching a RegExp or a predicate. */
      stdin?: string | RegExp | ((stdin: string) => boolean);
      when?: (command: Command) => boolean;
      /** How the rule is named in the error for an unmatched command (predicates say nothing by themselves). */
      name?: string;
    };

/** What a scripted command does: its result (success with no output by default), lines it streams, or an error it throws. */
export interface Reply {
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  signal?: string;
  timedOut?: boolean;
  durationMs?: number;
  /**
   * Stdout as lines, each also handed to the command's `onLine` as it would come from a streaming
   * remote program; stdout is the lines joined (unless `stdout` is given too).
   */
  lines?: readonly string[];
  /** Thrown instead of answering: a connection lost mid-command. */
  throws?: Error;
  /**
   * After its lines the program reads on (a command given `feed`): each text the caller writes is
   * answered as a command of its own (the same argv, the text as its stdin, recorded in `commands`),
   * its lines streamed to this command's `onLine`; the first reply without `readsMore` ends it.
   */
  readsMore?: boolean;
}

/** A reply, a function of the command (and of how many times this rule answered before), or one reply per call with the last repeating. */
export type Answer = Reply | readonly Reply[] | ((command: Command, call: number) => Reply | Promise<Reply>);

export interface ScriptedRule {
  readonly description: string;
  /** Times it answered. */
  readonly calls: number;
}

export interface WrittenFile {
  path: string;
  content: string | Buffer;
  mode: number;
}

export type ShellEvent = { kind: 'run'; command: Command; line: string; result?: CommandResult } | ({ kind: 'write' } & WrittenFile);

export interface ScriptedShellOptions {
  target?: string;
  /** `verify()` also fails while exchanges declared with `expect` are left unanswered. */
  strict?: boolean;
}

interface Rule extends ScriptedRule {
  calls: number;
  matches(command: Command): boolean;
  answer: Answer;
}

export class ScriptedShell implements Shell {
  readonly target: string;
  readonly strict: boolean;
  /** Every command run, in order (a copy of what the caller passed). */
  readonly commands: Command[] = [];
  /** Every file written, in order. */
  readonly files: WrittenFile[] = [];
  /** Commands and writes interleaved, in the order they happened. */
  readonly events: ShellEvent[] = [];
  /** Commands no rule answered: `verify()` fails while there is one. */
  readonly unmatched: string[] = [];
  closed = false;

  private readonly rules: Rule[] = [];
  private readonly sequence: Rule[] = [];
  private next = 0;

  constructor(options: ScriptedShellOptions = {}) {
    this.target = options.target ?? 'scripted';
    this.strict = options.strict ?? false;
  }

  /** A rule that answers every command it matches, whenever it comes. Later rules come first, so a test can override a default. */
  on(matcher: CommandMatcher, answer: Answer = {}): ScriptedRule {
    const rule = makeRule(matcher, answer);
    this.rules.unshift(rule);
    return rule;
  }

  /** The next exchange in order: answered once, when it comes after those declared before it. */
  expect(matcher: CommandMatcher, answer: Answer = {}): ScriptedRule {
    const rule = makeRule(matcher, answer);
    this.sequence.push(rule);
    return rule;
  }

  /** The quoted command lines run so far, in order. */
  get lines(): string[] {
    return this.commands.map((command) => quoteArgs(command.args));
  }

  /** The content last written to `path`, as text; undefined when nothing was. */
  file(path: string): string | undefined {
    const written = this.files.findLast((file) => file.path === path);
    return written === undefined ? undefined : written.content.toString();
  }

  /** The commands whose argv starts with `prefix`. */
  ran(...prefix: string[]): Command[] {
    return this.commands.filter((command) => prefix.every((word, i) => command.args[i] === word));
  }

  /** Throws when a command went unanswered, or (strict) when declared exchanges are left. */
  verify(): void {
    const problems = [...this.unmatched];
    if (this.strict && this.next < this.sequence.length) {
      problems.push(
        `declared exchanges never came:\n${this.sequence
          .slice(this.next)
          .map((rule) => `  ${rule.description}`)
          .join('\n')}`,
      );
    }
    if (problems.length) throw new Error(`ScriptedShell ${this.target}:\n${problems.join('\n')}`);
  }

  async run(command: Command): Promise<CommandResult> {
    const recorded: Command = { ...command, args: [...command.args], env: command.env && { ...command.env } };
    const line = quoteArgs(command.args);
    const event: ShellEvent = { kind: 'run', command: recorded, line };
    this.commands.push(recorded);
    this.events.push(event);

    const rule = this.find(command, line);
    const call = rule.calls++;
    let reply = await replyOf(rule.answer, recorded, call);
    if (reply.throws) throw reply.throws;
    for (const text of reply.lines ?? []) command.onLine?.(text, 'stdout');
    if (reply.readsMore) {
      if (!command.feed) throw new Error(`ScriptedShell ${this.target}: a reply that reads more answers \`${line}\`, which has no feed to write it.`);
      const written: string[] = [];
      let wake: (() => void) | undefined;
      command.feed((text) => {
        written.push(text);
        wake?.();
      });
      while (reply.readsMore) {
        if (!written.length) await new Promise<void>((resolve) => (wake = resolve));
        const part: Command = { ...recorded, stdin: written.shift() };
        this.commands.push(part);
        this.events.push({ kind: 'run', command: part, line });
        const partRule = this.find(part, line);
        reply = await replyOf(partRule.answer, part, partRule.calls++);
        if (reply.throws) throw reply.throws;
        for (const text of reply.lines ?? []) command.onLine?.(text, 'stdout');
      }
    }
    const result: CommandResult = {
      exitCode: reply.exitCode ?? 0,
      signal: reply.signal,
      timedOut: reply.timedOut ?? false,
      stdout: reply.stdout ?? (reply.lines ? reply.lines.map((text) => `${text}\n`).join('') : ''),
      stderr: reply.stderr ?? '',
      durationMs: reply.durationMs ?? 0,
    };
    event.result = result;
    return checkResult(this.target, command, result);
  }

  async writeFile(path: string, content: string | Buffer, mode: number): Promise<void> {
    const file = { path, content, mode };
    this.files.push(file);
    this.events.push({ kind: 'write', ...file });
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private find(command: Command, line: string): Rule {
    const expected = this.sequence[this.next];
    if (expected?.matches(command)) {
      this.next++;
      return expected;
    }
    const rule = this.rules.find((r) => r.matches(command));
    if (rule) return rule;

    const later = this.sequence.slice(this.next + 1).find((r) => r.matches(command));
    const parts = [`no rule answers \`${line}\`${describeStdin(command.stdin)}`];
    if (later) parts.push(`it matches the declared exchange ${later.description}, which comes after ${expected?.description}`);
    else if (expected) parts.push(`next declared exchange: ${expected.description}`);
    parts.push(this.rules.length ? `rules:\n${this.rules.map((r) => `  ${r.description}`).join('\n')}` : 'no rules');
    const message = parts.join('\n');
    this.unmatched.push(message);
    throw new Error(`ScriptedShell ${this.target}: ${message}`);
  }
}

function makeRule(matcher: CommandMatcher, answer: Answer): Rule {
  const [matches, description] = compile(matcher);
  return { description, calls: 0, matches, answer };
}

function compile(matcher: CommandMatcher): [(command: Command) => boolean, string] {
  if (Array.isArray(matcher)) return compile({ args: matcher as readonly string[] });
  if (matcher instanceof RegExp) return compile({ line: matcher });
  if (typeof matcher === 'function') return compile({ when: matcher });
  const spec = matcher as Exclude<CommandMatcher, readonly string[] | RegExp | ((command: Command) => boolean)>;
  const tests: Array<(command: Command) => boolean> = [];
  const said: string[] = [];
  if (spec.args) {
    const args = spec.args;
    tests.push((c) => c.args.length === args.length && args.every((word, i) => c.args[i] === word));
    said.push(`exactly \`${quoteArgs(args)}\``);
  }
  if (spec.prefix) {
    const prefix = spec.prefix;
    tests.push((c) => prefix.every((word, i) => c.args[i] === word));
    said.push(`starting \`${quoteArgs(prefix)}\``);
  }
  if (spec.line) {
    const test = spec.line;
    tests.push((c) => (test instanceof RegExp ? test.test(quoteArgs(c.args)) : test(quoteArgs(c.args))));
    said.push(test instanceof RegExp ? `line ${test}` : 'line predicate');
  }
  if (spec.stdin !== undefined) {
    const test = spec.stdin;
    tests.push((c) => {
      const stdin = c.stdin?.toString() ?? '';
      return typeof test === 'string' ? stdin === test : test instanceof RegExp ? test.test(stdin) : test(stdin);
    });
    said.push(typeof test === 'string' ? 'stdin equal to a string' : test instanceof RegExp ? `stdin ${test}` : 'stdin predicate');
  }
  if (spec.when) {
    tests.push(spec.when);
    said.push('predicate');
  }
  if (!tests.length) throw new Error('ScriptedShell: a matcher needs args, prefix, line, stdin or when.');
  const description = spec.name ? `${spec.name} (${said.join(', ')})` : said.join(', ');
  return [(command) => tests.every((test) => test(command)), description];
}

async function replyOf(answer: Answer, command: Command, call: number): Promise<Reply> {
  if (typeof answer === 'function') return answer(command, call);
  if (Array.isArray(answer)) {
    const replies = answer as readonly Reply[];
    if (!replies.length) throw new Error('ScriptedShell: an empty list of replies answers nothing.');
    return replies[Math.min(call, replies.length - 1)];
  }
  return answer as Reply;
}

function describeStdin(stdin: string | Buffer | undefined): string {
  if (stdin === undefined || stdin.length === 0) return '';
  if (Buffer.isBuffer(stdin)) return ` with ${stdin.length} bytes on stdin`;
  const first = stdin.split('\n', 1)[0];
  return ` with stdin starting \`${first.length > 80 ? `${first.slice(0, 80)}…` : first}\``;
}
