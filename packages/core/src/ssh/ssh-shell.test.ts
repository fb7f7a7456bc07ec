import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server } from 'ssh2';
import { parseHostKeyPins } from './host-keys.js';
import { parsePrivateKey } from './private-key.js';
import { SshConnectError, SshShell, remoteCommandLine } from './ssh-shell.js';

describe('ssh-shell', () => {
  it('builds an exec command line that a POSIX shell runs literally, cwd and env included', () => {
    const line = remoteCommandLine({ args: ['printf', '%s|%s|%s\\n', '$HOME', "it's", '$(id)'], cwd: '/tmp/a dir', env: { GREETING: 'hi there', EMPTY: '' } });
    expect(line).toBe("cd '/tmp/a dir' && env 'GREETING=hi there' EMPTY= printf '%s|%s|%s\\n' '$HOME' 'it'\\''s' '$(id)'");
    const env = remoteCommandLine({ args: ['sh', '-c', 'echo "$GREETING/$EMPTY/$(pwd)"'], cwd: '/tmp', env: { GREETING: 'a;b' } });
    expect(spawnSync('sh', ['-c', env], { encoding: 'utf8' }).stdout).toBe('a;b///tmp\n');
    expect(() => remoteCommandLine({ args: ['true'], env: { 'BAD NAME': 'x' } })).toThrow('invalid environment variable name');
  });

  it('tries a refused connection again with backoff, then fails with a connect-phase error', async () => {
    // A port that was just free: connections to it are refused.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));

    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const key = parsePrivateKey('ssh-key', privateKey, '', 'ssh-key-passphrase');
    const waits: number[] = [];
    const warnings: string[] = [];
    const connecting = SshShell.connect({
      endpoint: { host: { user: 'u', host: '127.0.0.1', port, label: `u@127.0.0.1:${port}` }, key, hostKeys: [], hostKeysInput: 'host-fingerprints' },
      insecureSkipHostKeyCheck: false,
      connectTimeoutMs: 5_000,
      commandTimeoutMs: 5_000,
      connectRetries: 3,
      retryDelayMs: 1_000,
      sleep: async (ms) => void waits.push(ms),
      log: { info: () => {}, warning: (m) => warnings.push(m) },
    });
    await expect(connecting).rejects.toThrow(SshConnectError);
    await expect(connecting).rejects.toMatchObject({ phase: 'connect', retryable: true, message: expect.stringContaining('ECONNREFUSED') });
    expect(waits).toEqual([1_000, 2_000]);
    expect(warnings[0]).toContain(`u@127.0.0.1:${port}: connection attempt 1 of 3 failed`);
  });

  it('does not retry a server that is not an SSH server past the handshake timeout budget', async () => {
    // Accepts and says nothing: the handshake times out, which is a connect-phase failure.
    const sockets: import('node:net').Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    try {
      const connecting = SshShell.connect({
        endpoint: { host: { user: 'u', host: '127.0.0.1', port, label: 'silent' }, key: parsePrivateKey('k', privateKey, '', 'p'), hostKeys: [], hostKeysInput: 'host-fingerprints' },
        insecureSkipHostKeyCheck: false,
        connectTimeoutMs: 300,
        commandTimeoutMs: 1_000,
        connectRetries: 1,
        log: { info: () => {}, warning: () => {} },
      });
      await expect(connecting).rejects.toMatchObject({ phase: 'handshake', retryable: true });
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('names the key type the host has when a pin is of another type', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-hostkey-'));
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host')]);
    const server = new Server({ hostKeys: [readFileSync(join(dir, 'host'))] }, (client) => client.on('error', () => {}));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    try {
      const connecting = SshShell.connect({
        endpoint: {
          host: { user: 'u', host: '127.0.0.1', port, label: 'h1' },
          key: parsePrivateKey('k', privateKey, '', 'p'),
          hostKeys: parseHostKeyPins('host-fingerprints', 'ssh-rsa SHA256:YM5uzrYXRF94lPFDSherNITUFDGVX2fIpASmSvVb0BI'),
          hostKeysInput: 'host-fingerprints',
        },
        insecureSkipHostKeyCheck: false,
        connectTimeoutMs: 5_000,
        commandTimeoutMs: 5_000,
        connectRetries: 1,
        log: { info: () => {}, warning: () => {} },
      });
      await expect(connecting).rejects.toMatchObject({
        phase: 'host-key',
        retryable: false,
        message: 'h1 has ssh-ed25519 host keys, and `host-fingerprints` pins only ssh-rsa keys for it: pin its ssh-ed25519 key (on the host: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub).',
      });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('authenticates with the key alone: no `none` attempt, a round trip spent before it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-auth-'));
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host')]);
    const attempts: string[] = [];
    const server = new Server({ hostKeys: [readFileSync(join(dir, 'host'))] }, (client) => {
      client.on('error', () => {});
      client.on('authentication', (ctx) => {
        // The key's query first (no signature), then its signed attempt.
        attempts.push(ctx.method === 'publickey' ? `publickey${ctx.signature ? ' signed' : ''}` : ctx.method);
        if (ctx.method === 'publickey') ctx.accept();
        else ctx.reject(['publickey']);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    try {
      const shell = await SshShell.connect({
        endpoint: { host: { user: 'u', host: '127.0.0.1', port, label: 'h1' }, key: parsePrivateKey('k', privateKey, '', 'p'), hostKeys: [], hostKeysInput: 'host-fingerprints' },
        insecureSkipHostKeyCheck: true,
        connectTimeoutMs: 5_000,
        commandTimeoutMs: 5_000,
        connectRetries: 1,
        log: { info: () => {}, warning: () => {} },
      });
      await shell.close();
      expect(attempts).toEqual(['publickey', 'publickey signed']);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
