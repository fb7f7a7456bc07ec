/**
 * A run cancelled as GitHub cancels one (SIGINT to the step, SIGTERM 7.5 s later, then SIGKILL),
 * at each phase of a deployment, for ec2-deploy and compose-up: the post step that follows (with
 * the state main saved) removes every credential file the run made on the host, releases the
 * deploy lock, and leaves the host serving; the next deployment then succeeds.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { composeWorkspace, pushAppImage as pushComposeApp, removeComposeProject } from './support/compose-app.js';
import { connectionInputs, deploymentDir, ec2Deploy, pushAppImage, removeDeploymentDir, served, type AppImage } from './support/ec2-deploy.js';
import { docker } from './support/exec.js';
import { runAction, type ActionResult, type RunOptions } from './support/run-action.js';
import { loadSandbox, type Sandbox, type SandboxHost } from './support/sandbox.js';

jest.setTimeout(300_000);

const name = 'slipway-e2e-cancel';
const project = 'slipway-e2e-cancel';
let sandbox: Sandbox;
let host: SandboxHost;

/** Files of a run that hold a secret, in the directory beside its lock: a registry login's DOCKER_CONFIG, an env file. */
function secretFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('slipway-docker-') || f.startsWith('env-')) : [];
}

function expectCancelled(run: ActionResult): void {
  expect(run.exitCode).not.toBe(0);
  // What main saved for the post step: the lock it held when it was cut off.
  expect((JSON.parse(run.state['deploy-locks'] ?? '{"locks":[]}') as { locks: unknown[] }).locks).toHaveLength(1);
}

beforeAll(() => {
  sandbox = loadSandbox();
  host = sandbox.hosts[0];
});

describe('ec2-deploy cancelled at each phase', () => {
  const dir = () => deploymentDir(host, name);
  let images: { v1: AppImage; v2: AppImage };
  const inputs = (image: AppImage, extra: Record<string, string> = {}) => ({
    ...connectionInputs(sandbox, [host]),
    image: image.ref,
    name,
    ports: '8090:8080',
    'run-args': '--init',
    env: 'API_TOKEN=not-a-real-secret',
    'registry-username': sandbox.registry.username,
    'registry-password': sandbox.registry.password,
    ...extra,
  });

  beforeAll(() => {
    images = { v1: pushAppImage(sandbox, 'cancel-v1', 'cancel v1', { healthcheck: true }), v2: pushAppImage(sandbox, 'cancel-v2', 'cancel v2') };
  }, 120_000);

  afterAll(() => {
    docker(host.dockerHost, 'rm', '-f', name, `${name}-slipway-previous`);
    removeDeploymentDir(host, name);
  });

  const phases: [string, RunOptions['cancelOn'], Record<string, string>][] = [
    ['lock', { output: /Deploy lock taken/ }, {}],
    ['login and pull', { output: /Pulling / }, {}],
    ['start', { output: /Starting / }, {}],
    ['health wait', { output: /Starting /, afterMs: 3_000 }, { 'health-cmd': 'false', 'health-timeout': '10m' }],
    ['commit', { output: /Healthy: / }, {}],
  ];

  it.each(phases)('during %s: the post step removes the credential and env files and releases the lock', async (_phase, cancelOn, extra) => {
    const first = await ec2Deploy(inputs(images.v1));
    expect(first.errors).toEqual([]);

    const cancelled = await ec2Deploy(inputs(images.v2, extra), { cancelOn });
    expectCancelled(cancelled);

    const post = await ec2Deploy(inputs(images.v2, extra), { state: cancelled.state });
    expect(post.errors).toEqual([]);
    expect(post.log).toContain('deploy lock released.');
    expect(secretFiles(dir())).toEqual([]);
    expect(existsSync(join(dir(), 'deploy.lock'))).toBe(false);
    // Whichever release the cut left running, the host serves, and the next deployment goes through.
    expect(['cancel v1', 'cancel v2']).toContain(served(host, name));
    const next = await ec2Deploy(inputs(images.v2));
    expect(next.errors).toEqual([]);
    expect(served(host, name)).toBe('cancel v2');
  });
});

describe('compose-up cancelled at each phase', () => {
  const base = () => deploymentDir(host, project);
  let workspace: string;
  let images: { v1: string; v2: string };
  const deploy = (image: string, options: Pick<RunOptions, 'cancelOn' | 'state'> = {}) =>
    runAction('compose-up', {
      cwd: workspace,
      inputs: {
        ...connectionInputs(sandbox, [host]),
        'registry-username': sandbox.registry.username,
        'registry-password': sandbox.registry.password,
        'project-name': project,
        upload: 'proxy/',
        images: `app=${image}`,
        env: 'GREETING=cancelled',
        'wait-timeout': '60s',
      },
      timeoutMs: 240_000,
      ...options,
    });

  beforeAll(() => {
    images = { v1: pushComposeApp(sandbox, 'cancel-v1', 'compose cancel v1'), v2: pushComposeApp(sandbox, 'cancel-v2', 'compose cancel v2') };
    workspace = composeWorkspace(sandbox);
  }, 180_000);

  afterAll(() => {
    removeComposeProject(host, project);
    rmSync(workspace, { recursive: true, force: true });
  });

  const phases: [string, RunOptions['cancelOn']][] = [
    // A host's steps are lines of its group: `── <step>`.
    ['upload', { output: /── Upload release / }],
    ['login', { output: /── Log in to / }],
    ['pull', { output: /── Pull / }],
    ['up', { output: /── docker-compose up \(/ }],
    ['wait', { output: /Waiting up to / }],
  ];

  it.each(phases)('during %s: the post step removes the credential and releases the lock', async (_phase, cancelOn) => {
    const first = await deploy(images.v1);
    expect(first.errors).toEqual([]);

    const cancelled = await deploy(images.v2, { cancelOn });
    expectCancelled(cancelled);

    const post = await deploy(images.v2, { state: cancelled.state });
    expect(post.errors).toEqual([]);
    expect(post.log).toContain('deploy lock released.');
    expect(secretFiles(base())).toEqual([]);
    expect(existsSync(join(base(), 'deploy.lock'))).toBe(false);

    const next = await deploy(images.v2);
    expect(next.errors).toEqual([]);
    expect(next.exitCode).toBe(0);
  });
});
