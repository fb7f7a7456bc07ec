/**
 * Values exactly as given, and the registry token only where the images are (issue 10, items 2, 3
 * and 9), end to end through the committed bundles on real daemons:
 * - `env` values holding `${HOME}`, `$x`, quotes and backslashes reach the containers byte for byte,
 *   through the docker-compose 1.29 on the runner and on a sandbox host (whose python-dotenv expands
 *   `${...}` in the env file it is handed, single quotes or not);
 * - the image's registry comes from interpolating its reference with `vars`, and the token goes
 *   there; without a value for the variable the step is refused before any connection;
 * - `vars` are shown as they are in the log and the summary while `env` values are masked.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArgvWatcher } from './support/argv-watch.js';
import { SshdLog, connectionInputs, hostDocker } from './support/ec2-deploy.js';
import { docker, exec, mustExec } from './support/exec.js';
import { pushImage } from './support/registry.js';
import { runAction, type ActionResult } from './support/run-action.js';
import { loadSandbox, type Sandbox, type SandboxHost } from './support/sandbox.js';

const project = 'slipway-e2e-values';
/** Everything a shell, python-dotenv or compose could take for syntax, and a backslash at the end. */
const TRICKY = '${HOME}$x ${DOCKER_HOST:-unset} $$ $USER it\'s "quoted" # not a comment \\ \\\' é ✓ end\\';
const TOKEN = 's3cr3t-env-token';
let sandbox: Sandbox;
let host: SandboxHost;
let workspace: string;

function composeUp(inputs: Record<string, string>): Promise<ActionResult> {
  return runAction('compose-up', {
    cwd: workspace,
    inputs: {
      'project-name': project,
      env: `TRICKY=${TRICKY}\nTOKEN=${TOKEN}`,
      // Not secret: the registry the image reference names through a variable, and a port.
      vars: `REGISTRY=${sandbox.registry.host}\nPORT=2221`,
      'registry-username': sandbox.registry.username,
      'registry-password': sandbox.registry.password,
      'wait-timeout': '60s',
      ...inputs,
    },
    timeoutMs: 240_000,
  });
}

/** The container's environment, as the engine holds it: KEY → value. */
function containerEnv(inspect: (...args: string[]) => string, container: string): Record<string, string> {
  const env = JSON.parse(inspect('inspect', '--format', '{{json .Config.Env}}', container)) as string[];
  return Object.fromEntries(env.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

function expectValuesShownAndMasked(result: ActionResult): void {
  expect(result.log).toContain(`Vars: REGISTRY=${sandbox.registry.host}, PORT=2221`);
  expect(result.summary).toContain('PORT=2221');
  expect(result.masked).toEqual(expect.arrayContaining([TOKEN, TRICKY]));
  expect(result.masked).not.toContain('2221');
  expect(result.log).not.toContain(TOKEN);
  // The token went to the registry the interpolated reference names.
  expect(result.log).toContain(`Log in to ${sandbox.registry.host} as ${sandbox.registry.username}`);
}

function removeProject(inspect: (...args: string[]) => string, remove: (id: string) => void): void {
  for (const id of inspect('ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`).split('\n').filter(Boolean)) remove(id);
}

beforeAll(() => {
  sandbox = loadSandbox();
  host = sandbox.hosts[0];
  const context = mkdtempSync(join(tmpdir(), 'slipway-values-app-'));
  writeFileSync(join(context, 'Dockerfile'), `FROM ${sandbox.baseImage}\nCMD ["sleep", "100000"]\n`);
  // Pushed by tag; the runner's copy removed, so compose must pull it, logged in.
  pushImage(sandbox, `${sandbox.registry.host}/slipway-tests/compose-values`, 'v1', context);
  workspace = mkdtempSync(join(tmpdir(), 'slipway-values-ws-'));
  writeFileSync(
    join(workspace, 'compose.yml'),
    [
      'services:',
      '  app:',
      '    image: ${REGISTRY}/slipway-tests/compose-values:v1',
      '    init: true',
      '    environment:',
      '      TRICKY: ${TRICKY}',
      '      TOKEN: ${TOKEN}',
      '      PORT: ${PORT}',
      '',
    ].join('\n'),
  );
}, 120_000);

afterAll(() => {
  removeProject(
    (...args) => mustExec(['docker', ...args]),
    (id) => exec(['docker', 'rm', '-f', id]),
  );
  exec(['docker', 'network', 'rm', `${project}_default`]);
  removeProject(
    (...args) => hostDocker(host, ...args),
    (id) => docker(host.dockerHost, 'rm', '-f', id),
  );
  docker(host.dockerHost, 'network', 'rm', `${project}_default`);
  exec(['rm', '-rf', join(host.home, 'slipway', project)]);
});

describe('compose-up values', () => {
  it('on the runner, docker-compose 1.29 gives the container every env value byte for byte', async () => {
    const result = await composeUp({});
    expect(result.errors).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.outputs.results)).toEqual([expect.objectContaining({ target: 'runner', ok: true, compose: expect.stringMatching(/^docker-compose 1\./) })]);
    const services = JSON.parse(result.outputs.services) as Array<Record<string, string>>;
    const env = containerEnv((...args) => mustExec(['docker', ...args]), services[0].container);
    expect(env.TRICKY).toBe(TRICKY);
    expect(env.TOKEN).toBe(TOKEN);
    expect(env.PORT).toBe('2221');
    expectValuesShownAndMasked(result);
  }, 300_000);

  it('on a sandbox host, the same, with the token only ever on stdin', async () => {
    const watcher = new ArgvWatcher().start();
    const result = await composeUp({ ...connectionInputs(sandbox, [host]) });
    watcher.stop();
    expect(result.errors).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.outputs.results)).toEqual([expect.objectContaining({ ok: true, compose: expect.stringMatching(/^docker-compose 1\./) })]);
    const services = JSON.parse(result.outputs.services) as Array<Record<string, string>>;
    const env = containerEnv((...args) => hostDocker(host, ...args), services[0].container);
    expect(env.TRICKY).toBe(TRICKY);
    expect(env.TOKEN).toBe(TOKEN);
    expect(env.PORT).toBe('2221');
    expectValuesShownAndMasked(result);
    expect(watcher.containing(sandbox.registry.password)).toEqual([]);
    expect(watcher.containing(TOKEN)).toEqual([]);
  }, 300_000);

  it('refuses, before connecting, a token when the image reference needs a variable no input gives', async () => {
    const sshd = new SshdLog(host);
    const result = await composeUp({ ...connectionInputs(sandbox, [host]), vars: 'PORT=2221' });
    expect(result.exitCode).toBe(1);
    expect(result.errors).toEqual([
      'Input `registry`: is not set, and service app\'s image "${REGISTRY}/slipway-tests/compose-values:v1" needs a variable that no input gives ' +
        '(in `env`, `vars` or `env-file`): give it there, or name the registry to log in to in `registry`.',
    ]);
    // No connection was attempted: the host's sshd logged nothing.
    expect(sshd.since()).toBe('');
  }, 60_000);
});

describe('ec2-deploy values', () => {
  it('shows `vars` as they are and masks `env` in what the script prints', async () => {
    const result = await runAction('ec2-deploy', {
      inputs: { ...connectionInputs(sandbox, [host]), script: 'echo "port=$PORT token=$TOKEN"', env: `TOKEN=${TOKEN}`, vars: 'PORT=2221' },
      timeoutMs: 120_000,
    });
    expect(result.errors).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(result.outputs.stdout).toContain(`port=2221 token=${TOKEN}`);
    expect(result.log).toContain('port=2221 token=***');
    expect(result.log).toContain('Vars: PORT=2221');
    expect(result.summary).toContain('PORT=2221');
  }, 180_000);
});
