/**
 * Hardening: hostile values through ec2-deploy on sandbox host h3. Env values, labels in
 * `run-args`, a bind-mount path and script text full of spaces, quotes, `$()`, backticks, `;`,
 * newlines and unicode reach the container or the host byte for byte, and none of the commands
 * they spell ever runs: the marker files they would create appear nowhere. The secrets of these
 * runs (registry token, SSH key and each of its lines) appear in no log, argv or file on the host.
 *
 * Env values cannot hold a newline: `env` and `env-file` are one KEY=VALUE a line, and so is the
 * file docker reads; newlines are exercised through a label and the script instead.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ArgvWatcher } from './support/argv-watch.js';
import { docker } from './support/exec.js';
import { ec2Deploy, hostAddress, hostDocker, pushAppImage, removeDeploymentDir, served, type AppImage } from './support/ec2-deploy.js';
import { faultHost, filesLeftOnHost, secretLeaks } from './support/hardening.js';
import type { ActionResult } from './support/run-action.js';
import type { Sandbox, SandboxHost } from './support/sandbox.js';

jest.setTimeout(180_000);

const name = 'slipway.hardening_hostile-1';
const marker = (n: number) => `/tmp/slipway-pwned-hostile-${process.pid}-${n}`;
const bindRoot = `/tmp/slipway-hardening-bind-${process.pid}`;
let sandbox: Sandbox;
let host: SandboxHost;
let image: AppImage;
const watcher = new ArgvWatcher();
const results: ActionResult[] = [];

/** Env values that a shell pasting them anywhere would split, expand or run. */
const env: [string, string][] = [
  ['SPACES', '  two leading, two inner  and two trailing  '],
  ['QUOTES', `it's "double" and 'single' quoted`],
  ['SUBST', `$(touch ${marker(1)})`],
  ['BACKTICKS', `\`touch ${marker(2)}\``],
  ['SEMICOLON', `a; touch ${marker(3)}; b`],
  ['EXPANSIONS', '$HOME ${PATH} $1 $$ \\$ \\\\ \\n %s %n'],
  ['UNICODE', 'héllo wörld — 日本語 🚀 ∑ ﷽'],
  ['HASH', '# not a comment'],
  ['EQUALS', 'a=b==c'],
  ['PIPES', `| touch ${marker(4)} && touch ${marker(5)} || true > ${marker(6)}`],
  ['EMPTY', ''],
  ['LAST', 'end'],
];
const labelValue = `$(touch ${marker(7)}) \`touch ${marker(8)}\`; rm -rf ~ "quoted" 'single' ü`;
const multilineLabel = 'line one\nline two; touch ' + marker(9);
// Volumes take no white space: ${IFS} is how a shell would still split (and run) it.
const bindPath = `${bindRoot}/a$(touch\${IFS}${marker(10)})b;\`touch\${IFS}${marker(11)}\`c'd"e|f&g>h`;

function cleanUp(): void {
  docker(host.dockerHost, 'rm', '-f', name, `${name}-slipway-previous`);
  removeDeploymentDir(host, name);
  rmSync(bindRoot, { recursive: true, force: true });
}

beforeAll(() => {
  ({ sandbox, host } = faultHost());
  cleanUp();
  image = pushAppImage(sandbox, 'hardening-hostile', 'hardening hostile', { healthcheck: true });
  watcher.start();
}, 180_000);

afterAll(() => {
  watcher.stop();
  if (host) cleanUp();
});

async function deploy(inputs: Record<string, string>): Promise<ActionResult> {
  const result = await ec2Deploy(inputs);
  results.push(result);
  return result;
}

function connection(): Record<string, string> {
  return {
    hosts: hostAddress(host),
    // The key with literal \n escapes, as some secret stores give it.
    'ssh-key': readFileSync(sandbox.keys.ed25519, 'utf8').replace(/\n/g, '\\n'),
    'host-fingerprints': host.hostKeyFingerprint,
  };
}

/** Where a marker could have been created: the machine's /tmp (runner and hosts share it), the host user's home, the container. */
function markersFound(): string[] {
  const found: string[] = [];
  for (let n = 1; n <= 20; n++) {
    if (existsSync(marker(n))) found.push(marker(n));
    if (existsSync(join(host.home, marker(n)))) found.push(`~${marker(n)}`);
    if (docker(host.dockerHost, 'exec', name, 'ls', marker(n)).status === 0) found.push(`container:${marker(n)}`);
  }
  return found;
}

describe('hardening: hostile inputs (ec2-deploy on h3)', () => {
  it('delivers hostile env values, labels and a bind-mount path to the container literally, running none of them', async () => {
    const result = await deploy({
      ...connection(),
      image: image.ref,
      'registry-username': sandbox.registry.username,
      'registry-password': sandbox.registry.password,
      name,
      ports: '8080',
      env: env.map(([key, value]) => `${key}=${value}`).join('\n'),
      volumes: `${bindPath}:/hostile`,
      // A POSIX-shell-like word list: quotes group, nothing is expanded.
      'run-args': `--init --label "slipway.hostile=${labelValue.replace(/["\\$`]/g, '\\$&')}" --label 'slipway.multiline=${multilineLabel}'`,
    });
    expect(result.errors).toEqual([]);
    expect(served(host, name)).toBe('hardening hostile');

    // The environment of the container's PID 1, exactly: every value as given.
    const environ = docker(host.dockerHost, 'exec', name, 'cat', '/proc/1/environ').stdout.split('\0');
    for (const [key, value] of env) expect(environ).toContain(`${key}=${value}`);

    const labels = JSON.parse(hostDocker(host, 'inspect', '--format', '{{json .Config.Labels}}', name)) as Record<string, string>;
    expect(labels['slipway.hostile']).toBe(labelValue);
    expect(labels['slipway.multiline']).toBe(multilineLabel);

    // The bind mount's source is that very path, created as one directory.
    const mounts = JSON.parse(hostDocker(host, 'inspect', '--format', '{{json .Mounts}}', name)) as { Source: string; Destination: string }[];
    expect(mounts).toContainEqual(expect.objectContaining({ Source: bindPath, Destination: '/hostile' }));
    expect(readdirSync(bindRoot)).toEqual([`a$(touch\${IFS}`]);

    expect(markersFound()).toEqual([]);
  });

  it('runs a script with hostile env values and text literally, newlines and unicode included', async () => {
    const scriptEnv = env.filter(([key]) => key !== 'EMPTY');
    const heredoc = `literal $(touch ${marker(12)}) \`touch ${marker(13)}\`; it's "fine" — ünïcödé 🚀\n  indented line; touch ${marker(14)}`;
    const script = [...scriptEnv.map(([key]) => `printf '%s\\n' "$${key}"`), "cat <<'SLIPWAY_END'", heredoc, 'SLIPWAY_END', `echo "arg with  spaces" 'single $quoted' "$(printf 'a;b')"`].join('\n');
    const result = await deploy({
      ...connection(),
      script,
      env: scriptEnv.map(([key, value]) => `${key}=${value}`).join('\n'),
    });
    expect(result.errors).toEqual([]);
    expect(result.outputs.stdout).toBe([...scriptEnv.map(([, value]) => value), heredoc, 'arg with  spaces single $quoted a;b', ''].join('\n'));
    expect(markersFound()).toEqual([]);
  });

  it('left no secret in any log, argv or file on the host', () => {
    watcher.stop();
    expect(results).toHaveLength(2);
    expect(watcher.count).toBeGreaterThan(20);
    const files = filesLeftOnHost(host, sandbox.stateDir);
    expect(files.length).toBeGreaterThan(0);
    expect(secretLeaks(sandbox, results, watcher, files)).toEqual([]);
  });
});
