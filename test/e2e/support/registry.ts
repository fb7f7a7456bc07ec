/** Images pushed to the sandbox registry by the docker CLI (set-up for tests and bench, not code under test). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec, mustExec } from './exec.js';
import type { Sandbox } from './sandbox.js';

/**
 * Builds `contextDir` (its Dockerfile) with the classic builder as `repository:tag`, logs in to the
 * sandbox registry with a throwaway DOCKER_CONFIG (password on stdin, removed afterwards), pushes,
 * removes the local tag (unless `keepLocal`), and returns `repository@digest`.
 */
export function pushImage(sandbox: Sandbox, repository: string, tag: string, contextDir: string, options: { keepLocal?: boolean } = {}): string {
  const reference = `${repository}:${tag}`;
  const config = mkdtempSync(join(tmpdir(), 'slipway-push-config-'));
  const env = { DOCKER_CONFIG: config, DOCKER_BUILDKIT: '0' };
  try {
    // --network none: the images need no network to build, and this way not the runner engine's docker0 either.
    mustExec(['docker', 'build', '-q', '--network', 'none', '-t', reference, contextDir], { env });
    mustExec(['docker', 'login', '-u', sandbox.registry.username, '--password-stdin', sandbox.registry.host], { input: sandbox.registry.password, env });
    const pushed = mustExec(['docker', 'push', reference], { env });
    const digest = /digest: (sha256:[a-f0-9]{64})/.exec(pushed)?.[1];
    if (!digest) throw new Error(`no digest in the push output:\n${pushed}`);
    if (!options.keepLocal) exec(['docker', 'image', 'rm', reference]);
    return `${repository}@${digest}`;
  } finally {
    rmSync(config, { recursive: true, force: true });
  }
}
