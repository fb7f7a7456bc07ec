/** The sandbox test/sandbox/up.sh started: its registry, hosts and keys, as it wrote them down. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SandboxHost {
  name: string;
  address: string;
  port: number;
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
  registry: { host: string; username: string; password: string };
  runnerDockerHost: string;
  baseImage: string;
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
