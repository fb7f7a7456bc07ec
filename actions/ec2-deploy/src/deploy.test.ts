/** HostDeployment's image pruning against a fake host whose image store removes references as docker does. */
import { describe, expect, it } from '@jest/globals';
import type { Command, CommandResult, HostLog, ReleaseRecord, Shell } from '@slipway/core';
import { HostDeployment, hostPaths } from './deploy.js';

const OLD = `sha256:${'1'.repeat(64)}`;
const NEW = `sha256:${'2'.repeat(64)}`;

/**
 * Images and their references. `docker image rm` goes through its references in order and, as
 * docker's ImageDelete does, removing a repository's last tag removes that repository's digest
 * references too; an image left with none is deleted.
 */
class FakeHost implements Shell {
  readonly target = 'u@h:22';
  readonly images = new Map<string, string[]>([
    [OLD, ['r/app@sha256:aaa', 'r/app:v1']],
    [NEW, ['r/app@sha256:bbb', 'r/app:v2']],
  ]);

  constructor(private readonly history: ReleaseRecord[]) {}

  async run(command: Command): Promise<CommandResult> {
    const ok = (stdout = '', exitCode = 0, stderr = ''): CommandResult => ({ exitCode, timedOut: false, stdout, stderr, durationMs: 1 });
    const [program, ...args] = command.args;
    if (program === 'cat') return ok(this.history.map((record) => `${JSON.stringify(record)}\n`).join(''));
    if (args[0] === 'ps') return ok('c1\n');
    if (args[0] === 'inspect') return ok(`${NEW}\n`);
    if (args[0] === 'image' && args[1] === 'inspect') {
      const refs = this.images.get(args.at(-1)!);
      if (!refs) return ok('', 1, 'Error: No such image');
      const digests = refs.filter((ref) => ref.includes('@'));
      const tags = refs.filter((ref) => !ref.includes('@'));
      // In the order the --format asks for.
      return ok((args[3].indexOf('RepoDigests') < args[3].indexOf('RepoTags') ? [...digests, ...tags] : [...tags, ...digests]).join('\n'));
    }
    if (args[0] === 'image' && args[1] === 'rm') {
      const errors: string[] = [];
      for (const ref of args.slice(2)) {
        const id = [...this.images].find(([, refs]) => refs.includes(ref))?.[0];
        if (!id) {
          errors.push(`Error: No such image: ${ref}`);
          continue;
        }
        const repository = ref.replace(/[@:][^/]*$/, '');
        let refs = this.images.get(id)!.filter((r) => r !== ref);
        if (!ref.includes('@') && !refs.some((r) => !r.includes('@') && r.startsWith(`${repository}:`))) refs = refs.filter((r) => !r.startsWith(`${repository}@`));
        if (refs.length) this.images.set(id, refs);
        else this.images.delete(id);
      }
      return ok('', errors.length ? 1 : 0, errors.join('\n'));
    }
    throw new Error(`unexpected command: ${command.args.join(' ')}`);
  }
  async writeFile(): Promise<void> {}
  async close(): Promise<void> {}
}

function release(image: string, imageId: string, time: string): ReleaseRecord {
  return { time, action: 'deploy', image, imageId, result: 'ok' };
}

describe('deploy', () => {
  it('prunes an image with a tag and a digest without a failure to report', async () => {
    const host = new FakeHost([release('r/app:v1', OLD, '2026-01-01T00:00:00Z'), release('r/app:v2', NEW, '2026-01-02T00:00:00Z')]);
    const log = { info: [] as string[], warning: [] as string[] };
    const hostLog: HostLog = { info: (m) => log.info.push(m), warning: (m) => log.warning.push(m), error: (m) => log.warning.push(m), attach: () => {} };
    const options = {
      container: { name: 'app', ports: [], env: new Map(), volumes: [], restart: 'no', runArgs: [] },
      health: { kind: 'auto' as const },
      healthOptions: { timeoutMs: 1_000 },
      keepReleases: 1,
      pullTimeoutMs: 1_000,
    };
    await new HostDeployment(host, hostPaths('/home/u', 'app'), options, hostLog).prune();
    expect(log.warning).toEqual([]);
    expect(log.info).toEqual(['Pruned r/app:v1 (older than the last 1 releases).']);
    expect([...host.images.keys()]).toEqual([NEW]);
  });
});
