import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunContext } from '@slipway/core';
import { getInputs } from './inputs.js';

const run: RunContext = {
  eventName: 'push',
  sha: 'abc1234def',
  ref: 'refs/heads/main',
  defaultBranch: 'main',
  owner: 'My-Org',
  repo: 'Web-App',
  actor: 'octocat',
  serverUrl: 'https://github.com',
  runId: 1,
  runAttempt: 1,
  workflow: 'ci',
};

function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-ws-'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
  mkdirSync(join(dir, 'api'));
  writeFileSync(join(dir, 'api', 'Containerfile'), 'FROM scratch\n');
  return dir;
}

const reader = (values: Record<string, string>) => (name: string) => values[name] ?? '';

describe('inputs', () => {
  it('defaults to ghcr.io/<owner>/<repo> lowercased, the actor, and ./Dockerfile', () => {
    const ws = workspace();
    const inputs = getInputs(reader({ password: 'token' }), run, ws);
    expect(inputs.image).toEqual({ registry: 'ghcr.io', repository: 'my-org/web-app' });
    expect(inputs.imageLowercased).toBe(true);
    expect(inputs.registry).toBe('ghcr.io');
    expect(inputs.username).toBe('octocat');
    expect(inputs.file).toBe(join(ws, 'Dockerfile'));
    expect(inputs).toMatchObject({ push: true, noCache: false, pull: false, cache: 'none', platforms: [] });
    expect(inputs.tags).toEqual(['ghcr.io/my-org/web-app:main', 'ghcr.io/my-org/web-app:latest', 'ghcr.io/my-org/web-app:sha-abc1234']);
    expect(inputs.pushedRepository).toBe('ghcr.io/my-org/web-app');
  });

  it('reads every input', () => {
    const ws = workspace();
    const inputs = getInputs(
      reader({
        image: '127.0.0.1:5000/team/api',
        registry: '127.0.0.1:5000',
        username: 'ci',
        password: 'p',
        context: 'api',
        file: 'api/Containerfile',
        target: 'prod',
        'build-args': 'A=1\nB=2',
        labels: 'org.opencontainers.image.title=API',
        tags: 'v1\n127.0.0.1:5000/team/api:stable',
        platforms: 'linux/amd64, linux/arm64',
        cache: 'gha',
        push: 'false',
        'no-cache': 'true',
        pull: 'true',
      }),
      run,
      ws,
    );
    expect(inputs).toMatchObject({
      image: { registry: '127.0.0.1:5000', repository: 'team/api' },
      context: join(ws, 'api'),
      file: join(ws, 'api/Containerfile'),
      target: 'prod',
      tags: ['127.0.0.1:5000/team/api:v1', '127.0.0.1:5000/team/api:stable'],
      platforms: ['linux/amd64', 'linux/arm64'],
      cache: 'gha',
      push: false,
      noCache: true,
      pull: true,
    });
    expect([...inputs.buildArgs]).toEqual([
      ['A', '1'],
      ['B', '2'],
    ]);
    expect([...inputs.labels]).toEqual([['org.opencontainers.image.title', 'API']]);
  });

  it('puts the default image on the registry given, so it pushes where it logs in', () => {
    const inputs = getInputs(reader({ registry: '10.0.0.1:5000', password: 'p' }), run, workspace());
    expect(inputs.registry).toBe('10.0.0.1:5000');
    expect(inputs.image).toEqual({ registry: '10.0.0.1:5000', repository: 'my-org/web-app' });
    expect(inputs.tags.every((tag) => tag.startsWith('10.0.0.1:5000/my-org/web-app:'))).toBe(true);
  });

  it('refuses to log in to one registry and push to another', () => {
    expect(() => getInputs(reader({ registry: '10.0.0.1:5000', image: 'ghcr.io/o/app', password: 'p' }), run, workspace())).toThrow(
      'Input `registry`: is 10.0.0.1:5000, but ghcr.io/o/app is pushed to ghcr.io',
    );
    expect(() => getInputs(reader({ image: 'ghcr.io/o/app', tags: 'v1\nquay.io/o/app:v1', password: 'p' }), run, workspace())).toThrow(
      "Input `tags`: quay.io/o/app is on quay.io, but the login is for the image's registry, ghcr.io",
    );
    expect(() => getInputs(reader({ registry: 'ghcr.io', image: 'ghcr.io/o/app', tags: 'quay.io/o/app:v1', cache: 'registry', password: 'p' }), run, workspace())).toThrow('Input `registry`');
    // Without a push there is no login.
    expect(getInputs(reader({ registry: '10.0.0.1:5000', image: 'ghcr.io/o/app', push: 'false' }), run, workspace()).push).toBe(false);
  });

  it('takes a tag given with the image as the tag to push', () => {
    expect(getInputs(reader({ image: 'ghcr.io/o/app:edge', password: 'p' }), run, workspace()).tags).toEqual(['ghcr.io/o/app:edge']);
  });

  it('names the repository of the first tag as the one pushed to, which `tags` may move away from `image`', () => {
    const inputs = getInputs(reader({ image: 'ghcr.io/o/app', tags: 'ghcr.io/o/other:v1\nv2', password: 'p' }), run, workspace());
    expect(inputs.tags).toEqual(['ghcr.io/o/other:v1', 'ghcr.io/o/app:v2']);
    expect(inputs.pushedRepository).toBe('ghcr.io/o/other');
  });

  it('asks for `tags` when the run gives nothing to derive them from', () => {
    const outsideGitHub: RunContext = { ...run, eventName: '', ref: '', sha: '' };
    expect(() => getInputs(reader({ image: 'ghcr.io/o/app', password: 'p' }), outsideGitHub, workspace())).toThrow(
      'Input `tags`: is empty and no tag can be derived from the run (no GITHUB_REF or GITHUB_SHA, as outside GitHub): give `tags`, e.g. v1.',
    );
    expect(getInputs(reader({ image: 'ghcr.io/o/app', tags: 'v1', password: 'p' }), outsideGitHub, workspace()).tags).toEqual(['ghcr.io/o/app:v1']);
  });

  it.each([
    [{ image: 'ghcr.io/o/app name' }, 'Input `image`: "ghcr.io/o/app name" contains white space.'],
    [{ image: `ghcr.io/o/app@sha256:${'a'.repeat(64)}` }, 'Input `image`: names a digest'],
    [{ cache: 's3' }, 'Input `cache`: "s3" is not one of: none, gha, registry, inline.'],
    [{ context: 'missing' }, 'Input `context`: directory'],
    [{ file: 'nope/Dockerfile' }, 'Input `file`:'],
    [{ tags: 'has space' }, 'Input `tags`'],
    [{ 'build-args': 'NOEQUALS' }, 'Input `build-args`: line 1 has no "="'],
    [{ push: 'maybe' }, 'Input `push`: expected true or false'],
    [{ password: '' }, 'Input `password`: is empty'],
  ])('refuses %j naming the input', (values, message) => {
    expect(() => getInputs(reader({ password: 'p', ...values }), run, workspace())).toThrow(message);
  });

  it('needs no password when it does not push', () => {
    expect(getInputs(reader({ push: 'false' }), run, workspace()).push).toBe(false);
  });
});
