/**
 * build-push end to end: the committed bundle, run as the runner runs it, builds with the classic
 * docker builder and pushes to the sandbox's authenticated registry; a sandbox host then pulls the
 * result by digest from its own engine.
 */
import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArgvWatcher } from './support/argv-watch.js';
import { docker, exec, mustExec } from './support/exec.js';
import { filesContaining } from './support/files.js';
import { repoRoot, runAction } from './support/run-action.js';
import { loadSandbox, type Sandbox } from './support/sandbox.js';

// Builds and pushes against real daemons: seconds each, more on a busy machine.
jest.setTimeout(120_000);

let sandbox: Sandbox;
let workspace: string;

/** The registry's own answer: which tags a repository has (basic auth, as docker uses it). */
function registryTags(repository: string): string[] {
  const { host, username, password } = sandbox.registry;
  const body = mustExec(['curl', '-fsS', '--cacert', sandbox.registry.caCert, '-u', `${username}:${password}`, `https://${host}/v2/${repository}/tags/list`]);
  return (JSON.parse(body) as { tags: string[] }).tags.sort();
}

beforeAll(() => {
  sandbox = loadSandbox();
  workspace = mkdtempSync(join(tmpdir(), 'slipway-ws-'));
  cpSync(join(repoRoot, 'test/fixtures/hello-app'), workspace, { recursive: true });
});

function push(options: { inputs?: Record<string, string>; context?: Record<string, unknown>; env?: Record<string, string> } = {}) {
  return runAction('build-push', {
    cwd: workspace,
    inputs: { registry: sandbox.registry.host, username: sandbox.registry.username, ...options.inputs },
    context: { token: sandbox.registry.password, ...options.context },
    env: options.env,
  });
}

describe('build-push', () => {
  it('pushes an image with automatic tags, lowercasing an uppercase owner, and a host pulls it by digest', async () => {
    const home = mkdtempSync(join(tmpdir(), 'slipway-home-'));
    const watcher = new ArgvWatcher().start();
    const result = await push({
      inputs: { image: `${sandbox.registry.host}/Slipway-Tests/Hello-App` },
      context: { repository: 'Slipway-Tests/Hello-App', ref: 'refs/heads/main', payload: { repository: { default_branch: 'main' } } },
      env: { HOME: home },
    });
    watcher.stop();
    expect(result.errors).toEqual([]);
    expect(result.exitCode).toBe(0);

    const image = `${sandbox.registry.host}/slipway-tests/hello-app`;
    expect(result.log).toContain(`Image name lowercased to ${image}`);
    expect(result.outputs.image).toBe(image);
    expect(result.outputs.tags.split('\n')).toEqual([`${image}:main`, `${image}:latest`, `${image}:sha-5e1f4c0`]);
    expect(result.outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(result.outputs['image-ref']).toBe(`${image}@${result.outputs.digest}`);
    expect(result.outputs.labels).toContain('org.opencontainers.image.source=https://github.com/Slipway-Tests/Hello-App');
    expect(result.outputs.labels).toContain('org.opencontainers.image.revision=5e1f4c0ffee0ddba11ad5eed1e55c0dec0de0001');
    expect(registryTags('slipway-tests/hello-app')).toEqual(['latest', 'main', 'sha-5e1f4c0']);
    expect(result.summary).toContain(result.outputs.digest);
    expect(result.summary).toMatch(/Build time/);

    // The token: masked, and never in the log, any process's argv, or a docker config left behind.
    const token = sandbox.registry.password;
    expect(result.masked).toContain(token);
    expect(result.log).not.toContain(token);
    expect(result.raw.replace(/^::add-mask::.*$/gm, '')).not.toContain(token);
    expect(watcher.count).toBeGreaterThan(10);
    expect(watcher.containing(token)).toEqual([]);
    const configDir = result.state['docker-config-dir'];
    expect(configDir).toBeTruthy();
    expect(existsSync(configDir)).toBe(false);
    const post = await runAction('build-push', { cwd: workspace, state: result.state, env: { HOME: home }, context: { token } });
    expect(post.exitCode).toBe(0);
    expect(existsSync(join(home, '.docker/config.json'))).toBe(false);
    expect(filesContaining(home, token)).toEqual([]);
    expect(filesContaining(configDir, token)).toEqual([]);

    // The host's engine has never seen the image; it pulls it by the immutable reference.
    const host = sandbox.hosts[0];
    const imageRef = result.outputs['image-ref'];
    expect(docker(host.dockerHost, 'image', 'inspect', imageRef).status).not.toBe(0);
    const hostConfig = mkdtempSync(join(tmpdir(), 'slipway-host-docker-'));
    mustExec(['docker', '-H', host.dockerHost, 'login', '-u', sandbox.registry.username, '--password-stdin', sandbox.registry.host], {
      input: token,
      env: { DOCKER_CONFIG: hostConfig },
    });
    mustExec(['docker', '-H', host.dockerHost, 'pull', imageRef], { env: { DOCKER_CONFIG: hostConfig } });
    const labels = JSON.parse(mustExec(['docker', '-H', host.dockerHost, 'image', 'inspect', '--format', '{{json .Config.Labels}}', imageRef])) as Record<string, string>;
    expect(labels['org.opencontainers.image.source']).toBe('https://github.com/Slipway-Tests/Hello-App');
    expect(labels['org.opencontainers.image.version']).toBe('main');
    docker(host.dockerHost, 'image', 'rm', imageRef);
  });

  it('tags a vX.Y.Z release with its semver parts and latest, and passes build args', async () => {
    const result = await push({
      inputs: { image: `${sandbox.registry.host}/slipway-tests/release-app`, 'build-args': 'GREETING=from a release' },
      context: { ref: 'refs/tags/v1.4.2', eventName: 'push' },
    });
    expect(result.errors).toEqual([]);
    expect(registryTags('slipway-tests/release-app')).toEqual(['1', '1.4', '1.4.2', 'latest', 'sha-5e1f4c0']);
    const greeting = mustExec(['docker', 'run', '--rm', `${sandbox.registry.host}/slipway-tests/release-app:1.4.2`, 'cat', '/www/greeting.txt']);
    expect(greeting).toBe('from a release');
  });

  it('names in image-ref the repository the digest was pushed to when tags put it in another one, and a host pulls that', async () => {
    const other = `${sandbox.registry.host}/slipway-tests/other-repo`;
    const result = await push({ inputs: { image: `${sandbox.registry.host}/slipway-tests/hello-app`, tags: `${other}:v9` } });
    expect(result.errors).toEqual([]);
    expect(registryTags('slipway-tests/other-repo')).toEqual(['v9']);
    expect(result.outputs.image).toBe(other);
    expect(result.outputs['image-ref']).toBe(`${other}@${result.outputs.digest}`);
    // The registry answers for that reference: a host pulls it exactly as given.
    const host = sandbox.hosts[0];
    const hostConfig = mkdtempSync(join(tmpdir(), 'slipway-host-docker-'));
    try {
      const env = { DOCKER_CONFIG: hostConfig };
      mustExec(['docker', '-H', host.dockerHost, 'login', '-u', sandbox.registry.username, '--password-stdin', sandbox.registry.host], { input: sandbox.registry.password, env });
      mustExec(['docker', '-H', host.dockerHost, 'pull', result.outputs['image-ref']], { env });
    } finally {
      rmSync(hostConfig, { recursive: true, force: true });
      docker(host.dockerHost, 'image', 'rm', result.outputs['image-ref']);
    }
  });

  it('builds without pushing when push is false, needing no credentials', async () => {
    const result = await push({ inputs: { image: `${sandbox.registry.host}/slipway-tests/local-only`, tags: 'dev', push: 'false', password: '' } });
    expect(result.errors).toEqual([]);
    expect(result.outputs).toMatchObject({ digest: '', 'image-ref': '', tags: `${sandbox.registry.host}/slipway-tests/local-only:dev` });
    expect(docker(sandbox.runnerDockerHost, 'image', 'inspect', `${sandbox.registry.host}/slipway-tests/local-only:dev`).status).toBe(0);
  });

  it('fails with a clear message on a wrong password, before building', async () => {
    const result = await push({ inputs: { image: `${sandbox.registry.host}/slipway-tests/wrong-password`, password: 'not-the-password' } });
    expect(result.exitCode).toBe(1);
    expect(result.errors.join('\n')).toContain(`${sandbox.registry.host} refused the credentials on runner: check the \`username\` and \`password\` inputs`);
    expect(result.log).not.toContain('::group::Build');
    expect(result.log).not.toContain('not-the-password');
  });

  it.each([
    [{ image: `127.0.0.1:5000/o/bad image` }, 'Input `image`'],
    [{ image: `127.0.0.1:5000/o/-bad` }, 'Input `image`'],
    [{ cache: 'floppy' }, 'Input `cache`: "floppy" is not one of'],
    [{ file: 'no/Dockerfile' }, 'Input `file`'],
    [{ context: 'no-such-dir' }, 'Input `context`'],
    [{ platforms: 'linux/arm64' }, 'Input `platforms`: needs docker buildx'],
    [{ 'build-args': 'oops' }, 'Input `build-args`'],
  ])('refuses %j naming the input, before any build', async (inputs, message) => {
    const image = `${sandbox.registry.host}/slipway-tests/never-built`;
    const result = await push({ inputs: { image, ...inputs } });
    expect(result.exitCode).toBe(1);
    expect(result.errors.join('\n')).toContain(message);
    expect(result.log).not.toContain('::group::');
    expect(exec(['docker', 'image', 'ls', '-q', image]).stdout.trim()).toBe('');
  });
});
