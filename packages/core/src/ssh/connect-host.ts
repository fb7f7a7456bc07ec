/**
 * Opening one host of `hosts` the way every action does: the shared connection settings, the
 * host's own user and port, and a line in its log saying which host key it presented (what a user
 * pins, and whether it was checked).
 */
import type { DeployLog } from '../log.js';
import { targetEndpoint, type ConnectionSettings } from './connection-inputs.js';
import type { SshHost } from './host-address.js';
import { SshShell } from './ssh-shell.js';

export async function connectHost(settings: ConnectionSettings, host: SshHost, log: DeployLog): Promise<SshShell> {
  const shell = await SshShell.connect({
    endpoint: targetEndpoint(settings, host),
    jump: settings.jump,
    insecureSkipHostKeyCheck: settings.insecureSkipHostKeyCheck,
    connectTimeoutMs: settings.connectTimeoutMs,
    commandTimeoutMs: settings.commandTimeoutMs,
    connectRetries: settings.connectRetries,
    log,
  });
  const via = settings.jump ? ` through ${settings.jump.host.label}` : '';
  const checked = settings.insecureSkipHostKeyCheck ? '(NOT verified)' : '(verified)';
  log.info(`Connected to ${host.label}${via}: host key ${shell.hostKey.keyType} ${shell.hostKey.fingerprint} ${checked}.`);
  return shell;
}
