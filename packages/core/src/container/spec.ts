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

/** Proxy mode (`proxy-port`): a proxy container owns the host ports and switches between releases. */
export interface ProxySpec {
  /** `[ip:]port` the proxy publishes, the same port inside its container. */
  ports: string[];
  image: string;
  /** With it, the proxy serves HTTPS for this name with automatic certificates. */
  domain?: string;
  /** The app's port in its container; unset: the image's single EXPOSEd port. */
  appPort?: number;
  drainTimeoutMs: number;
  /** A command (words) run once per deploy in a one-off container of the new image, before it starts. */
  preDeploy?: string[];
}
