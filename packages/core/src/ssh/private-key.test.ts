import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalizeKeyText, parsePrivateKey } from './private-key.js';

/** Keys made by the real ssh-keygen and openssl, as users make them. */
const keys: Record<string, string> = {};
let fingerprint = '';

function run(args: string[]): string {
  const result = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-keys-'));
  run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'test', '-f', join(dir, 'ed')]);
  run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', 'sesame', '-f', join(dir, 'ed-pass')]);
  run(['ssh-keygen', '-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-f', join(dir, 'rsa')]);
  run(['openssl', 'genpkey', '-algorithm', 'ed25519', '-out', join(dir, 'pkcs8.pem')]);
  for (const name of ['ed', 'ed.pub', 'ed-pass', 'rsa', 'pkcs8.pem']) keys[name] = readFileSync(join(dir, name), 'utf8');
  fingerprint = run(['ssh-keygen', '-lf', join(dir, 'ed.pub')]).split(' ')[1];
});

describe('private-key', () => {
  it('reads an OpenSSH key and gives its public fingerprint as sshd logs it', () => {
    const key = parsePrivateKey('ssh-key', keys.ed, '', 'ssh-key-passphrase');
    expect(key).toMatchObject({ type: 'ssh-ed25519', fingerprint, passphrase: undefined });
    expect(key.text).toBe(keys.ed);
  });

  it('undoes base64, literal \\n escapes, CRLF and flattened lines', () => {
    expect(normalizeKeyText(Buffer.from(keys.ed).toString('base64'))).toBe(keys.ed);
    expect(normalizeKeyText(keys.ed.trim().replace(/\n/g, '\\n'))).toBe(keys.ed);
    expect(normalizeKeyText(keys.ed.replace(/\n/g, '\r\n'))).toBe(keys.ed);
    expect(normalizeKeyText(`  ${keys.ed}\n\n`)).toBe(keys.ed);
    const flattened = normalizeKeyText(keys.rsa.trim().replace(/\n/g, ' '));
    expect(parsePrivateKey('ssh-key', flattened, '', 'p').type).toBe('ssh-rsa');
    for (const form of [Buffer.from(keys.ed).toString('base64'), keys.ed.trim().replace(/\n/g, '\\r\\n')]) {
      expect(parsePrivateKey('ssh-key', form, '', 'p').fingerprint).toBe(fingerprint);
    }
  });

  it('reads a PEM RSA key and an encrypted key with its passphrase', () => {
    expect(parsePrivateKey('ssh-key', keys.rsa, '', 'p').type).toBe('ssh-rsa');
    expect(parsePrivateKey('ssh-key', keys['ed-pass'], 'sesame', 'p')).toMatchObject({ type: 'ssh-ed25519', passphrase: 'sesame' });
  });

  it('lists every form of the key to mask: the input as given and the decoded text', () => {
    const encoded = Buffer.from(keys.ed).toString('base64');
    const key = parsePrivateKey('ssh-key', encoded, '', 'p');
    expect(key.secretForms).toEqual(expect.arrayContaining([encoded, keys.ed]));
  });

  it.each([
    ['a public key', () => keys['ed.pub'], '', 'Input `ssh-key`: is a public key'],
    ['a base64 public key', () => Buffer.from(keys['ed.pub']).toString('base64'), '', 'Input `ssh-key`: is a public key'],
    ['a PKCS#8 key', () => keys['pkcs8.pem'], '', 'Input `ssh-key`: is a PKCS#8 key (-----BEGIN PRIVATE KEY-----)'],
    ['a PuTTY key', () => 'PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n', '', 'Input `ssh-key`: is a PuTTY (.ppk) key'],
    ['an encrypted key without passphrase', () => keys['ed-pass'], '', 'Input `ssh-key-passphrase`: is empty, but `ssh-key` is encrypted'],
    ['an encrypted key with a wrong passphrase', () => keys['ed-pass'], 'wrong', 'Input `ssh-key-passphrase`: does not decrypt `ssh-key`'],
    ['a cut-short key', () => keys.ed.slice(0, 200) + '\n-----END OPENSSH PRIVATE KEY-----\n', '', 'Input `ssh-key`: could not be read as a private key'],
    ['a password', () => 'hunter2', '', 'Input `ssh-key`: is not a private key'],
    ['nothing', () => '  ', '', 'Input `ssh-key`: is empty'],
  ])('refuses %s with a precise error', (_, key, passphrase, message) => {
    expect(() => parsePrivateKey('ssh-key', key(), passphrase, 'ssh-key-passphrase')).toThrow(message);
  });
});
