/**
 * Host key pinning. A pin is a `SHA256:` fingerprint as OpenSSH prints it (`ssh-keygen -lf`), or a
 * known_hosts line (`ssh-keyscan` output), or a host's public key line (`ssh-ed25519 AAAA…`).
 * Verification fails closed: a host with no pin that matches it is refused, before authentication.
 *
 * known_hosts lines keep their host patterns (plain, `[host]:port`, wildcards, `!` negation and
 * `|1|` hashed names, as sshd(8) AUTHORIZED_KEYS / ssh(1) known_hosts describe), so one list can
 * pin many hosts without any host accepting another's key. Fingerprints and bare key lines apply to
 * every host.
 */
import { createHash, createHmac } from 'node:crypto';
import { InputError } from '../inputs.js';

export interface HostKeyPin {
  /** `SHA256:` + unpadded base64, OpenSSH's form. */
  fingerprint: string;
  /** Key type (`ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`), when the pin says. */
  keyType?: string;
  /** known_hosts host patterns; undefined means the pin applies to every host. */
  hostPatterns?: string[];
  /** An `@revoked` known_hosts line: this key is refused wherever it is seen. */
  revoked?: boolean;
}

export interface SeenHostKey {
  keyType: string;
  fingerprint: string;
  /** The public key blob in base64, as known_hosts holds it. */
  publicKey: string;
}

export type HostKeyVerdict = { ok: true; key: SeenHostKey } | { ok: false; key: SeenHostKey; reason: 'revoked' | 'not-pinned' | 'mismatch' };

/** Host key types ssh2 can verify, and the signature algorithms each allows in negotiation. */
const HOST_KEY_ALGORITHMS: Record<string, readonly string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  // RFC 8332: one RSA key, three signature algorithms; OpenSSH 8.8+ refuses SHA-1 `ssh-rsa`.
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ssh-dss': ['ssh-dss'],
};

/** `ssh-keygen -lf` ends its lines with the type in parentheses. */
const KEYGEN_TYPES: Record<string, string> = { ED25519: 'ssh-ed25519', RSA: 'ssh-rsa', DSA: 'ssh-dss' };

const FINGERPRINT = /^SHA256:([A-Za-z0-9+/]{43})=?$/;

/** OpenSSH's fingerprint of a public key blob (the SSH wire format, what known_hosts holds in base64). */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * ssh2 with `hostHash: 'sha256'` hands the verifier a hex digest; OpenSSH shows the same digest as
 * unpadded base64. This converts the one into the other.
 */
export function fingerprintFromHex(hex: string): string {
  return `SHA256:${Buffer.from(hex, 'hex').toString('base64').replace(/=+$/, '')}`;
}

/** The key type a public key blob starts with (an SSH string: uint32 length, then the name). */
export function blobKeyType(blob: Buffer): string {
  if (blob.length < 4) return '';
  const length = blob.readUInt32BE(0);
  if (length > 64 || blob.length < 4 + length) return '';
  return blob.subarray(4, 4 + length).toString('latin1');
}

/** The known_hosts line that pins `key` for this host and port only (what ssh-keyscan prints). */
export function knownHostsLine(host: string, port: number, key: SeenHostKey): string {
  return `${port === 22 ? host : `[${host}]:${port}`} ${key.keyType} ${key.publicKey}`;
}

/** The signature algorithms to offer so that the server must use one of the pinned key types. */
export function hostKeyAlgorithms(pins: readonly HostKeyPin[]): string[] | undefined {
  const usable = pins.filter((pin) => !pin.revoked);
  // A fingerprint without a type could be any of the host's keys: the server's preferred type it is.
  if (usable.length === 0 || usable.some((pin) => !pin.keyType)) return undefined;
  return [...new Set(usable.flatMap((pin) => HOST_KEY_ALGORITHMS[pin.keyType!]))];
}

/** The key types behind a server's host key algorithms, each once, in its order (`rsa-sha2-512` is an `ssh-rsa` key). */
export function hostKeyTypes(algorithms: readonly string[]): string[] {
  const types = Object.keys(HOST_KEY_ALGORITHMS);
  return [...new Set(algorithms.map((algorithm) => types.find((type) => HOST_KEY_ALGORITHMS[type].includes(algorithm)) ?? algorithm))];
}

/** The pins that speak about `host:port`: the host's known_hosts lines, and every fingerprint. */
export function pinsForHost(pins: readonly HostKeyPin[], host: string, port: number): HostKeyPin[] {
  return pins.filter((pin) => !pin.hostPatterns || matchesHostPatterns(pin.hostPatterns, host, port));
}

export function verifyHostKey(pins: readonly HostKeyPin[], host: string, port: number, blob: Buffer): HostKeyVerdict {
  const key = { keyType: blobKeyType(blob), fingerprint: sshFingerprint(blob), publicKey: blob.toString('base64') };
  const applicable = pinsForHost(pins, host, port);
  if (applicable.some((pin) => pin.revoked && pin.fingerprint === key.fingerprint)) return { ok: false, key, reason: 'revoked' };
  const usable = applicable.filter((pin) => !pin.revoked);
  if (usable.length === 0) return { ok: false, key, reason: 'not-pinned' };
  const match = usable.some((pin) => pin.fingerprint === key.fingerprint && (!pin.keyType || pin.keyType === key.keyType));
  return match ? { ok: true, key } : { ok: false, key, reason: 'mismatch' };
}

/**
 * known_hosts host patterns (ssh(1) "SSH_KNOWN_HOSTS FILE FORMAT"): port 22 is matched as `host`,
 * any other as `[host]:port`; `*` and `?` wildcards; a matching `!pattern` refuses the line.
 */
export function matchesHostPatterns(patterns: readonly string[], host: string, port: number): boolean {
  const name = port === 22 ? host : `[${host}]:${port}`;
  let matched = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    const hit = pattern.startsWith('|1|') ? matchesHashedName(pattern, name) : wildcardMatch(pattern.toLowerCase(), name.toLowerCase());
    if (hit && negated) return false;
    if (hit) matched = true;
  }
  return matched;
}

/** `|1|<base64 salt>|<base64 HMAC-SHA1(salt, name)>`, what `HashKnownHosts yes` writes. */
function matchesHashedName(pattern: string, name: string): boolean {
  const [, , salt, hash] = pattern.split('|');
  if (!salt || !hash) return false;
  return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
}

function wildcardMatch(pattern: string, text: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return regex.test(text);
}

/** Parses a `host-fingerprints`-style input: one pin a line; `#` lines and blank lines ignored. */
export function parseHostKeyPins(input: string, raw: string): HostKeyPin[] {
  const pins: HostKeyPin[] = [];
  raw.split(/\r?\n/).forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) return;
    pins.push(...parsePinLine(input, line, index + 1));
  });
  return pins;
}

function parsePinLine(input: string, line: string, lineNumber: number): HostKeyPin[] {
  const where = `line ${lineNumber}`;
  const tokens = line.split(/\s+/);

  // Several fingerprints on one line, comma or space separated: `SHA256:aaa, SHA256:bbb`.
  const words = line.split(/[\s,]+/).filter(Boolean);
  if (words.every((word) => word.startsWith('SHA256:'))) return words.map((word) => parseFingerprint(input, word, where));

  // `ssh-keygen -lf` output: `256 SHA256:… comment (ED25519)`.
  const keygen = /^\d+\s+(SHA256:\S+)(?:.*\((\w+)\))?$/.exec(line);
  if (keygen) {
    const pin = parseFingerprint(input, keygen[1], where);
    const bits = Number(tokens[0]);
    const type = keygen[2] === 'ECDSA' ? `ecdsa-sha2-nistp${bits}` : keygen[2] ? KEYGEN_TYPES[keygen[2]] : undefined;
    return [{ ...pin, keyType: type }];
  }
  // `ssh-ed25519 SHA256:…`: a fingerprint with its type.
  if (tokens.length === 2 && tokens[1].startsWith('SHA256:') && HOST_KEY_ALGORITHMS[tokens[0]]) {
    return [{ ...parseFingerprint(input, tokens[1], where), keyType: tokens[0] }];
  }
  if (/^(MD5:)?([0-9a-f]{2}:){15}[0-9a-f]{2}$/i.test(line)) {
    throw new InputError(input, `${where} is an MD5 fingerprint; give the SHA256 one (ssh-keygen -lf <key>, or ssh-keyscan <host> | ssh-keygen -lf -).`);
  }
  return [parseKnownHostsLine(input, tokens, where)];
}

function parseFingerprint(input: string, text: string, where: string): HostKeyPin {
  const match = FINGERPRINT.exec(text);
  if (!match) throw new InputError(input, `${where}: "${text}" is not a SHA256 fingerprint (SHA256: and 43 base64 characters, as ssh-keygen -lf prints).`);
  return { fingerprint: `SHA256:${match[1]}` };
}

function parseKnownHostsLine(input: string, tokens: string[], where: string): HostKeyPin {
  let rest = tokens;
  let revoked = false;
  if (rest[0].startsWith('@')) {
    if (rest[0] === '@cert-authority') throw new InputError(input, `${where}: @cert-authority lines are not supported; pin the host keys themselves.`);
    if (rest[0] !== '@revoked') throw new InputError(input, `${where}: unknown marker ${rest[0]}.`);
    revoked = true;
    rest = rest.slice(1);
  }
  let hostPatterns: string[] | undefined;
  if (rest.length >= 2 && !looksLikeKeyType(rest[0])) {
    hostPatterns = rest[0].split(',').filter(Boolean);
    rest = rest.slice(1);
  }
  const [keyType, base64] = rest;
  if (!keyType || !base64 || !looksLikeKeyType(keyType)) {
    throw new InputError(input, `${where} is neither a SHA256 fingerprint nor a known_hosts line: give SHA256:… (ssh-keygen -lf) or "host ssh-ed25519 AAAA…" (ssh-keyscan).`);
  }
  if (!HOST_KEY_ALGORITHMS[keyType]) {
    throw new InputError(input, `${where}: host key type ${keyType} is not supported (use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa keys).`);
  }
  const blob = Buffer.from(base64, 'base64');
  if (!/^[A-Za-z0-9+/]+=*$/.test(base64) || blobKeyType(blob) !== keyType) {
    throw new InputError(input, `${where}: the ${keyType} key is not valid base64 of a ${keyType} public key (was the line cut short?).`);
  }
  return { fingerprint: sshFingerprint(blob), keyType, hostPatterns, revoked: revoked || undefined };
}

function looksLikeKeyType(token: string): boolean {
  return /^(ssh-|ecdsa-|sk-)/.test(token);
}

/** `ssh-ed25519` → `ed25519`, `ecdsa-sha2-nistp256` → `ecdsa`: the name in /etc/ssh/ssh_host_<kind>_key. */
function hostKeyFileKind(keyType: string): string {
  return keyType
    .replace(/^ssh-/, '')
    .replace(/-sha2-nistp\d+$/, '')
    .replace(/^dss$/, 'dsa');
}

/**
 * Why the key exchange failed when the host has no key of a pinned type (negotiation offers only
 * those, see `hostKeyAlgorithms`): the types it has, and where to read the key to pin.
 */
export function describeHostKeyTypeMismatch(label: string, offered: readonly string[], pins: readonly HostKeyPin[], input: string): string {
  const has = hostKeyTypes(offered);
  const pinned = [...new Set(pins.filter((pin) => !pin.revoked).map((pin) => pin.keyType))];
  return (
    `${label} has ${has.join(', ')} host keys, and \`${input}\` pins only ${pinned.join(', ')} keys for it: ` +
    `pin its ${has[0]} key (on the host: ssh-keygen -lf /etc/ssh/ssh_host_${hostKeyFileKind(has[0])}_key.pub).`
  );
}

/** How a refused host key is explained: what was seen, and what to do. */
export function describeHostKeyFailure(label: string, verdict: Extract<HostKeyVerdict, { ok: false }>, input: string): string {
  const seen = `${verdict.key.keyType} ${verdict.key.fingerprint}`;
  switch (verdict.reason) {
    case 'revoked':
      return `${label} presented the host key ${seen}, which \`${input}\` marks @revoked.`;
    case 'not-pinned':
      return (
        `${label}: no pinned host key for this host in \`${input}\`; it presented ${seen}. ` +
        `Check that this is the host's key (on the host: ssh-keygen -lf /etc/ssh/ssh_host_${hostKeyFileKind(verdict.key.keyType)}_key.pub) ` +
        `and add ${verdict.key.fingerprint} to \`${input}\`.`
      );
    case 'mismatch':
      return (
        `${label} presented the host key ${seen}, which matches none pinned in \`${input}\`: refusing to connect ` +
        `(the host was rebuilt, or this is not the host you meant). If you pinned another of its keys by fingerprint alone, ` +
        `give its type too ("ssh-rsa SHA256:…") or its known_hosts line.`
      );
  }
}
