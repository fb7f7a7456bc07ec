import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import {
  blobKeyType,
  describeHostKeyTypeMismatch,
  fingerprintFromHex,
  hostKeyAlgorithms,
  hostKeyTypes,
  knownHostsLine,
  matchesHostPatterns,
  parseHostKeyPins,
  sshFingerprint,
  verifyHostKey,
} from './host-keys.js';

// Real keys, with the fingerprints `ssh-keygen -lf` printed for them.
const ED25519 = 'AAAAC3NzaC1lZDI1NTE5AAAAIKD6PI8ZhbPhCeLJvRNNI7Tt6UozCr35X67wYZ0XIGLn';
const ED25519_FP = 'SHA256:YM5uzrYXRF94lPFDSherNITUFDGVX2fIpASmSvVb0BI';
const ECDSA = 'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBIbvUdeXtlU8+oENaFBWQbxVOMDdATGOU8TQ/NI2zffNl02iZQZ6H0Sgd+q/XilPYIdJNUwegPeEMicZOdkec+g=';
const ECDSA_FP = 'SHA256:WvvQI4aaYKLFwwLQAmKbFc36hrSj8IqwU/LDD1He9Zo';
// `ssh-keygen -H` of "[10.0.0.1]:2222 ssh-ed25519 <ED25519>".
const HASHED = '|1|reoRKtpl3PWLLPlm2uXs+t6E5/4=|p0wpC8PBvDEeW8gjbrEElw04cyQ=';

const ed = Buffer.from(ED25519, 'base64');
const ec = Buffer.from(ECDSA, 'base64');

describe('host-keys', () => {
  it('computes OpenSSH fingerprints from key blobs, and from the hex ssh2 gives with hostHash sha256', () => {
    expect(sshFingerprint(ed)).toBe(ED25519_FP);
    expect(sshFingerprint(ec)).toBe(ECDSA_FP);
    expect(fingerprintFromHex(createHash('sha256').update(ed).digest('hex'))).toBe(ED25519_FP);
    expect(blobKeyType(ed)).toBe('ssh-ed25519');
    expect(blobKeyType(ec)).toBe('ecdsa-sha2-nistp256');
  });

  it('reads fingerprints, typed fingerprints, ssh-keygen -lf lines, known_hosts lines and public key lines', () => {
    const pins = parseHostKeyPins(
      'host-fingerprints',
      [
        `${ED25519_FP}, ${ECDSA_FP}=`,
        `ssh-ed25519 ${ED25519_FP}`,
        `256 ${ECDSA_FP} root@web (ECDSA)`,
        `# a comment`,
        `web-1,10.0.0.1 ssh-ed25519 ${ED25519} root@web-1`,
        `ecdsa-sha2-nistp256 ${ECDSA}`,
        `@revoked * ssh-ed25519 ${ED25519}`,
      ].join('\n'),
    );
    expect(pins).toEqual([
      { fingerprint: ED25519_FP },
      { fingerprint: ECDSA_FP },
      { fingerprint: ED25519_FP, keyType: 'ssh-ed25519' },
      { fingerprint: ECDSA_FP, keyType: 'ecdsa-sha2-nistp256' },
      { fingerprint: ED25519_FP, keyType: 'ssh-ed25519', hostPatterns: ['web-1', '10.0.0.1'], revoked: undefined },
      { fingerprint: ECDSA_FP, keyType: 'ecdsa-sha2-nistp256', hostPatterns: undefined, revoked: undefined },
      { fingerprint: ED25519_FP, keyType: 'ssh-ed25519', hostPatterns: ['*'], revoked: true },
    ]);
  });

  it.each([
    ['SHA256:short', 'line 1: "SHA256:short" is not a SHA256 fingerprint'],
    ['MD5:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff', 'line 1 is an MD5 fingerprint'],
    ['web ssh-ed25519 AAAAnotakey', 'line 1: the ssh-ed25519 key is not valid base64 of a ssh-ed25519 public key'],
    [`web ssh-rsa ${ED25519}`, 'line 1: the ssh-rsa key is not valid base64 of a ssh-rsa public key'],
    [`@cert-authority * ssh-ed25519 ${ED25519}`, 'line 1: @cert-authority lines are not supported'],
    ['hello world', 'line 1 is neither a SHA256 fingerprint nor a known_hosts line'],
  ])('refuses %j naming the input and the line', (line, message) => {
    expect(() => parseHostKeyPins('host-fingerprints', line)).toThrow(`Input \`host-fingerprints\`: ${message}`);
  });

  it('matches known_hosts host patterns as OpenSSH does: [host]:port, wildcards, negation, hashed names', () => {
    expect(matchesHostPatterns(['[127.0.0.1]:2201'], '127.0.0.1', 2201)).toBe(true);
    expect(matchesHostPatterns(['[127.0.0.1]:2201'], '127.0.0.1', 2202)).toBe(false);
    expect(matchesHostPatterns(['127.0.0.1'], '127.0.0.1', 22)).toBe(true);
    expect(matchesHostPatterns(['127.0.0.1'], '127.0.0.1', 2201)).toBe(false);
    expect(matchesHostPatterns(['*.internal', '!db.internal'], 'web.internal', 22)).toBe(true);
    expect(matchesHostPatterns(['*.internal', '!db.internal'], 'db.internal', 22)).toBe(false);
    expect(matchesHostPatterns(['web-?'], 'WEB-1', 22)).toBe(true);
    expect(matchesHostPatterns([HASHED], '10.0.0.1', 2222)).toBe(true);
    expect(matchesHostPatterns([HASHED], '10.0.0.2', 2222)).toBe(false);
  });

  it('accepts a host only for a pin that applies to it and matches its key', () => {
    const pins = parseHostKeyPins('p', `[10.0.0.1]:2222 ssh-ed25519 ${ED25519}\n10.0.0.2 ecdsa-sha2-nistp256 ${ECDSA}`);
    expect(verifyHostKey(pins, '10.0.0.1', 2222, ed)).toMatchObject({ ok: true, key: { keyType: 'ssh-ed25519', fingerprint: ED25519_FP, publicKey: ED25519 } });
    expect(verifyHostKey(pins, '10.0.0.1', 2222, ec)).toMatchObject({ ok: false, reason: 'mismatch' });
    // 10.0.0.2's line does not vouch for 10.0.0.3, even with the same key.
    expect(verifyHostKey(pins, '10.0.0.3', 22, ec)).toMatchObject({ ok: false, reason: 'not-pinned', key: { fingerprint: ECDSA_FP } });
    // A bare fingerprint applies to every host.
    expect(verifyHostKey(parseHostKeyPins('p', ECDSA_FP), 'anything', 22, ec).ok).toBe(true);
    expect(verifyHostKey(parseHostKeyPins('p', `${ED25519_FP}\n@revoked * ssh-ed25519 ${ED25519}`), 'h', 22, ed)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(verifyHostKey([], 'h', 22, ed)).toMatchObject({ ok: false, reason: 'not-pinned' });
  });

  it('restricts negotiation to the pinned key types, and cannot when a pin has no type', () => {
    expect(hostKeyAlgorithms(parseHostKeyPins('p', `h ssh-ed25519 ${ED25519}`))).toEqual(['ssh-ed25519']);
    expect(hostKeyAlgorithms(parseHostKeyPins('p', `h ssh-ed25519 ${ED25519}\n256 ${ECDSA_FP} x (ECDSA)`))).toEqual(['ssh-ed25519', 'ecdsa-sha2-nistp256']);
    expect(hostKeyAlgorithms(parseHostKeyPins('p', `ssh-rsa ${ED25519_FP}`))).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(hostKeyAlgorithms(parseHostKeyPins('p', `h ssh-ed25519 ${ED25519}\n${ECDSA_FP}`))).toBeUndefined();
  });

  it('names the key types a host has when none is of a pinned type', () => {
    expect(hostKeyTypes(['rsa-sha2-512', 'rsa-sha2-256', 'ecdsa-sha2-nistp256', 'ssh-ed25519'])).toEqual(['ssh-rsa', 'ecdsa-sha2-nistp256', 'ssh-ed25519']);
    expect(describeHostKeyTypeMismatch('u@h:22', ['ssh-ed25519'], parseHostKeyPins('p', `ssh-rsa ${ED25519_FP}`), 'host-fingerprints')).toBe(
      'u@h:22 has ssh-ed25519 host keys, and `host-fingerprints` pins only ssh-rsa keys for it: pin its ssh-ed25519 key ' + '(on the host: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub).',
    );
  });

  it('writes the known_hosts line that pins a seen key to its host and port', () => {
    const key = { keyType: 'ssh-ed25519', fingerprint: ED25519_FP, publicKey: ED25519 };
    expect(knownHostsLine('10.0.0.1', 2222, key)).toBe(`[10.0.0.1]:2222 ssh-ed25519 ${ED25519}`);
    expect(knownHostsLine('web', 22, key)).toBe(`web ssh-ed25519 ${ED25519}`);
    const [pin] = parseHostKeyPins('p', knownHostsLine('10.0.0.1', 2222, key));
    expect(verifyHostKey([pin], '10.0.0.1', 2222, ed).ok).toBe(true);
  });
});
