import { describe, expect, it } from '@jest/globals';
import { DockerCli, RegistrySession, isAuthError, isTransientRegistryError } from './docker.js';
import { ScriptedShell } from './testing/scripted-shell.js';

const digest = `sha256:${'b'.repeat(64)}`;

describe('docker', () => {
  it('picks buildx when the plugin answers, else the classic builder', async () => {
    const withPlugin = new ScriptedShell();
    withPlugin.on(['docker', 'buildx', 'version'], { stdout: 'github.com/docker/buildx v0.12.1\n' });
    expect(await new DockerCli(withPlugin).detectBuilder()).toBe('buildx');
    const without = new ScriptedShell();
    without.on(['docker', 'buildx', 'version'], { exitCode: 1, stderr: "docker: 'buildx' is not a docker command.\n" });
    expect(await new DockerCli(without).detectBuilder()).toBe('legacy');
  });

  it('builds with the classic builder from an argument array, labels and build args as single arguments', async () => {
    const shell = new ScriptedShell();
    shell.on({ prefix: ['docker', 'build'] });
    await new DockerCli(shell).build('legacy', {
      context: '/w/app',
      file: '/w/app/Dockerfile',
      target: 'prod',
      tags: ['r/o/app:main', 'r/o/app:sha-1234567'],
      labels: new Map([['org.opencontainers.image.title', 'my app; $(x)']]),
      buildArgs: new Map([['NODE_ENV', 'production']]),
      platforms: [],
      cache: 'gha',
      noCache: true,
      pull: true,
      push: true,
    });
    const [command] = shell.commands;
    expect(command.args).toEqual([
      'docker',
      'build',
      '--file',
      '/w/app/Dockerfile',
      '--target',
      'prod',
      '--tag',
      'r/o/app:main',
      '--tag',
      'r/o/app:sha-1234567',
      '--label',
      'org.opencontainers.image.title=my app; $(x)',
      '--build-arg',
      'NODE_ENV=production',
      '--no-cache',
      '--pull',
      '/w/app',
    ]);
    expect(command.env).toEqual({ DOCKER_BUILDKIT: '0' });
  });

  it('builds and pushes in one go with buildx, with platforms and cache', async () => {
    const shell = new ScriptedShell();
    shell.on({ prefix: ['docker', 'buildx', 'build'] });
    await new DockerCli(shell).build(
      'buildx',
      {
        context: '.',
        file: 'Dockerfile',
        tags: ['r/o/app:v1'],
        labels: new Map(),
        buildArgs: new Map(),
        platforms: ['linux/amd64', 'linux/arm64'],
        cache: 'registry',
        cacheRef: 'r/o/app:buildcache',
        noCache: false,
        pull: false,
        push: true,
      },
      '/tmp/meta.json',
    );
    expect(shell.commands[0].args).toEqual([
      'docker',
      'buildx',
      'build',
      '--file',
      'Dockerfile',
      '--tag',
      'r/o/app:v1',
      '--platform',
      'linux/amd64,linux/arm64',
      '--cache-from',
      'type=registry,ref=r/o/app:buildcache',
      '--cache-to',
      'type=registry,ref=r/o/app:buildcache,mode=max',
      '--push',
      '--metadata-file',
      '/tmp/meta.json',
      '.',
    ]);
  });

  it('pushes, trying again after a transient registry error, and returns the digest', async () => {
    const shell = new ScriptedShell();
    const push = shell.on(['docker', 'push', 'r/o/app:v1'], [{ exitCode: 1, stderr: 'received unexpected HTTP status: 503 Service Unavailable' }, { stdout: `v1: digest: ${digest} size: 527\n` }]);
    expect(await new DockerCli(shell).push('r/o/app:v1')).toBe(digest);
    expect(push.calls).toBe(2);
  }, 10_000);

  it('does not try again when the registry refuses the credentials', async () => {
    const shell = new ScriptedShell();
    shell.on(['docker', 'push', 'r/o/app:v1'], { exitCode: 1, stderr: 'unauthorized: authentication required' });
    await expect(new DockerCli(shell).push('r/o/app:v1')).rejects.toThrow('unauthorized');
    expect(shell.commands).toHaveLength(1);
  });

  it('tells transient errors from refusals', () => {
    expect(isTransientRegistryError('Get "http://r/v2/": net/http: TLS handshake timeout')).toBe(true);
    expect(isTransientRegistryError('error parsing HTTP 429 response body')).toBe(true);
    expect(isTransientRegistryError('read: connection reset by peer')).toBe(true);
    expect(isTransientRegistryError('denied: permission_denied: write_package')).toBe(false);
    expect(isAuthError('Error response from daemon: login attempt to http://127.0.0.1:5000/v2/ failed with status: 401 Unauthorized')).toBe(true);
  });

  it('logs in with the password on stdin only, into its own config directory, and removes it', async () => {
    const shell = new ScriptedShell({ target: 'fake' });
    shell.on({ prefix: ['mktemp'] }, { stdout: '/tmp/slipway-docker-abc\n' });
    shell.on({ prefix: ['docker', 'login'] }, { stdout: 'Login Succeeded\n' });
    shell.on({ prefix: ['rm'] });
    const session = await RegistrySession.open(new DockerCli(shell), { registry: 'ghcr.io', username: 'me', password: 's3cret', inputs: ['username', 'password'], access: 'push' });
    const login = shell.commands[1];
    expect(login.args).toEqual(['docker', 'login', '--username', 'me', '--password-stdin', 'ghcr.io']);
    expect(login.stdin).toBe('s3cret');
    expect(login.env).toEqual({ DOCKER_CONFIG: '/tmp/slipway-docker-abc' });
    await session.close();
    expect(shell.commands[2].args).toEqual(['rm', '-rf', '/tmp/slipway-docker-abc']);
  });

  it('names the inputs when the registry refuses the credentials, and leaves no config behind', async () => {
    const shell = new ScriptedShell({ target: 'fake' });
    shell.on({ prefix: ['mktemp'] }, { stdout: '/tmp/d\n' });
    shell.on({ prefix: ['docker', 'login'] }, { exitCode: 1, stderr: 'Error: 401 Unauthorized' });
    shell.on({ prefix: ['rm'] });
    await expect(
      RegistrySession.open(new DockerCli(shell), { registry: 'ghcr.io', username: 'me', password: 'x', inputs: ['registry-username', 'registry-password'], access: 'pull' }),
    ).rejects.toThrow(
      'ghcr.io refused the credentials on fake: check the `registry-username` and `registry-password` inputs ' +
        "(for GHCR, a token allowed to read packages (read:packages), e.g. the workflow's GITHUB_TOKEN with `permissions: packages: read`).",
    );
    expect(shell.commands.at(-1)?.args).toEqual(['rm', '-rf', '/tmp/d']);
    await expect(RegistrySession.open(new DockerCli(shell), { registry: 'ghcr.io', username: 'me', password: 'x', inputs: ['username', 'password'], access: 'push' })).rejects.toThrow(
      '`permissions: packages: write`',
    );
  });
});
