import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunContext } from '@slipway/core';
import { getInputs, normalizeProjectName } from './inputs.js';

const run: RunContext = {
  eventName: 'push',
  sha: 'abc1234def',
  ref: 'refs/heads/main',
  defaultBranch: 'main',
  owner: 'My-Org',
  repo: 'Web.App',
  actor: 'octocat',
  serverUrl: 'https://github.com',
  runId: 1,
  runAttempt: 1,
  workflow: 'ci',
};

const digest = `sha256:${'c'.repeat(64)}`;

function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-ws-'));
  writeFileSync(join(dir, 'docker-compose.yml'), 'services:\n  wserver:\n    build: ./nginx\n  my-node:\n    image: ghcr.io/ej31/jeff-ex:1.3\n');
  mkdirSync(join(dir, 'nginx'));
  writeFileSync(join(dir, 'nginx/default.conf'), 'server {}\n');
  writeFileSync(join(dir, 'app.env'), 'A=from-file\r\nB=2\n');
  writeFileSync(join(dir, 'two-registries.yml'), 'services:\n  my-node:\n    image: x\n  cache:\n    image: quay.io/o/cache:1\n');
  return dir;
}

const reader = (values: Record<string, string>) => (name: string) => values[name] ?? '';

const FP = 'SHA256:YM5uzrYXRF94lPFDSherNITUFDGVX2fIpASmSvVb0BI';
let key = '';

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-keys-'));
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')]);
  key = readFileSync(join(dir, 'id'), 'utf8');
});

describe('inputs', () => {
  it('defaults: the compose file compose finds, the repository as project, runner mode', () => {
    const inputs = getInputs(reader({}), run, workspace());
    expect(inputs.model.files.map((f) => f.relativePath)).toEqual(['docker-compose.yml']);
    expect(inputs).toMatchObject({
      project: 'webapp',
      services: [],
      remote: false,
      pull: 'missing',
      build: true,
      wait: true,
      waitTimeoutMs: 120_000,
      removeOrphans: true,
      downOnExit: false,
      mode: 'compose',
      remoteDir: '~/slipway/webapp',
      keepReleases: 5,
      env: undefined,
      registry: undefined,
    });
  });

  it('reads every input, and pulls always on hosts', () => {
    const ws = workspace();
    const inputs = getInputs(
      reader({
        hosts: 'h1',
        'ssh-key': key,
        'host-fingerprints': FP,
        'project-name': 'shop',
        services: 'my-node',
        images: `my-node=ghcr.io/o/node@${digest}`,
        env: 'B=from env\nC=$literal',
        'env-file': 'app.env',
        upload: 'nginx/',
        'remote-dir': '/srv/shop',
        'keep-releases': '3',
        build: 'false',
        wait: 'false',
        'wait-timeout': '5m',
        'remove-orphans': 'false',
        'registry-password': 'tok',
      }),
      run,
      ws,
    );
    expect(inputs).toMatchObject({
      project: 'shop',
      services: ['my-node'],
      remote: true,
      pull: 'always',
      build: false,
      wait: false,
      waitTimeoutMs: 300_000,
      removeOrphans: false,
      uploads: ['nginx'],
      remoteDir: '/srv/shop',
      keepReleases: 3,
      registry: { registry: 'ghcr.io', username: 'octocat', password: 'tok', inputs: ['registry-username', 'registry-password'], access: 'pull' },
    });
    expect([...inputs.images]).toEqual([['my-node', `ghcr.io/o/node@${digest}`]]);
    expect(inputs.connection?.hosts.map((h) => h.label)).toEqual(['ec2-user@h1:22']);
    expect(inputs.secrets).toEqual(expect.arrayContaining([key, 'tok', 'from env', '$literal', 'from-file']));
    // env-file first, then env over it, each value literal (written for the target's compose at deploy time).
    expect([...(inputs.env ?? [])]).toEqual([
      ['A', 'from-file'],
      ['B', 'from env'],
      ['C', '$literal'],
    ]);
  });

  it('hands `vars` on with `env`, unmasked', () => {
    const inputs = getInputs(reader({ env: 'TOKEN=s3cr3t', vars: 'PORT=2221' }), run, workspace());
    expect([...(inputs.env ?? [])]).toEqual([
      ['TOKEN', 's3cr3t'],
      ['PORT', '2221'],
    ]);
    expect([...inputs.vars]).toEqual([['PORT', '2221']]);
    expect(inputs.secrets).toEqual(['s3cr3t']);
  });

  it('logs in to the registry the images come from, interpolated with env and vars, and refuses to guess', () => {
    const ws = workspace();
    writeFileSync(join(ws, 'docker-compose.yml'), 'services:\n  app:\n    image: ${REG}/o/app:${TAG:-v1}\n  web:\n    image: nginx\n');
    expect(getInputs(reader({ vars: 'REG=10.0.0.1:5000', 'registry-password': 'tok' }), run, ws).registry?.registry).toBe('10.0.0.1:5000');
    expect(() => getInputs(reader({ 'registry-password': 'tok' }), run, ws)).toThrow(
      'Input `registry`: is not set, and service app\'s image "${REG}/o/app:${TAG:-v1}" needs a variable that no input gives',
    );
    // No password, no login: nothing to decide.
    expect(getInputs(reader({}), run, ws).registry).toBeUndefined();
  });

  it('parses the connection inputs with core, as ec2-deploy does, only when hosts are given', () => {
    const ws = workspace();
    const local = getInputs(reader({}), run, ws);
    expect(local.connection).toBeUndefined();
    expect(local.secrets).toEqual([]);
    const remote = getInputs(
      reader({ hosts: 'deploy@10.0.0.1:2201, 10.0.0.2', user: 'ubuntu', 'ssh-key': key, 'host-fingerprints': FP, upload: 'nginx', 'max-parallel': '1', 'fail-fast': 'false', 'connect-timeout': '5s' }),
      run,
      ws,
    );
    expect(remote.connection).toMatchObject({ maxParallel: 1, failFast: false, connectTimeoutMs: 5_000, hostKeys: [{ fingerprint: FP }] });
    expect(remote.connection?.hosts.map((h) => h.label)).toEqual(['deploy@10.0.0.1:2201', 'ubuntu@10.0.0.2:22']);
  });

  it.each([
    [{ 'ssh-key': 'k' }, 'Input `hosts`: is empty while `ssh-key` is set'],
    [{ 'host-fingerprints': FP }, 'Input `hosts`: is empty while `host-fingerprints` is set'],
    [{ 'jump-host': 'bastion' }, 'Input `hosts`: is empty while `jump-host` is set'],
  ])('refuses connection inputs %j without hosts, rather than deploying on the runner', (values, message) => {
    expect(() => getInputs(reader(values), run, workspace())).toThrow(message);
  });

  it.each([
    [{ 'ssh-key': '' }, 'Input `ssh-key`'],
    [{ 'ssh-key': 'not a key' }, 'Input `ssh-key`'],
    [{ 'max-parallel': '-1' }, 'Input `max-parallel`'],
    [{ 'host-fingerprints': 'SHA256:short' }, 'Input `host-fingerprints`'],
    [{ 'insecure-skip-host-key-check': 'true', 'host-fingerprints': FP }, 'Input `insecure-skip-host-key-check`: is true while `host-fingerprints` pins host keys'],
  ])('refuses bad connection inputs %j naming the input', (values, message) => {
    const base: Record<string, string> = { hosts: 'h1', upload: 'nginx', 'ssh-key': key };
    expect(() => getInputs(reader({ ...base, ...values }), run, workspace())).toThrow(message);
  });

  it('checks the compose files before the connection inputs', () => {
    const ws = workspace();
    writeFileSync(join(ws, 'docker-compose.yml'), 'services: [\n');
    expect(() => getInputs(reader({ hosts: 'h1', 'ssh-key': 'not a key' }), run, ws)).toThrow(/^Input `compose-files`: docker-compose.yml line/);
  });

  it('refuses, before the connection inputs, an empty compose file and build contexts a host cannot have', () => {
    const ws = workspace();
    writeFileSync(join(ws, 'empty.yml'), '');
    const onHosts = { hosts: 'h1', 'ssh-key': 'not a key', upload: 'nginx' };
    expect(() => getInputs(reader({ ...onHosts, 'compose-files': 'docker-compose.yml\nempty.yml' }), run, ws)).toThrow('Input `compose-files`: empty.yml is empty');
    for (const context of ['/srv/nginx', '${NGINX_DIR}']) {
      writeFileSync(join(ws, 'docker-compose.yml'), `services:\n  wserver:\n    build: ${context}\n`);
      expect(() => getInputs(reader(onHosts), run, ws)).toThrow(/^Input `compose-files`: service wserver builds from /);
      // On the runner, compose finds them itself.
      expect(getInputs(reader({}), run, ws).remote).toBe(false);
    }
  });

  it('makes a compose project name of the repository name', () => {
    expect(normalizeProjectName('My.Web-App_2')).toBe('myweb-app_2');
    expect(normalizeProjectName('-x')).toBe('x');
  });

  it.each([
    [{ 'compose-files': 'missing.yml' }, 'Input `compose-files`: cannot read missing.yml: ENOENT.'],
    [{ 'project-name': 'My App' }, 'Input `project-name`: "My App" is not a compose project name'],
    [{ services: 'my-node, api' }, 'Input `services`: "api" is not a service of docker-compose.yml'],
    [{ images: '\nnginx=x/y:1' }, 'Input `images`: line 2: "nginx" is not a service'],
    [{ images: 'my-node ghcr.io/o/n:1' }, 'Input `images`: line 1: write service=image-ref'],
    [{ images: 'my-node=ghcr.io/O/N:1' }, 'Input `images`: line 1: "O/N" has uppercase letters'],
    [{ images: `my-node=a/b:1\nmy-node=a/b:2` }, 'Input `images`: line 2: my-node is given twice.'],
    [{ upload: 'nope/' }, 'Input `upload`: nope/ does not exist'],
    [{ upload: '../etc' }, 'Input `upload`: ../etc must be a file or directory inside the workspace'],
    [{ hosts: 'h1' }, 'Input `upload`: service wserver is built on the host from nginx/, which is not uploaded: add "nginx/" to `upload`.'],
    [{ hosts: 'h1', upload: 'nginx', 'down-on-exit': 'true' }, 'Input `down-on-exit`: is for runs on the runner'],
    [{ mode: 'swarm' }, 'Input `mode`: swarm stacks cannot build: service wserver has no image'],
    [{ mode: 'k8s' }, 'Input `mode`: "k8s" is not one of: compose, swarm.'],
    [{ pull: 'sometimes' }, 'Input `pull`: "sometimes" is not one of: always, missing, never.'],
    [{ 'wait-timeout': 'soon' }, 'Input `wait-timeout`: "soon" is not a duration'],
    [{ 'env-file': 'none.env' }, 'Input `env-file`: none.env is not a file'],
    [{ env: 'A=1', vars: 'A=2' }, 'Input `vars`: A is also in `env`'],
    [
      { 'registry-password': 'tok', images: 'my-node=ghcr.io/o/node:1', 'compose-files': 'two-registries.yml' },
      'Input `registry`: is not set, and the images come from several registries (ghcr.io, quay.io)',
    ],
  ])('refuses %j naming the input', (values, message) => {
    expect(() => getInputs(reader(values), run, workspace())).toThrow(message);
  });

  it('reports a compose file syntax error with its line', () => {
    const ws = workspace();
    writeFileSync(join(ws, 'docker-compose.yml'), 'services:\n  app:\n    image: "unterminated\n');
    expect(() => getInputs(reader({}), run, ws)).toThrow(/^Input `compose-files`: docker-compose.yml line 4, column 1: unexpected end of the stream/);
  });
});
