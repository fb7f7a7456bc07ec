/** The sandbox test/sandbox/up.sh started: its registry, hosts and keys, as it wrote them down. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One "EC2 host": its own network namespace on the sandbox subnet, sshd on `address`:`port` (22). */
export interface SandboxHost {
  name: string;
  address: string;
  port: number;
  netns: string;
  /** 127.0.0.1:`delayPort` reaches this host's sshd through a delay relay, once `host.sh delay` started it. */
  delayPort: number;
  user: string;
  home: string;
  dockerHost: string;
  dataRoot: string;
  sshdLog: string;
  hostKeyFingerprint: string;
  knownHostsLine: string;
}

export interface Sandbox {
  stateDir: string;
  /** `host` is the one name every engine uses for the registry (TLS, trusted through /etc/docker/certs.d). */
  registry: { host: string; username: string; password: string; caCert: string; tlsCert: string; tlsKey: string; faultHost: string };
  /** The runner's (and the registry's) address on the hosts' subnet. */
  runnerAddress: string;
  runnerDockerHost: string;
  baseImage: string;
  /** Debian bookworm with nginx-light and nodejs (test/sandbox/web-base.sh), on the runner and every host. */
  webBaseImage: string;
  keys: { ed25519: string; ed25519Passphrase: { path: string; passphrase: string }; rsaPem: string };
  knownHosts: string;
  hosts: SandboxHost[];
}

export const sandboxDir = process.env.SLIPWAY_SANDBOX_DIR ?? '/var/tmp/slipway-sandbox';

export function loadSandbox(): Sandbox {
  const file = join(sandboxDir, 'sandbox.json');
  if (!existsSync(file)) throw new Error(`${file} not found: start the sandbox first (bash test/sandbox/up.sh).`);
  return JSON.parse(readFileSync(file, 'utf8')) as Sandbox;
}

/**
 * Where a port that `docker port` reported on `host` answers from the runner: the host's own
 * address (a host publishes on its interfaces, as an EC2 instance would, never on the runner's).
 */
export function publishedAt(host: SandboxHost, dockerPortOutput: string): string {
  const first = dockerPortOutput.trim().split('\n')[0];
  const port = first.slice(first.lastIndexOf(':') + 1);
  if (!/^\d+$/.test(port)) throw new Error(`no published port in ${JSON.stringify(dockerPortOutput)}`);
  return `${host.address}:${port}`;
}
