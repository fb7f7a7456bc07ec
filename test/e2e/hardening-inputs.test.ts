/**
 * Hardening: bad inputs across the three actions, each refused with core's `Input \`name\`: …`
 * message before anything is contacted. Every address the action could reach is a TCP listener
 * that counts who connects: the SSH hosts (ec2-deploy), the Docker engine (DOCKER_HOST, for
 * build-push and compose-up) and the registry (build-push). A refusal "before any connection"
 * means the listener saw nobody. Inputs that try to run something (`$(touch …)`, backticks, `;`)
 * are refused and run nothing: the marker files they name never appear.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentListener, type Listener } from './support/hardening.js';
import { runAction, type ActionResult } from './support/run-action.js';
import { loadSandbox, type Sandbox } from './support/sandbox.js';

jest.setTimeout(60_000);

/** The one address everything points at (hosts, DOCKER_HOST, registry): nobody may connect to it. */
const port = 19430;
const listening = `127.0.0.1:${port}`;
const sandbox: Sandbox = loadSandbox();
const key = readFileSync(sandbox.keys.ed25519, 'utf8');
let listener: Listener;
let workspace: string;
const marker = `/tmp/slipway-pwned-inputs-${process.pid}`;
const markers = [`${marker}-1`, `${marker}-2`, `${marker}-3`, `${marker}-4`];

beforeAll(async () => {
  listener = await silentListener(port);
  // One workspace for build-push and compose-up: a Dockerfile, and a compose file with an image
  // service and a service built from ./web; and override files a host could not use.
  workspace = mkdtempSync(join(tmpdir(), 'slipway-hardening-inputs-'));
  writeFileSync(join(workspace, 'Dockerfile'), `FROM ${sandbox.baseImage}\n`);
  mkdirSync(join(workspace, 'web'));
  writeFileSync(join(workspace, 'web/Dockerfile'), `FROM ${sandbox.baseImage}\n`);
  writeFileSync(join(workspace, 'docker-compose.yml'), ['services:', '  app:', `    image: ${sandbox.baseImage}`, '  web:', '    build: ./web', ''].join('\n'));
  writeFileSync(join(workspace, 'empty.yml'), '');
  writeFileSync(join(workspace, 'absolute-context.yml'), ['services:', '  web:', '    build: /srv/web', ''].join('\n'));
  writeFileSync(join(workspace, 'variable-context.yml'), ['services:', '  web:', '    build: ${WEB_DIR}', ''].join('\n'));
  // Images a registry token could be sent astray for: a variable no input gives, two registries.
  writeFileSync(join(workspace, 'variable-image.yml'), ['services:', '  app:', '    image: ${REGISTRY}/slipway-tests/app:v1', ''].join('\n'));
  writeFileSync(join(workspace, 'two-registries.yml'), ['services:', '  app:', `    image: ${sandbox.registry.host}/slipway-tests/app:v1`, '  cache:', '    image: ghcr.io/o/cache:1', ''].join('\n'));
});

afterAll(async () => {
  await listener.close();
  rmSync(workspace, { recursive: true, force: true });
});

/** Runs `action` with everything it could contact pointed at the counting listener. */
function run(action: string, inputs: Record<string, string>, env: Record<string, string> = {}): Promise<ActionResult> {
  return runAction(action, { inputs, cwd: workspace, env: { DOCKER_HOST: `tcp://${listening}`, ...env }, timeoutMs: 30_000 });
}

function ec2Inputs(inputs: Record<string, string>): Record<string, string> {
  return {
    hosts: `deploy1@${listening}`,
    'ssh-key': key,
    'host-fingerprints': sandbox.hosts[0].hostKeyFingerprint,
    image: `${sandbox.registry.host}/slipway-tests/ec2-app:v1`,
    ...inputs,
  };
}

/** compose-up on a host (the listener), its build context uploaded. */
function composeOnHosts(inputs: Record<string, string>): Record<string, string> {
  const { image: _image, ...connection } = ec2Inputs({});
  return { ...connection, upload: 'web/', ...inputs };
}

/** action, inputs, the expected message, and the environment the runner gives, where it matters. */
type Row = [string, Record<string, string>, string, Record<string, string>?];

const ec2Rows: Row[] = [
  ['ec2-deploy', ec2Inputs({ hosts: `deploy1@127.0.0.1:${port}, bad host` }), 'Input `hosts`: "bad host" contains white space'],
  ['ec2-deploy', ec2Inputs({ hosts: '' }), 'Input `hosts`: is empty'],
  ['ec2-deploy', ec2Inputs({ hosts: `root;touch\${IFS}${markers[0]}@127.0.0.1:${port}` }), `Input \`hosts\`: "root;touch\${IFS}${markers[0]}" in`],
  ['ec2-deploy', ec2Inputs({ user: `deploy$(touch ${markers[1]})` }), `Input \`user\`: "deploy$(touch ${markers[1]})" is not a valid user name`],
  ['ec2-deploy', ec2Inputs({ port: '70000' }), 'Input `port`: "70000" is not a port'],
  ['ec2-deploy', ec2Inputs({ 'ssh-key': '' }), 'Input `ssh-key`: is empty'],
  ['ec2-deploy', ec2Inputs({ 'ssh-key': 'not a key at all' }), 'Input `ssh-key`: is not a private key'],
  [
    'ec2-deploy',
    ec2Inputs({ 'ssh-key': readFileSync(sandbox.keys.ed25519Passphrase.path, 'utf8'), 'ssh-key-passphrase': 'not-the-passphrase' }),
    'Input `ssh-key-passphrase`: does not decrypt `ssh-key`',
  ],
  ['ec2-deploy', ec2Inputs({ 'host-fingerprints': 'SHA256:tooShort' }), 'Input `host-fingerprints`: line 1: "SHA256:tooShort" is not a SHA256 fingerprint'],
  ['ec2-deploy', ec2Inputs({ 'insecure-skip-host-key-check': 'true' }), 'Input `insecure-skip-host-key-check`: is true while `host-fingerprints` pins host keys'],
  ['ec2-deploy', ec2Inputs({ 'insecure-skip-host-key-check': 'yes' }), 'Input `insecure-skip-host-key-check`: expected true or false'],
  ['ec2-deploy', ec2Inputs({ 'jump-ssh-key': key }), 'Input `jump-ssh-key`: is set but `jump-host` is not'],
  ['ec2-deploy', ec2Inputs({ 'jump-host': 'bastion:22:22' }), 'Input `jump-host`'],
  ['ec2-deploy', ec2Inputs({ 'command-timeout': '0s' }), 'Input `command-timeout`: must be longer than zero'],
  ['ec2-deploy', ec2Inputs({ 'command-timeout': '1000h' }), 'Input `command-timeout`: "1000h" is longer than the maximum, 24h'],
  ['ec2-deploy', ec2Inputs({ 'connect-retries': '0' }), 'Input `connect-retries`: must be between 1 and 20'],
  ['ec2-deploy', ec2Inputs({ 'fail-fast': 'maybe' }), 'Input `fail-fast`: expected true or false'],
  ['ec2-deploy', ec2Inputs({ image: '' }), 'Input `image`: is empty'],
  ['ec2-deploy', ec2Inputs({ image: `127.0.0.1:5000/app:v1$(touch ${markers[2]})` }), 'contains white space'],
  ['ec2-deploy', ec2Inputs({ image: '127.0.0.1:5000/app@sha256:1234' }), 'Input `image`: "sha256:1234" is not a digest'],
  ['ec2-deploy', ec2Inputs({ name: `app;touch ${markers[3]}` }), 'Input `name`: "app;touch'],
  ['ec2-deploy', ec2Inputs({ name: '-app' }), 'Input `name`'],
  ['ec2-deploy', ec2Inputs({ ports: '8080:80;id' }), 'Input `ports`: "8080:80;id" is not a port mapping'],
  ['ec2-deploy', ec2Inputs({ volumes: 'data' }), 'Input `volumes`: "data" is not a volume'],
  ['ec2-deploy', ec2Inputs({ volumes: '../../etc:/x' }), 'Input `volumes`: "../../etc:/x": ../../etc is neither a volume name'],
  ['ec2-deploy', ec2Inputs({ volumes: './data:/data' }), 'Input `volumes`: "./data:/data": ./data is neither a volume name'],
  ['ec2-deploy', ec2Inputs({ volumes: '/srv/../etc:/x' }), 'Input `volumes`: "/srv/../etc:/x": the host path /srv/../etc has a ".." part'],
  ['ec2-deploy', ec2Inputs({ network: 'my net' }), 'Input `network`: "my net" is not a network name'],
  ['ec2-deploy', ec2Inputs({ restart: 'sometimes' }), 'Input `restart`: "sometimes" is not a restart policy'],
  ['ec2-deploy', ec2Inputs({ 'run-args': '--init --name=other' }), 'Input `run-args`: --name=other is set by the action itself'],
  ['ec2-deploy', ec2Inputs({ 'run-args': '--label "unclosed' }), 'Input `run-args`: has an unclosed " quote'],
  ['ec2-deploy', ec2Inputs({ 'health-cmd': 'true', 'health-url': 'http://127.0.0.1/' }), 'Input `health-cmd`: and `health-url` are both set'],
  ['ec2-deploy', ec2Inputs({ 'health-url': 'ftp://example.com/' }), 'Input `health-url`: "ftp://example.com/" is not an http(s) URL'],
  ['ec2-deploy', ec2Inputs({ 'health-timeout': '-5s' }), 'Input `health-timeout`'],
  ['ec2-deploy', ec2Inputs({ 'keep-releases': '0' }), 'Input `keep-releases`: must be between 1 and 100'],
  ['ec2-deploy', ec2Inputs({ 'lock-timeout': 'never' }), 'Input `lock-timeout`: "never" is not a duration'],
  ['ec2-deploy', ec2Inputs({ 'registry-username': '', 'registry-password': 'a-token-value' }), 'Input `registry-username`: is empty while `registry-password` is set'],
  ['ec2-deploy', ec2Inputs({ env: 'GOOD=1\nGOOD=2' }), 'Input `env`: line 2: GOOD is set twice'],
  ['ec2-deploy', ec2Inputs({ env: '1BAD=x' }), 'Input `env`: line 1: "1BAD" is not a valid name'],
  ['ec2-deploy', ec2Inputs({ image: '', script: 'echo hi', env: 'A.B=1' }), 'Input `env`: A.B is not a shell variable name'],
  ['ec2-deploy', ec2Inputs({ image: '', script: 'echo hi', rollback: 'true' }), 'Input `rollback`: is true while `script` is set'],
  ['ec2-deploy', ec2Inputs({ rollback: 'true' }), 'Input `rollback`: is true while `image` is set'],
  ['ec2-deploy', ec2Inputs({ 'env-file': 'no/such/file.env' }), 'Input `env-file`'],
  ['ec2-deploy', ec2Inputs({ env: 'PORT=1', vars: 'PORT=2' }), 'Input `vars`: PORT is also in `env`'],
];

const buildPushInputs = (inputs: Record<string, string>): Record<string, string> => ({
  image: `${listening}/slipway-tests/hardening`,
  password: 'not-a-real-token',
  ...inputs,
});

const buildPushRows: Row[] = [
  ['build-push', buildPushInputs({ image: `${listening}/slipway-tests/app@sha256:${'a'.repeat(64)}` }), 'Input `image`: names a digest'],
  ['build-push', buildPushInputs({ image: `${listening}/slipway tests/app` }), 'Input `image`: "' + listening + '/slipway tests/app" contains white space'],
  ['build-push', buildPushInputs({ tags: 'v1 `id`' }), 'Input `tags`'],
  ['build-push', buildPushInputs({ tags: `${listening}/slipway-tests/app@sha256:${'b'.repeat(64)}` }), 'Input `tags`'],
  ['build-push', buildPushInputs({ context: 'no-such-dir' }), 'Input `context`: directory'],
  ['build-push', buildPushInputs({ file: 'Dockerfile.missing' }), 'Input `file`'],
  ['build-push', buildPushInputs({ password: '' }), 'Input `password`: is empty'],
  ['build-push', buildPushInputs({ cache: 's3' }), 'Input `cache`'],
  ['build-push', buildPushInputs({ push: 'perhaps' }), 'Input `push`: expected true or false'],
  ['build-push', buildPushInputs({ 'no-cache': 'yes' }), 'Input `no-cache`: expected true or false'],
  ['build-push', buildPushInputs({ 'build-args': 'NO_EQUALS_SIGN' }), 'Input `build-args`: line 1 has no "="'],
  // A login to one registry and a push to another.
  ['build-push', buildPushInputs({ registry: sandbox.registry.host }), `Input \`registry\`: is ${sandbox.registry.host}, but ${listening}/slipway-tests/hardening is pushed to ${listening}`],
  [
    'build-push',
    buildPushInputs({ tags: `v1\n${sandbox.registry.host}/slipway-tests/hardening:v1` }),
    `Input \`tags\`: ${sandbox.registry.host}/slipway-tests/hardening is on ${sandbox.registry.host}`,
  ],
  ['build-push', buildPushInputs({ labels: 'org.example label=x' }), 'Input `labels`'],
  // Outside GitHub: no ref or commit to name automatic tags after.
  ['build-push', buildPushInputs({}), 'Input `tags`: is empty and no tag can be derived from the run', { GITHUB_REF: '', GITHUB_SHA: '' }],
];

const composeRows: Row[] = [
  ['compose-up', { mode: 'kubernetes' }, 'Input `mode`: "kubernetes" is not one of: compose, swarm'],
  ['compose-up', { 'project-name': 'My App' }, 'Input `project-name`: "My App" is not a compose project name'],
  ['compose-up', { 'compose-files': 'missing.yml' }, 'Input `compose-files`'],
  ['compose-up', { services: 'nosuch' }, 'Input `services`: "nosuch" is not a service'],
  ['compose-up', { images: 'app' }, 'Input `images`: line 1: write service=image-ref'],
  ['compose-up', { images: 'nosuch=127.0.0.1:5000/x:1' }, 'Input `images`: line 1: "nosuch" is not a service'],
  ['compose-up', { images: 'app=127.0.0.1:5000/Upper/App:1' }, 'Input `images`: line 1: "Upper/App" has uppercase letters'],
  ['compose-up', { upload: '../outside' }, 'Input `upload`'],
  ['compose-up', { 'down-on-exit': 'true', hosts: `deploy1@${listening}`, upload: 'web/' }, 'Input `down-on-exit`: is for runs on the runner'],
  ['compose-up', { 'keep-releases': '1000' }, 'Input `keep-releases`: must be between 1 and 100'],
  ['compose-up', { pull: 'sometimes' }, 'Input `pull`'],
  ['compose-up', { 'wait-timeout': 'forever' }, 'Input `wait-timeout`: "forever" is not a duration'],
  ['compose-up', { 'wait-timeout': '25h' }, 'Input `wait-timeout`: "25h" is longer than the maximum, 24h'],
  ['compose-up', { 'remove-orphans': 'nope' }, 'Input `remove-orphans`: expected true or false'],
  ['compose-up', { 'env-file': 'missing.env' }, 'Input `env-file`: missing.env is not a file'],
  ['compose-up', { env: 'NO_EQUALS_SIGN' }, 'Input `env`: line 1 has no "="'],
  ['compose-up', { mode: 'swarm', services: 'web' }, 'Input `mode`: swarm stacks cannot build'],
  ['compose-up', { env: 'PORT=1', vars: 'PORT=2' }, 'Input `vars`: PORT is also in `env`'],
  // A registry token with no one registry to go to: never a default one.
  ['compose-up', { 'registry-password': 'a-token-value' }, 'Input `registry`: is not set, and no image comes from a registry host'],
  [
    'compose-up',
    { 'registry-password': 'a-token-value', 'compose-files': 'variable-image.yml' },
    'Input `registry`: is not set, and service app\'s image "${REGISTRY}/slipway-tests/app:v1" needs a variable',
  ],
  [
    'compose-up',
    { 'registry-password': 'a-token-value', 'compose-files': 'two-registries.yml' },
    `Input \`registry\`: is not set, and the images come from several registries (${sandbox.registry.host}, ghcr.io)`,
  ],
  ['compose-up', { 'registry-password': 'a-token-value', 'compose-files': 'two-registries.yml', registry: 'quay.io' }, 'Input `registry`: is quay.io, but the images come from'],
  // On hosts: the connection inputs, parsed by the same core code as ec2-deploy's.
  ['compose-up', composeOnHosts({ hosts: 'deploy1@127.0.0.1:99999' }), 'Input `hosts`'],
  ['compose-up', composeOnHosts({ 'host-fingerprints': 'SHA256:tooShort' }), 'Input `host-fingerprints`'],
  ['compose-up', composeOnHosts({ 'ssh-key': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop' }), 'Input `ssh-key`'],
  ['compose-up', composeOnHosts({ 'connect-timeout': 'soon' }), 'Input `connect-timeout`'],
  ['compose-up', composeOnHosts({ 'compose-files': 'docker-compose.yml\nempty.yml' }), 'Input `compose-files`: empty.yml is empty'],
  ['compose-up', composeOnHosts({ 'compose-files': 'docker-compose.yml\nabsolute-context.yml' }), 'Input `compose-files`: service web builds from /srv/web, an absolute path'],
  ['compose-up', composeOnHosts({ 'compose-files': 'docker-compose.yml\nvariable-context.yml' }), 'Input `compose-files`: service web builds from "${WEB_DIR}", which a variable names'],
];

const rows = [...ec2Rows, ...buildPushRows, ...composeRows];

describe('hardening: bad inputs', () => {
  it('covers at least 30 bad inputs across the three actions', () => {
    expect(rows.length).toBeGreaterThanOrEqual(30);
    expect(new Set(rows.map(([action]) => action))).toEqual(new Set(['ec2-deploy', 'build-push', 'compose-up']));
  });

  // Titled by the expected message: the inputs hold the SSH key.
  it.each(rows.map(([action, inputs, message, env]) => [action, message, inputs, env] as const))('%s: %s, before any connection', async (action, message, inputs, env) => {
    const before = listener.count();
    const result = await run(action, inputs, env);
    expect(result.exitCode).toBe(1);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatch(/^Input `[a-z-]+`: /);
    expect(result.errors[0]).toContain(message);
    // Nothing was contacted: no SSH host, no Docker engine, no registry.
    expect(listener.count()).toBe(before);
    // And the key is in no form in what the runner would print.
    for (const line of key
      .trim()
      .split('\n')
      .filter((l) => l.length > 20 && !l.startsWith('-----')))
      expect(result.log).not.toContain(line);
  });

  it('ran none of the commands hidden in refused inputs', () => {
    for (const file of markers) expect(existsSync(file)).toBe(false);
  });
});
