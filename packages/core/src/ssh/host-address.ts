/**
 * Host addresses as users write them: `[user@]host[:port]`, with an IPv6 address in brackets
 * (`[2001:db8::1]:2222`), as OpenSSH's `ssh -J` and known_hosts spell them.
 */
import { InputError, parseList } from '../inputs.js';

export interface SshHost {
  user: string;
  /** Host name or IP address, without brackets. */
  host: string;
  port: number;
  /** `user@host:port`: how logs, errors and outputs name the host. */
  label: string;
}

export interface HostDefaults {
  user: string;
  port: number;
}

/** POSIX user names as useradd accepts them (plus the trailing `$` of machine accounts). */
const USER = /^[A-Za-z_][A-Za-z0-9_.-]*\$?$/;
/** A DNS name or IPv4 address: letters, digits, dots, hyphens and underscores (some AWS internal names). */
const HOST_NAME = /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const IPV6 = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/;

export function formatHostLabel(user: string, host: string, port: number): string {
  return `${user}@${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export function parsePort(input: string, raw: string, fallback: number): number {
  const text = raw.trim();
  if (text === '') return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new InputError(input, `"${text}" is not a port: expected a number from 1 to 65535.`);
  }
  return Number(text);
}

export function parseHostAddress(input: string, raw: string, defaults: HostDefaults): SshHost {
  const text = raw.trim();
  const example = 'write [user@]host[:port], e.g. ec2-user@10.0.1.5:22';
  if (text === '') throw new InputError(input, `has an empty host: ${example}.`);
  if (/\s/.test(text)) throw new InputError(input, `"${text}" contains white space: ${example}.`);

  let rest = text;
  let user = defaults.user;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (!USER.test(user)) throw new InputError(input, `"${user}" in "${text}" is not a valid user name.`);
  }

  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new InputError(input, `"${text}" opens [ without closing it: ${example}, or [2001:db8::1]:22.`);
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw new InputError(input, `"${text}": expected :port after ].`);
    portText = after.slice(1);
    if (!IPV6.test(host) && !HOST_NAME.test(host)) throw new InputError(input, `"${host}" in "${text}" is not a host name or IP address.`);
  } else {
    const colons = (rest.match(/:/g) ?? []).length;
    if (colons > 1) throw new InputError(input, `"${text}": put an IPv6 address in brackets, e.g. [2001:db8::1]:22.`);
    const colon = rest.indexOf(':');
    host = colon >= 0 ? rest.slice(0, colon) : rest;
    portText = colon >= 0 ? rest.slice(colon + 1) : '';
    if (colon >= 0 && portText === '') throw new InputError(input, `"${text}" ends with ":" but no port.`);
    if (!HOST_NAME.test(host)) throw new InputError(input, `"${host}" in "${text}" is not a host name or IP address: ${example}.`);
  }
  const port = portText === '' ? defaults.port : parsePort(input, portText, defaults.port);
  return { user, host, port, label: formatHostLabel(user, host, port) };
}

/** A comma or newline separated list of hosts; `#` lines are comments. Each host once. */
export function parseHostList(input: string, raw: string, defaults: HostDefaults): SshHost[] {
  const items = parseList(raw);
  if (items.length === 0) throw new InputError(input, 'is empty: list the hosts to deploy to, e.g. ec2-user@10.0.1.5, one a line or comma separated.');
  const hosts = items.map((item) => parseHostAddress(input, item, defaults));
  const seen = new Set<string>();
  for (const host of hosts) {
    const key = `${host.host.toLowerCase()}:${host.port}`;
    if (seen.has(key)) throw new InputError(input, `${host.host}:${host.port} is listed twice.`);
    seen.add(key);
  }
  return hosts;
}
