import { describe, expect, it } from '@jest/globals';
import { LocalShell } from '../local-shell.js';
import { ComposeCli, parseVersion, upArgs, versionAtLeast } from './compose-cli.js';

const project = { name: 'shop', files: ['/r/compose.yml', '/r/.slipway/slipway-images.override.yml'], envFile: '/r/.slipway/compose.env' };

describe('compose-cli', () => {
  it('builds the same global options for the v2 plugin and the v1 binary', () => {
    const shell = new LocalShell();
    const global = ['--project-name', 'shop', '--file', '/r/compose.yml', '--file', '/r/.slipway/slipway-images.override.yml', '--env-file', '/r/.slipway/compose.env'];
    expect(new ComposeCli(shell, { kind: 'plugin', version: '2.24.5' }).command(project, ['config', '--quiet'])).toEqual(['docker', 'compose', ...global, 'config', '--quiet']);
    expect(new ComposeCli(shell, { kind: 'standalone', version: '1.29.2' }).command(project, ['config', '--quiet'])).toEqual(['docker-compose', ...global, 'config', '--quiet']);
  });

  it('uses compose --wait only where it has a timeout (v2.20+)', () => {
    const options = { services: ['app'], build: true, removeOrphans: true, waitSeconds: 120 };
    const v1 = new ComposeCli(new LocalShell(), { kind: 'standalone', version: '1.29.2' });
    const v2old = new ComposeCli(new LocalShell(), { kind: 'plugin', version: '2.17.3' });
    const v2 = new ComposeCli(new LocalShell(), { kind: 'plugin', version: '2.24.5' });
    expect(upArgs(v1, options)).toEqual(['up', '--detach', '--build', '--remove-orphans', 'app']);
    expect(upArgs(v2old, options)).toEqual(['up', '--detach', '--build', '--remove-orphans', 'app']);
    expect(upArgs(v2, options)).toEqual(['up', '--detach', '--build', '--remove-orphans', '--wait', '--wait-timeout', '120', 'app']);
    expect(upArgs(v2, { services: [], build: false, removeOrphans: false })).toEqual(['up', '--detach']);
    expect([v1.isV1, v2old.isV1, v2.isV1]).toEqual([true, false, false]);
  });

  it('reads versions as the CLIs print them', () => {
    expect(parseVersion('1.29.2\n')).toBe('1.29.2');
    expect(parseVersion('v2.24.5-desktop.1')).toBe('2.24.5');
    expect(versionAtLeast('2.20.0', '2.20.0')).toBe(true);
    expect(versionAtLeast('2.3.10', '2.20.0')).toBe(false);
    expect(versionAtLeast('10.0', '2.20.0')).toBe(true);
  });

  it('finds the docker-compose v1 this machine has when there is no plugin', async () => {
    const shell = new LocalShell();
    const plugin = await shell.run({ args: ['docker', 'compose', 'version'], allowFailure: true });
    const v1 = await shell.run({ args: ['docker-compose', 'version', '--short'], allowFailure: true });
    if (plugin.exitCode === 0 || v1.exitCode !== 0) return; // only meaningful on a v1-only machine
    const cli = await ComposeCli.detect(shell);
    expect(cli.flavor).toEqual({ kind: 'standalone', version: v1.stdout.trim() });
    expect(cli.supportsWait).toBe(false);
  });
});
