/**
 * What a deployment cut off half-way (runner killed, connection lost) could not remove itself:
 * files that hold secrets, such as an env file or a registry login's DOCKER_CONFIG. The next
 * deployment removes them first, under the deploy lock, so no running deployment's files are touched.
 */
import { REGISTRY_CONFIG_PREFIX } from '../docker.js';
import type { Shell } from '../shell.js';
import type { DeployLog } from '../log.js';

/**
 * Removes the entries of `dir` whose names start with one of `prefixes` (a registry login's always),
 * saying what `left` them.
 */
export async function removeLeftovers(shell: Shell, dir: string, log: Pick<DeployLog, 'warning'>, prefixes: readonly string[] = [], left = 'an interrupted deployment'): Promise<void> {
  const script = 'dir=$1; shift; for p in "$@"; do for f in "$dir/$p"*; do if [ -e "$f" ]; then rm -rf "$f" && echo "$f"; fi; done; done';
  const removed = await shell.run({ args: ['sh', '-c', script, 'sh', dir, REGISTRY_CONFIG_PREFIX, ...prefixes], timeoutMs: 60_000 });
  const files = removed.stdout.split('\n').filter(Boolean);
  if (files.length) log.warning(`${shell.target}: removed ${files.length} file(s) ${left} left: ${files.join(', ')}`);
}
