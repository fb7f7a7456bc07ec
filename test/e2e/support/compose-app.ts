/**
 * Set-up for the compose-up tests: versions of the fixture's app image pushed to the sandbox
 * registry (by the docker CLI, not by code under test), workspaces holding the fixture, and the
 * removal of what a test's project left on a host.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deploymentDir, hostDocker } from './ec2-deploy.js';
import { docker, exec } from './exec.js';
import { pushImage } from './registry.js';
import { repoRoot } from './run-action.js';
import type { Sandbox, SandboxHost } from './sandbox.js';

export const fixtureDir = join(repoRoot, 'test/fixtures/compose-app');

/** The app repository in the sandbox registry. */
export function appRepository(sandbox: Sandbox): string {
  return `${sandbox.registry.host}/slipway-tests/compose-app`;
}

/**
 * Builds the app serving `body` (or, with `broken`, an app that never serves: its healthcheck
 * fails), pushes it as `tag`, removes it from the runner's engine, and returns `repo@digest`.
 */
export function pushAppImage(sandbox: Sandbox, tag: string, body: string, options: { broken?: boolean } = {}): string {
  const context = mkdtempSync(join(tmpdir(), 'slipway-app-'));
  cpSync(join(fixtureDir, 'app'), context, { recursive: true });
  writeFileSync(join(context, 'www/index.html'), `${body}\n`);
  if (options.broken) {
    writeFileSync(join(context, 'Dockerfile'), `FROM ${sandbox.baseImage}\nCMD ["sh", "-c", "echo '${body}: this build never starts its web server'; exec sleep 100000"]\n`);
  }
  return pushImage(sandbox, appRepository(sandbox), tag, context);
}

/** A workspace with the fixture's compose file and proxy context (the app is an image, not source). */
export function composeWorkspace(sandbox: Sandbox): string {
  const workspace = mkdtempSync(join(tmpdir(), 'slipway-compose-ws-'));
  cpSync(join(fixtureDir, 'compose.yml'), join(workspace, 'compose.yml'));
  cpSync(join(fixtureDir, 'proxy'), join(workspace, 'proxy'), { recursive: true });
  // The fixture names the default registry address; follow the sandbox if it was moved.
  const file = join(workspace, 'compose.yml');
  writeFileSync(file, readFileSync(file, 'utf8').replaceAll('10.210.0.1:5000/', `${sandbox.registry.host}/`));
  return workspace;
}

/** GET `address` (host:port) with a short timeout; '' when nothing answers. */
export function httpGet(address: string, path: string): string {
  const result = exec(['curl', '-sS', '--max-time', '10', `http://${address}${path}`]);
  return result.status === 0 ? result.stdout : '';
}

/** Removes a compose project from a host: its containers, networks and volumes, and its deployment directory. */
export function removeComposeProject(host: SandboxHost, project: string): void {
  const label = `label=com.docker.compose.project=${project}`;
  for (const kind of ['container', 'network', 'volume']) {
    const ids = hostDocker(host, kind, 'ls', '-q', ...(kind === 'container' ? ['--all'] : []), '--filter', label)
      .split('\n')
      .filter(Boolean);
    if (ids.length > 0) docker(host.dockerHost, kind, 'rm', ...(kind === 'container' ? ['--force'] : []), ...ids);
  }
  exec(['rm', '-rf', deploymentDir(host, project)]);
}
