/** restoreInterrupted against a scripted host: the docker argv runs for real, the engine's answers are scripted. */
import { describe, expect, it } from '@jest/globals';
import { DockerCli } from '../docker.js';
import { ScriptedShell } from '../testing/scripted-shell.js';
import { restoreInterrupted } from './inspect.js';

const ASIDE = ['docker', 'container', 'inspect', '--format', '{{.Id}}', 'web-slipway-previous'];

function host(): { shell: ScriptedShell; docker: DockerCli; warnings: string[] } {
  const shell = new ScriptedShell({ target: 'deploy@h1:22', strict: true });
  return { shell, docker: new DockerCli(shell), warnings: [] };
}

describe('inspect', () => {
  it('puts back the container set aside: the unproven one removed, the previous renamed and started', async () => {
    const { shell, docker, warnings } = host();
    shell.expect(ASIDE, { stdout: 'abc\n' });
    shell.expect(['docker', 'rm', '--force', 'web']);
    shell.expect(['docker', 'rename', 'web-slipway-previous', 'web']);
    shell.expect(['docker', 'start', 'web']);
    expect(await restoreInterrupted(docker, 'web', { warning: (message) => warnings.push(message) })).toBe(true);
    expect(warnings).toEqual(['web-slipway-previous was left by an interrupted deployment: restoring it as web (volumes are kept).']);
    shell.verify();
  });

  it('does nothing when no container was set aside', async () => {
    const { shell, docker, warnings } = host();
    shell.expect(ASIDE, { exitCode: 1, stderr: 'Error response from daemon: No such container: web-slipway-previous\n' });
    expect(await restoreInterrupted(docker, 'web', { warning: (message) => warnings.push(message) })).toBe(false);
    expect(warnings).toEqual([]);
    shell.verify();
  });

  it('fails, naming the host, when docker cannot say whether there is one', async () => {
    const { shell, docker } = host();
    shell.expect(ASIDE, { exitCode: 1, stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n' });
    await expect(restoreInterrupted(docker, 'web', { warning: () => {} })).rejects.toThrow(
      'docker container inspect web-slipway-previous failed on deploy@h1:22: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
    );
    expect(shell.lines).toHaveLength(1);
  });
});
