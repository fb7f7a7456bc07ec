import { describe, expect, it } from '@jest/globals';
import { CommandError } from '../shell.js';
import { ScriptedShell } from './scripted-shell.js';

describe('scripted-shell', () => {
  it('answers by exact argv, prefix, command line or stdin, the rule declared last first', async () => {
    const shell = new ScriptedShell();
    shell.on({ prefix: ['docker'] }, { stdout: 'any docker\n' });
    shell.on(['docker', 'ps'], { stdout: 'c1\n' });
    shell.on(/^docker image inspect .*'a b'$/, { stdout: 'quoted\n' });
    shell.on({ prefix: ['sh', '-s'], stdin: /echo acquired/ }, { stdout: 'acquired\n' });
    expect((await shell.run({ args: ['docker', 'ps'] })).stdout).toBe('c1\n');
    expect((await shell.run({ args: ['docker', 'ps', '-a'] })).stdout).toBe('any docker\n');
    expect((await shell.run({ args: ['docker', 'image', 'inspect', 'a b'] })).stdout).toBe('quoted\n');
    expect((await shell.run({ args: ['sh', '-s', '--', '/l'], stdin: 'set -eu\necho acquired\n' })).stdout).toBe('acquired\n');
    await expect(shell.run({ args: ['sh', '-s', '--', '/l'], stdin: 'echo released\n' })).rejects.toThrow('no rule answers `sh -s -- /l` with stdin starting `echo released`');
  });

  it('fails loudly on a command no rule answers, naming the rules, and keeps failing at verify when the caller swallowed it', async () => {
    const shell = new ScriptedShell({ target: 'deploy@h1:22' });
    shell.on(['docker', 'ps']);
    shell.on({ prefix: ['mkdir'], name: 'release directories' });
    const error = (await shell.run({ args: ['rm', '-rf', '/'] }).catch((e: unknown) => e)) as Error;
    expect(error.message).toBe('ScriptedShell deploy@h1:22: no rule answers `rm -rf /`\nrules:\n  release directories (starting `mkdir`)\n  exactly `docker ps`');
    expect(() => shell.verify()).toThrow('no rule answers `rm -rf /`');
  });

  it('plays declared exchanges in order, says when one comes early, and in strict mode wants them all', async () => {
    const shell = new ScriptedShell({ strict: true });
    shell.expect(['mkdir', 'a']);
    shell.expect(['mkdir', 'b'], { stdout: 'second\n' });
    await expect(shell.run({ args: ['mkdir', 'b'] })).rejects.toThrow('it matches the declared exchange exactly `mkdir b`, which comes after exactly `mkdir a`');
    shell.unmatched.length = 0;
    await shell.run({ args: ['mkdir', 'a'] });
    expect(() => shell.verify()).toThrow('declared exchanges never came:\n  exactly `mkdir b`');
    expect((await shell.run({ args: ['mkdir', 'b'] })).stdout).toBe('second\n');
    await expect(shell.run({ args: ['mkdir', 'b'] })).rejects.toThrow('no rule answers');
  });

  it('fails a non-zero exit as the real shells do, unless the command allows failure', async () => {
    const shell = new ScriptedShell({ target: 'h' });
    shell.on(['false'], { exitCode: 1, stderr: 'nope\n' });
    await expect(shell.run({ args: ['false'] })).rejects.toThrow(new CommandError('h', ['false'], { exitCode: 1, timedOut: false, stdout: '', stderr: 'nope\n', durationMs: 0 }));
    expect(await shell.run({ args: ['false'], allowFailure: true })).toMatchObject({ exitCode: 1, stderr: 'nope\n' });
  });

  it('gives one reply per call with the last repeating, or a reply made from the command', async () => {
    const shell = new ScriptedShell();
    const poll = shell.on(['docker', 'service', 'ls'], [{ stdout: '0/1' }, { stdout: '1/1' }]);
    shell.on({ prefix: ['echo'] }, (command, call) => ({ stdout: `${command.args.slice(1).join(' ')} #${call}` }));
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await shell.run({ args: ['docker', 'service', 'ls'] })).stdout);
    expect(answers).toEqual(['0/1', '1/1', '1/1']);
    expect(poll.calls).toBe(3);
    expect((await shell.run({ args: ['echo', 'hi'] })).stdout).toBe('hi #0');
  });

  it("streams a reply's lines to the command's onLine, as a remote program's progress", async () => {
    const shell = new ScriptedShell();
    shell.on({ prefix: ['sh', '-s'] }, { lines: ['step lock ok', 'step pull ok'] });
    const seen: string[] = [];
    const result = await shell.run({ args: ['sh', '-s'], onLine: (line, stream) => seen.push(`${stream}: ${line}`) });
    expect(seen).toEqual(['stdout: step lock ok', 'stdout: step pull ok']);
    expect(result.stdout).toBe('step lock ok\nstep pull ok\n');
  });

  it('answers what the caller feeds a program that reads more as commands of their own, streamed to the one onLine, the last reply ending it', async () => {
    const host = new ScriptedShell({ target: 'h1' });
    host.on({ args: ['sh', '-s'], stdin: 'first\n' }, { lines: ['one', 'ready'], readsMore: true });
    host.on({ args: ['sh', '-s'], stdin: 'second\n' }, { lines: ['two'], exitCode: 3 });
    const seen: string[] = [];
    const result = await host.run({
      args: ['sh', '-s'],
      stdin: 'first\n',
      holdStdin: true,
      allowFailure: true,
      // Written once the program said it is ready, as a runner answers it.
      feed: (write) => setTimeout(() => seen.includes('ready') && write('second\n'), 0),
      onLine: (line) => seen.push(line),
    });
    expect(seen).toEqual(['one', 'ready', 'two']);
    expect(result).toMatchObject({ exitCode: 3, stdout: 'two\n' });
    expect(host.commands.map((command) => command.stdin)).toEqual(['first\n', 'second\n']);
    await expect(host.run({ args: ['sh', '-s'], stdin: 'first\n' })).rejects.toThrow('a reply that reads more answers `sh -s`, which has no feed to write it');
  });

  it('records commands and files in the order they came, and throws what a reply says to throw', async () => {
    const shell = new ScriptedShell();
    shell.on({ prefix: ['docker', 'login'] });
    shell.on(['cat', '/x'], { throws: new Error('connection lost') });
    await shell.writeFile('/r/compose.env', 'A=1\n', 0o600);
    await shell.run({ args: ['docker', 'login', '--password-stdin'], stdin: 'pw', env: { DOCKER_CONFIG: '/d' } });
    await expect(shell.run({ args: ['cat', '/x'] })).rejects.toThrow('connection lost');
    expect(shell.events.map((e) => (e.kind === 'write' ? `write ${e.path} ${e.mode.toString(8)}` : `run ${e.line}`))).toEqual([
      'write /r/compose.env 600',
      'run docker login --password-stdin',
      'run cat /x',
    ]);
    expect(shell.commands[0]).toMatchObject({ stdin: 'pw', env: { DOCKER_CONFIG: '/d' } });
    expect(shell.file('/r/compose.env')).toBe('A=1\n');
    expect(shell.lines).toEqual(['docker login --password-stdin', 'cat /x']);
  });
});
