/**
 * The connection inputs every action that works on hosts shares (ec2-deploy, compose-up): parsed
 * and checked here, once, so both actions accept and refuse the same things with the same words.
 * Nothing here connects: every mistake is reported, naming its input, before any host is contacted.
 */
import { InputError, parseBoolean, parseDuration, parseInteger, type InputReader } from '../inputs.js';
import { parseHostAddress, parseHostList, parsePort, type SshHost } from './host-address.js';
import { parseHostKeyPins, type HostKeyPin } from './host-keys.js';
import { parsePrivateKey, type PrivateKey } from './private-key.js';

/** The action.yml names of the connection inputs. */
export const CONNECTION_INPUTS = {
  hosts: 'hosts',
  user: 'user',
  port: 'port',
  sshKey: 'ssh-key',
  sshKeyPassphrase: 'ssh-key-passphrase',
  hostFingerprints: 'host-fingerprints',
  insecureSkipHostKeyCheck: 'insecure-skip-host-key-check',
  jumpHost: 'jump-host',
  jumpSshKey: 'jump-ssh-key',
  jumpHostFingerprints: 'jump-host-fingerprints',
  connectTimeout: 'connect-timeout',
  commandTimeout: 'command-timeout',
  connectRetries: 'connect-retries',
  maxParallel: 'max-parallel',
  failFast: 'fail-fast',
} as const;

/** How to reach one SSH server and know it is the right one. */
export interface SshEndpoint {
  host: SshHost;
  key: PrivateKey;
  /** Pins for this endpoint; ignored when `insecureSkipHostKeyCheck`. */
  hostKeys: readonly HostKeyPin[];
  /** The input the pins come from, for error messages. */
  hostKeysInput: string;
}

export interface ConnectionSettings {
  hosts: SshHost[];
  key: PrivateKey;
  hostKeys: HostKeyPin[];
  insecureSkipHostKeyCheck: boolean;
  jump?: SshEndpoint;
  /** TCP connect, and separately the SSH handshake with authentication, each bounded by this. */
  connectTimeoutMs: number;
  /** Default bound of each remote command. */
  commandTimeoutMs: number;
  /** Connection attempts in all (connect phase only). */
  connectRetries: number;
  /** Hosts worked on at once; 0 means all. */
  maxParallel: number;
  failFast: boolean;
  /** Every form of every secret among these inputs: mask them all. */
  secrets: string[];
}

export function parseConnectionInputs(read: InputReader): ConnectionSettings {
  const names = CONNECTION_INPUTS;
  const user = read(names.user).trim() || 'ec2-user';
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*\$?$/.test(user)) throw new InputError(names.user, `"${user}" is not a valid user name.`);
  const port = parsePort(names.port, read(names.port), 22);
  const hosts = parseHostList(names.hosts, read(names.hosts), { user, port });

  const passphrase = read(names.sshKeyPassphrase);
  const key = parsePrivateKey(names.sshKey, read(names.sshKey), passphrase, names.sshKeyPassphrase);
  const insecure = parseBoolean(names.insecureSkipHostKeyCheck, read(names.insecureSkipHostKeyCheck), false);
  const hostKeys = parseHostKeyPins(names.hostFingerprints, read(names.hostFingerprints));
  if (insecure && hostKeys.length) {
    throw new InputError(names.insecureSkipHostKeyCheck, `is true while \`${names.hostFingerprints}\` pins host keys: remove one (keep the pins; the check is what makes the connection safe).`);
  }

  let jump: SshEndpoint | undefined;
  const jumpRaw = read(names.jumpHost).trim();
  const jumpKeyRaw = read(names.jumpSshKey);
  const jumpPinsRaw = read(names.jumpHostFingerprints);
  if (jumpRaw) {
    const jumpPins = parseHostKeyPins(names.jumpHostFingerprints, jumpPinsRaw);
    if (insecure && jumpPins.length) {
      throw new InputError(names.insecureSkipHostKeyCheck, `is true while \`${names.jumpHostFingerprints}\` pins host keys: remove one.`);
    }
    jump = {
      host: parseHostAddress(names.jumpHost, jumpRaw, { user, port: 22 }),
      key: jumpKeyRaw.trim() ? parsePrivateKey(names.jumpSshKey, jumpKeyRaw, passphrase, names.sshKeyPassphrase) : key,
      hostKeys: jumpPins,
      hostKeysInput: names.jumpHostFingerprints,
    };
  } else if (jumpKeyRaw.trim() || jumpPinsRaw.trim()) {
    throw new InputError(jumpKeyRaw.trim() ? names.jumpSshKey : names.jumpHostFingerprints, `is set but \`${names.jumpHost}\` is not: give the jump host, or remove it.`);
  }

  return {
    hosts,
    key,
    hostKeys,
    insecureSkipHostKeyCheck: insecure,
    jump,
    connectTimeoutMs: parseDuration(names.connectTimeout, read(names.connectTimeout), '30s'),
    commandTimeoutMs: parseDuration(names.commandTimeout, read(names.commandTimeout), '10m'),
    connectRetries: parseInteger(names.connectRetries, read(names.connectRetries), 3, { min: 1, max: 20 }),
    maxParallel: parseInteger(names.maxParallel, read(names.maxParallel), 0, { min: 0, max: 1000 }),
    failFast: parseBoolean(names.failFast, read(names.failFast), true),
    secrets: [...key.secretForms, ...(jump && jump.key !== key ? jump.key.secretForms : []), passphrase].filter(Boolean),
  };
}

/** The endpoint of one target host, with the settings' key and pins. */
export function targetEndpoint(settings: ConnectionSettings, host: SshHost): SshEndpoint {
  return { host, key: settings.key, hostKeys: settings.hostKeys, hostKeysInput: CONNECTION_INPUTS.hostFingerprints };
}
