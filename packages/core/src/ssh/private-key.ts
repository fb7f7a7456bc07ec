/**
 * Private keys from a secret, as users store them: raw (OpenSSH or PEM), base64-encoded (to survive
 * a one-line secret field), or with literal `\n` escapes; CRLF from a Windows clipboard. The key is
 * checked here, with ssh2's own parser, so a wrong key fails as an input error before any host is
 * contacted. It stays in memory: ssh2 takes it as a string, nothing is written to disk.
 */
import { createHash } from 'node:crypto';
import { utils, type ParsedKey } from 'ssh2';
import { InputError } from '../inputs.js';

export interface PrivateKey {
  /** The normalised key text handed to ssh2. */
  readonly text: string;
  readonly passphrase?: string;
  /** `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`. */
  readonly type: string;
  /** SHA256 fingerprint of its public half: what sshd logs as the accepted key. */
  readonly fingerprint: string;
  /** Every form of the secret the log could show (raw input, decoded text, its lines): to mask. */
  readonly secretForms: readonly string[];
}

const PUBLIC_KEY_LINE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)\s+AAAA/;

/** Undoes the ways a key gets mangled on its way into a secret; returns the PEM-style text. */
export function normalizeKeyText(raw: string): string {
  let text = raw.trim();
  // A key pasted into a one-line field, or JSON-escaped: literal \n (or \r\n) sequences.
  if (!text.includes('\n') && /(\\r)?\\n/.test(text)) text = text.replace(/(\\r)?\\n/g, '\n');
  text = text.replace(/\r\n?/g, '\n');
  // base64 of the whole key file (`base64 -w0 id_ed25519`): no PEM armour, only base64 characters.
  if (!text.includes('-----') && !text.startsWith('PuTTY-User-Key-File') && /^[A-Za-z0-9+/=\s]+$/.test(text)) {
    const decoded = Buffer.from(text.replace(/\s+/g, ''), 'base64').toString('utf8');
    if (/-----BEGIN [A-Z0-9 ]+-----/.test(decoded) || decoded.startsWith('PuTTY-User-Key-File') || PUBLIC_KEY_LINE.test(decoded.trim())) {
      return normalizeKeyText(decoded);
    }
  }
  // A PEM key whose newlines became spaces (pasted through a form that flattens lines).
  const flat = /^(-----BEGIN ([A-Z0-9 ]+)-----)\s+([A-Za-z0-9+/=\s]+?)\s+(-----END \2-----)$/.exec(text);
  if (flat && !text.includes('\n')) {
    const body = flat[3].replace(/\s+/g, '');
    text = [flat[1], ...(body.match(/.{1,70}/g) ?? []), flat[4]].join('\n');
  }
  return `${text.trim()}\n`;
}

/**
 * Parses and checks a private key input. `input` and `passphraseInput` name the inputs in errors.
 */
export function parsePrivateKey(input: string, raw: string, passphrase: string, passphraseInput: string): PrivateKey {
  if (raw.trim() === '') throw new InputError(input, 'is empty: give the private key (the whole file, raw or base64-encoded).');
  const text = normalizeKeyText(raw);
  const firstLine = text.split('\n')[0].trim();

  if (PUBLIC_KEY_LINE.test(firstLine) || /-----BEGIN (SSH2 |OPENSSH |RSA )?PUBLIC KEY-----/.test(text) || firstLine.startsWith('---- BEGIN SSH2 PUBLIC KEY')) {
    throw new InputError(input, 'is a public key: give the private key (the file without .pub, starting with -----BEGIN OPENSSH PRIVATE KEY-----).');
  }
  if (firstLine.startsWith('PuTTY-User-Key-File')) {
    throw new InputError(input, 'is a PuTTY (.ppk) key, which is not supported: convert it with `puttygen key.ppk -O private-openssh -o id_key` and give that file.');
  }
  if (/-----BEGIN (ENCRYPTED )?PRIVATE KEY-----/.test(text)) {
    // ssh2 reads OpenSSH and traditional PEM keys, not PKCS#8 (what `openssl genpkey` writes).
    throw new InputError(
      input,
      'is a PKCS#8 key (-----BEGIN PRIVATE KEY-----), which the SSH client cannot read: convert it to the OpenSSH format with ' +
        '`ssh-keygen -p -f <key file>` (it rewrites the file in place) and give the new content.',
    );
  }
  if (!/-----BEGIN [A-Z0-9 ]+PRIVATE KEY-----/.test(text)) {
    throw new InputError(input, "is not a private key: expected the key file's content (-----BEGIN OPENSSH PRIVATE KEY----- …), raw or base64-encoded.");
  }

  const parsed = utils.parseKey(text, passphrase || undefined);
  if (parsed instanceof Error) {
    const message = parsed.message;
    if (/no passphrase given/i.test(message)) {
      throw new InputError(passphraseInput, `is empty, but \`${input}\` is encrypted: give its passphrase in \`${passphraseInput}\`.`);
    }
    if (/bad passphrase|integrity check failed|decrypt|bad decrypt/i.test(message)) {
      throw new InputError(passphraseInput, `does not decrypt \`${input}\`: check the passphrase.`);
    }
    throw new InputError(input, `could not be read as a private key (${message}). Was it cut short or edited?`);
  }
  const key = (Array.isArray(parsed) ? parsed[0] : parsed) as ParsedKey;
  if (!key.isPrivateKey()) throw new InputError(input, 'is a public key: give the private key.');
  const forms = new Set([raw, raw.trim(), text, text.trim()]);
  return {
    text,
    passphrase: passphrase || undefined,
    type: key.type,
    fingerprint: `SHA256:${createHash('sha256').update(key.getPublicSSH()).digest('base64').replace(/=+$/, '')}`,
    secretForms: [...forms].filter(Boolean),
  };
}
