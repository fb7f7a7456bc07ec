import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunContext } from '@slipway/core';
import { getInputs, splitWords } from './inputs.js';

const run: RunContext = {
  eventName: 'workflow_dispatch',
  sha: 'abc',
  ref: 'refs/heads/main',
  owner: 'My-Org',
  repo: 'Web_App',
  actor: 'octocat',
  serverUrl: 'https://github.com',
  runId: 7,
  runAttempt: 1,
  workflow: 'deploy',
};
const FP = 'SHA256:YM5uzrYXRF94lPFDSherNITUFDGVX2fIpASmSvVb0BI';
const DIGEST = `sha256:${'a'.repeat(64)}`;
let key = '';
let workspace = '';

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-key-'));
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')]);
  key = readFileSync(join(dir, 'id'), 'utf8');
  workspace = mkdtempSync(join(tmpdir(), 'slipway-ws-'));
  writeFileSync(join(workspace, 'app.env'), 'A=from-file\nB=file\n');
});

const reader = (values: Record<string, string>) => (name: string) => values[name] ?? '';
const base = () => ({ hosts: '10.0.0.1', 'ssh-key': key, 'host-fingerprints': FP, image: `ghcr.io/my-org/web@${DIGEST}` });

describe('inputs', () => {
  it('reads a deployment with its defaults: repository name, unless-stopped, 60s, 5 releases, 10m lock wait', () => {
    const inputs = getInputs(reader(base()), run, workspace);
    expect(inputs).toMatchObject({
      mode: 'deploy',
      imageText: `ghcr.io/my-org/web@${DIGEST}`,
      registryAuth: undefined,
      container: { name: 'web_app', ports: [], volumes: [], restart: 'unless-stopped', runArgs: [], network: undefined },
      health: { kind: 'auto' },
      healthTimeoutMs: 60_000,
      keepReleases: 5,
      lockTimeoutMs: 600_000,
    });
    expect(inputs.connection.hosts[0].label).toBe('ec2-user@10.0.0.1:22');
  });

  it('reads every deploy input; env wins over env-file; the password and env values are secrets', () => {
    const inputs = getInputs(
      reader({
        ...base(),
        image: 'ghcr.io/my-org/web',
        'registry-username': 'octocat',
        'registry-password': 'ghp_token',
        name: 'web',
        ports: '8080:80, 127.0.0.1:9090:9090/udp',
        env: 'A=from-env\nC=x y',
        'env-file': 'app.env',
        volumes: 'data:/var/lib/app\n/srv/conf:/conf:ro',
        network: 'backend',
        restart: 'on-failure:3',
        'run-args': `--init --memory 512m --label "team=web ops" --entrypoint=''`,
        'health-url': 'http://127.0.0.1:8080/health',
        'health-timeout': '2m',
        'keep-releases': '2',
        'lock-timeout': '30s',
      }),
      run,
      workspace,
    );
    expect(inputs.imageText).toBe('ghcr.io/my-org/web:latest');
    expect(inputs.registryAuth).toEqual({ username: 'octocat', password: 'ghp_token' });
    expect([...inputs.container.env]).toEqual([
      ['A', 'from-env'],
      ['B', 'file'],
      ['C', 'x y'],
    ]);
    expect(inputs.container).toMatchObject({
      name: 'web',
      ports: ['8080:80', '127.0.0.1:9090:9090/udp'],
      volumes: ['data:/var/lib/app', '/srv/conf:/conf:ro'],
      network: 'backend',
      restart: 'on-failure:3',
      runArgs: ['--init', '--memory', '512m', '--label', 'team=web ops', '--entrypoint='],
    });
    expect(inputs.health).toEqual({ kind: 'url', url: 'http://127.0.0.1:8080/health' });
    expect(inputs).toMatchObject({ healthTimeoutMs: 120_000, keepReleases: 2, lockTimeoutMs: 30_000 });
    expect(inputs.secrets).toEqual(expect.arrayContaining(['ghp_token', 'from-env', key]));
  });

  it('hands `vars` to the container and the script like `env`, without masking them', () => {
    const inputs = getInputs(reader({ ...base(), image: '', script: 'echo $PORT', env: 'TOKEN=s3cr3t', vars: 'PORT=2221' }), run, workspace);
    expect([...inputs.container.env]).toEqual([
      ['TOKEN', 's3cr3t'],
      ['PORT', '2221'],
    ]);
    expect([...inputs.vars]).toEqual([['PORT', '2221']]);
    expect(inputs.secrets).toContain('s3cr3t');
    expect(inputs.secrets).not.toContain('2221');
  });

  it('knows rollback and script modes', () => {
    expect(getInputs(reader({ ...base(), image: '', rollback: 'true' }), run, workspace).mode).toBe('rollback');
    const script = getInputs(reader({ ...base(), image: '', script: 'docker ps', env: 'X=1' }), run, workspace);
    expect(script).toMatchObject({ mode: 'script', script: 'docker ps' });
  });

  it.each([
    [{ image: '' }, 'Input `image`: is empty'],
    [{ image: 'ghcr.io/My-Org/web:v1' }, 'Input `image`: "My-Org/web" has uppercase letters'],
    [{ script: 'echo hi' }, 'Input `script`: and `image` are both set'],
    [{ rollback: 'true' }, 'Input `rollback`: is true while `image` is set'],
    [{ image: '', script: 'x', rollback: 'true' }, 'Input `rollback`: is true while `script` is set'],
    [{ image: '', script: 'x', env: 'MY-VAR=1' }, 'Input `env`: MY-VAR is not a shell variable name'],
    [{ env: 'no equals' }, 'Input `env`: line 1 has no "="'],
    [{ env: 'PORT=1', vars: 'PORT=2' }, 'Input `vars`: PORT is also in `env`'],
    [{ image: '', script: 'x', vars: 'MY-VAR=1' }, 'Input `vars`: MY-VAR is not a shell variable name'],
    [{ 'env-file': 'missing.env' }, 'Input `env-file`:'],
    [{ name: '-bad' }, 'Input `name`'],
    [{ ports: '80:eighty' }, 'Input `ports`'],
    [{ volumes: 'data' }, 'Input `volumes`'],
    [{ volumes: '../../etc:/x' }, 'Input `volumes`: "../../etc:/x": ../../etc is neither a volume name'],
    [{ volumes: './data:/data' }, 'Input `volumes`: "./data:/data": ./data is neither a volume name'],
    [{ volumes: '~/data:/data' }, 'Input `volumes`: "~/data:/data": ~/data is neither a volume name'],
    [{ volumes: '/srv/../etc:/x:ro' }, 'Input `volumes`: "/srv/../etc:/x:ro": the host path /srv/../etc has a ".." part'],
    [{ restart: 'sometimes' }, 'Input `restart`'],
    [{ 'run-args': '--name other' }, 'Input `run-args`: --name is set by the action itself'],
    [{ 'run-args': '--label "open' }, 'Input `run-args`: has an unclosed " quote'],
    [{ 'health-cmd': 'true', 'health-url': 'http://x' }, 'Input `health-cmd`: and `health-url` are both set'],
    [{ 'health-url': 'ftp://x' }, 'Input `health-url`'],
    [{ 'health-timeout': '1 minute' }, 'Input `health-timeout`'],
    [{ 'keep-releases': '0' }, 'Input `keep-releases`'],
    [{ 'registry-password': 'p', 'registry-username': '' }, 'Input `registry-username`'],
    [{ hosts: 'a,,b c' }, 'Input `hosts`'],
    [{ 'connect-timeout': '10 seconds' }, 'Input `connect-timeout`'],
  ])('refuses %j naming the input', (values, message) => {
    expect(() => getInputs(reader({ ...base(), ...values }), run, workspace)).toThrow(message);
  });

  it('splits run-args like a shell, without expanding anything', () => {
    expect(splitWords('run-args', `a 'b c' "d \\"e\\" $HOME" f\\ g\n--x=$(id)`)).toEqual(['a', 'b c', 'd "e" $HOME', 'f g', '--x=$(id)']);
    expect(splitWords('run-args', '  ')).toEqual([]);
  });

  describe('proxy mode', () => {
    const proxy = (extra: Record<string, string>) => getInputs(reader({ ...base(), ...extra }), run, workspace);

    it("is off without proxy-port, and on with it: caddy:2, 30s drain, the image's port, no pre-deploy", () => {
      expect(proxy({}).proxy).toBeUndefined();
      expect(proxy({ 'proxy-port': '80\n127.0.0.1:18080' }).proxy).toEqual({
        ports: ['80', '127.0.0.1:18080'],
        image: 'caddy:2',
        domain: undefined,
        appPort: undefined,
        drainTimeoutMs: 30_000,
        preDeploy: undefined,
      });
    });

    it('reads app-port, proxy-image, domain, drain-timeout and pre-deploy (split into words, no shell)', () => {
      const inputs = proxy({
        'proxy-port': '80, 443',
        'app-port': '3000',
        'proxy-image': 'ghcr.io/my-org/caddy:2.8',
        domain: 'app.example.com',
        'drain-timeout': '2m',
        'pre-deploy': `./migrate up --to "release 7" $HOME`,
        'health-url': '/health',
      });
      expect(inputs.proxy).toEqual({
        ports: ['80', '443'],
        image: 'ghcr.io/my-org/caddy:2.8',
        domain: 'app.example.com',
        appPort: 3000,
        drainTimeoutMs: 120_000,
        preDeploy: ['./migrate', 'up', '--to', 'release 7', '$HOME'],
      });
      // A path is enough in proxy mode: the release is asked at its own address.
      expect(inputs.health).toEqual({ kind: 'url', url: '/health' });
    });

    it.each([
      [{ 'proxy-port': '80', ports: '8080:80' }, 'ports', /and `proxy-port` are both set/],
      [{ 'proxy-port': '80:8080' }, 'proxy-port', /"80:8080" is not a proxy port: write \[ip:\]port/],
      [{ 'proxy-port': '70000' }, 'proxy-port', /"70000" is not a proxy port/],
      [{ 'proxy-port': 'localhost:80' }, 'proxy-port', /is not a proxy port/],
      [{ 'proxy-port': '80', 'app-port': 'http' }, 'app-port', /expected a whole number/],
      [{ 'proxy-port': '80', 'app-port': '0' }, 'app-port', /between 1 and 65535/],
      [{ 'proxy-port': '80', 'drain-timeout': 'soon' }, 'drain-timeout', /not a duration/],
      [{ 'proxy-port': '80', 'proxy-image': 'Not An Image' }, 'proxy-image', /./],
      [{ 'proxy-port': '80', domain: 'https://app.example.com' }, 'domain', /is not a domain name/],
      [{ 'proxy-port': '80', 'pre-deploy': `sh -c 'echo` }, 'pre-deploy', /unclosed ' quote/],
      [{ 'app-port': '3000' }, 'app-port', /is set while `proxy-port` is empty/],
      [{ 'pre-deploy': './migrate' }, 'pre-deploy', /is set while `proxy-port` is empty/],
      [{ domain: 'app.example.com' }, 'domain', /is set while `proxy-port` is empty/],
      [{ 'health-url': '/health' }, 'health-url', /is not an http\(s\) URL\.$/],
    ])('refuses %j, naming %s', (extra, input, message) => {
      let error: (Error & { input?: string }) | undefined;
      try {
        proxy(extra);
      } catch (caught) {
        error = caught as Error & { input?: string };
      }
      expect(error?.input).toBe(input);
      expect(error?.message).toMatch(message);
    });
  });
});
