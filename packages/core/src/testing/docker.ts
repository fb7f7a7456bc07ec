/** Docker's answers in the shapes the engine prints them, for scripted hosts. */
import type { ContainerStatus } from '../compose/health.js';
import type { ScriptedShell } from './scripted-shell.js';

/** `docker inspect --type container` output for compose containers: the fields the readers use, as docker nests them. */
export function containerInspectJson(containers: readonly ContainerStatus[], project = 'p'): string {
  return JSON.stringify(
    containers.map((c) => ({
      Id: c.id,
      Name: `/${c.name}`,
      Config: { Image: c.image, Labels: { 'com.docker.compose.project': project, 'com.docker.compose.service': c.service } },
      State: { Status: c.state, ExitCode: c.exitCode, Health: c.health === 'none' ? undefined : { Status: c.health } },
    })),
  );
}

/**
 * Rules on `shell` for an engine whose compose containers are `containers()` at each `docker ps`
 * (called with the poll's number, from 0): `docker ps` lists their ids and `docker inspect` describes
 * those asked for, so the code under test reads them as it reads a real engine.
 */
export function scriptContainers(shell: ScriptedShell, containers: (poll: number) => readonly ContainerStatus[], project = 'p'): void {
  let current: readonly ContainerStatus[] = [];
  shell.on({ prefix: ['docker', 'ps'], name: 'docker ps of compose containers' }, (_command, poll) => {
    current = containers(poll);
    return { stdout: current.map((c) => `${c.id}\n`).join('') };
  });
  shell.on({ prefix: ['docker', 'inspect', '--type', 'container'], name: 'docker inspect of containers' }, (command) => ({
    stdout: containerInspectJson(
      current.filter((c) => command.args.includes(c.id)),
      project,
    ),
  }));
}
