/** What a container deployment runs, as ec2-deploy's inputs describe it. */

/** When a new container counts as healthy, beside the image's own HEALTHCHECK, which always wins. */
export type HealthCheck = { kind: 'cmd'; command: string } | { kind: 'url'; url: string } | { kind: 'auto' };

export interface ContainerSpec {
  /** Container name on every host. */
  name: string;
  /** `-p` values. */
  ports: string[];
  /** KEY=VALUE pairs, `env-file` first then `env` and `vars`; delivered in a 0600 file, never argv. */
  env: Map<string, string>;
  /** `-v` values (named volumes or bind mounts). */
  volumes: string[];
  network?: string;
  restart: string;
  /** Extra `docker run` arguments, already split into words. */
  runArgs: string[];
}
