/**
 * The runner's own look at a deployment's container, for the post step of a run that could not
 * finish: it runs without the program (program.ts), one docker command at a time.
 */
import { lastLines } from '../shell.js';
import type { DockerCli } from '../docker.js';
import type { DeployLog } from '../log.js';
import { PREVIOUS_SUFFIX } from './program.js';

/** Whether the container `name` exists. */
async function exists(docker: DockerCli, name: string): Promise<boolean> {
  const result = await docker.run(['container', 'inspect', '--format', '{{.Id}}', name], { allowFailure: true, timeoutMs: 60_000 });
  if (result.exitCode === 0) return true;
  if (/no such (container|object)/i.test(result.stderr)) return false;
  throw new Error(`docker container inspect ${name} failed on ${docker.shell.target}: ${lastLines(result.stderr, 3)}`);
}

/**
 * Puts back the previous container a deployment that died half-way (runner killed, connection
 * lost) set aside as `<name>-slipway-previous`: it is the last one known good, and the unproven
 * container in its place is removed. Returns whether there was one to restore. The program does
 * the same first thing in its `prepare` stage.
 */
export async function restoreInterrupted(docker: DockerCli, name: string, log: Pick<DeployLog, 'warning'>): Promise<boolean> {
  const aside = name + PREVIOUS_SUFFIX;
  if (!(await exists(docker, aside))) return false;
  log.warning(`${aside} was left by an interrupted deployment: restoring it as ${name} (volumes are kept).`);
  await docker.run(['rm', '--force', name], { allowFailure: true });
  await docker.run(['rename', aside, name]);
  await docker.run(['start', name]);
  return true;
}
