/**
 * ec2-deploy's SSH side end to end, through the committed bundle against the sandbox hosts' real
 * sshd: script mode on two hosts, every key form users paste, host key pinning failing closed
 * (before authentication), a jump host, and input errors caught before any connection.
 */
import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mustExec } from './support/exec.js';
import { connectionInputs, countingListener, ec2Deploy, hostAddress, logGroups, SshdLog } from './support/ec2-deploy.js';
import { loadSandbox, type Sandbox, type SandboxHost } from './support/sandbox.js';

// Each test runs the bundle one or more times against real sshd and dockerd: minutes, not seconds.
jest.setTimeout(180_000);

let sandbox: Sandbox;
let hosts: SandboxHost[];

/** A fresh ed25519 key that no host authorizes, and its fingerprint as sshd logs it. */
function unauthorizedKey(): { key: string; fingerprint: string } {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-key-'));
  mustExec(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')]);
  const fingerprint = mustExec(['ssh-keygen', '-lf', join(dir, 'id.pub')]).split(' ')[1];
  return { key: readFileSync(join(dir, 'id'), 'utf8'), fingerprint };
}

beforeAll(() => {
  sandbox = loadSandbox();
  hosts = sandbox.hosts.slice(0, 2);
  if (hosts.length < 2) throw new Error('these tests need two sandbox hosts (test/sandbox/up.sh --hosts 2)');
});

describe('ec2-deploy (SSH)', () => {
  it('runs a script on two hosts at once, each on its own engine, with logs grouped per host', async () => {
    const result = await ec2Deploy({
      ...connectionInputs(sandbox, hosts),
      script: 'echo "on $(id -un) with $DOCKER_HOST"\necho "greeting: $GREETING"\necho to-stderr >&2',
      env: 'GREETING=hello there',
    });
    expect(result.errors).toEqual([]);
    expect(result.exitCode).toBe(0);

    const results = JSON.parse(result.outputs.results) as Array<Record<string, unknown>>;
    expect(results.map((r) => [r.host, r.ok, r.mode])).toEqual(hosts.map((h) => [hostAddress(h), true, 'script']));
    for (const [i, host] of hosts.entries()) {
      expect(results[i].stdout).toBe(`on ${host.user} with ${host.dockerHost}\ngreeting: hello there\n`);
      expect(results[i].hostKey).toBe(host.hostKeyFingerprint);
      expect(result.outputs.stdout).toContain(`==> ${hostAddress(host)} <==\non ${host.user} with ${host.dockerHost}\n`);
    }
    expect(result.outputs['host-fingerprints'].split('\n').sort()).toEqual(hosts.map((h) => h.knownHostsLine).sort());

    // One group per host, holding that host's lines and no other's.
    const groups = logGroups(result.log);
    for (const host of hosts) {
      const mine = groups.filter((g) => g.title.startsWith(hostAddress(host)));
      expect(mine).toHaveLength(1);
      expect(mine[0].lines.join('\n')).toContain(`on ${host.user} with ${host.dockerHost}`);
      expect(mine[0].lines.join('\n')).toContain('to-stderr');
      const others = hosts.filter((h) => h !== host);
      for (const other of others) expect(mine[0].lines.join('\n')).not.toContain(`on ${other.user} `);
    }
    expect(result.summary).toContain(hostAddress(hosts[0]));
  });

  it.each([
    ['raw ed25519', () => sandbox.keys.ed25519, (text: string) => text],
    ['base64-encoded ed25519', () => sandbox.keys.ed25519, (text: string) => Buffer.from(text).toString('base64')],
    ['ed25519 with literal \\n escapes and CRLF', () => sandbox.keys.ed25519, (text: string) => text.trim().replace(/\n/g, '\\r\\n')],
    ['passphrase-protected ed25519', () => sandbox.keys.ed25519Passphrase.path, (text: string) => text],
    ['RSA PEM', () => sandbox.keys.rsaPem, (text: string) => text],
  ])('authenticates with a %s key, and masks it', async (_, file, encode) => {
    const text = readFileSync(file(), 'utf8');
    const passphrase = file() === sandbox.keys.ed25519Passphrase.path ? sandbox.keys.ed25519Passphrase.passphrase : '';
    const result = await ec2Deploy({ ...connectionInputs(sandbox, [hosts[0]]), 'ssh-key': encode(text), 'ssh-key-passphrase': passphrase, script: 'echo authenticated' });
    expect(result.errors).toEqual([]);
    expect(result.outputs.stdout).toBe('authenticated\n');
    expect(result.masked).toContain(text.split('\n')[1]);
    if (passphrase) expect(result.masked).toContain(passphrase);
  });

  it('refuses a host whose key matches none pinned, before authenticating', async () => {
    const host = hosts[0];
    const fresh = unauthorizedKey();
    const sshd = new SshdLog(host);
    const wrong = await ec2Deploy({
      hosts: hostAddress(host),
      'ssh-key': fresh.key,
      // h2's key pinned for h1: a real key, just not this host's.
      'host-fingerprints': hosts[1].hostKeyFingerprint,
      'connect-retries': '3',
      script: 'echo never',
    });
    expect(wrong.exitCode).toBe(1);
    expect(wrong.errors.join('\n')).toContain(`${hostAddress(host)} presented the host key ssh-ed25519 ${host.hostKeyFingerprint}, which matches none pinned`);
    // Not retried: a wrong host key is no transient failure.
    expect(wrong.log).not.toContain('connection attempt 1 of 3 failed');
    // sshd logs every public key a client offers ("Failed publickey … <fingerprint>"): it saw none.
    expect(sshd.since()).not.toContain(fresh.fingerprint);

    // The control: the same key with the right pin does reach authentication, and sshd logs it.
    const control = await ec2Deploy({ hosts: hostAddress(host), 'ssh-key': fresh.key, 'host-fingerprints': host.hostKeyFingerprint, script: 'echo never' });
    expect(control.errors.join('\n')).toContain(`${hostAddress(host)}: authentication failed: the host refused the key ssh-ed25519 ${fresh.fingerprint}`);
    expect(sshd.since()).toContain(`Failed publickey for ${host.user} from ${sandbox.runnerAddress}`);
    expect(sshd.since()).toContain(fresh.fingerprint);
  });

  it('fails with the fingerprint to pin when the host has none pinned, and logs and outputs it when told to skip the check', async () => {
    const host = hosts[0];
    const missing = await ec2Deploy({ hosts: hostAddress(host), 'ssh-key': readFileSync(sandbox.keys.ed25519, 'utf8'), script: 'echo never' });
    expect(missing.exitCode).toBe(1);
    const message = missing.errors.join('\n');
    expect(message).toContain(`${hostAddress(host)}: no pinned host key for this host in \`host-fingerprints\``);
    expect(message).toContain(`add ${host.hostKeyFingerprint} to \`host-fingerprints\``);

    // known_hosts lines pin per host: h2's line does not vouch for h1.
    const otherLine = await ec2Deploy({
      hosts: hostAddress(host),
      'ssh-key': readFileSync(sandbox.keys.ed25519, 'utf8'),
      'host-fingerprints': hosts[1].knownHostsLine,
      script: 'echo never',
    });
    expect(otherLine.errors.join('\n')).toContain(`add ${host.hostKeyFingerprint} to \`host-fingerprints\``);

    const insecure = await ec2Deploy({
      hosts: hostAddress(host),
      'ssh-key': readFileSync(sandbox.keys.ed25519, 'utf8'),
      'insecure-skip-host-key-check': 'true',
      script: 'echo reached',
    });
    expect(insecure.exitCode).toBe(0);
    expect(insecure.log).toContain(`host key NOT verified (insecure-skip-host-key-check); it presented ssh-ed25519 ${host.hostKeyFingerprint}`);
    expect(insecure.outputs['host-fingerprints']).toBe(host.knownHostsLine);
  });

  it('accepts pins as fingerprints, typed fingerprints, ssh-keygen -lf lines and known_hosts lines', async () => {
    const [h1, h2] = hosts;
    const keygen = mustExec(['sh', '-c', `echo '${h1.knownHostsLine}' | ssh-keygen -lf -`]);
    for (const pins of [`${h1.hostKeyFingerprint}, ${h2.hostKeyFingerprint}`, `ssh-ed25519 ${h1.hostKeyFingerprint}\n${h2.knownHostsLine}`, `${keygen}\n# a comment\n${h2.hostKeyFingerprint}`]) {
      const result = await ec2Deploy({ ...connectionInputs(sandbox, hosts), 'host-fingerprints': pins, script: 'true' });
      expect(result.errors).toEqual([]);
    }
  });

  it('connects through a jump host with its own pinned key', async () => {
    const [jump, target] = hosts;
    const jumpLog = new SshdLog(jump);
    const result = await ec2Deploy({
      ...connectionInputs(sandbox, [target]),
      'jump-host': hostAddress(jump),
      'jump-ssh-key': readFileSync(sandbox.keys.rsaPem, 'utf8'),
      'jump-host-fingerprints': jump.knownHostsLine,
      script: 'echo "$(id -un) via jump"',
    });
    expect(result.errors).toEqual([]);
    expect(result.outputs.stdout).toBe(`${target.user} via jump\n`);
    expect(result.log).toContain(`Connected to ${hostAddress(target)} through ${hostAddress(jump)}`);
    // The jump host authenticated the RSA key and opened a TCP channel to the target's sshd.
    expect(jumpLog.since()).toMatch(new RegExp(`Accepted publickey for ${jump.user} .* RSA SHA256:`));

    const wrongJumpPin = await ec2Deploy({
      ...connectionInputs(sandbox, [target]),
      'jump-host': hostAddress(jump),
      'jump-host-fingerprints': target.hostKeyFingerprint,
      script: 'echo never',
    });
    expect(wrongJumpPin.errors.join('\n')).toContain(`${hostAddress(jump)} presented the host key ssh-ed25519 ${jump.hostKeyFingerprint}, which matches none pinned in \`jump-host-fingerprints\``);
  });

  it("caps the script's outputs below GitHub's 1 MB, keeping the end and all of it in the log, a failed script's too", async () => {
    // 3 MB of numbered lines, then a failure: the end, where the failure shows, is what the outputs keep.
    const script = 'seq -f "line %07g of a long build log" 1 90000\necho last words\nexit 3';
    const result = await ec2Deploy({ ...connectionInputs(sandbox, [hosts[0]]), script });
    expect(result.exitCode).toBe(1);
    expect(result.errors.join('\n')).toContain('the script exited with code 3');
    expect(result.log).toContain('line 0000001 of a long build log');
    expect(result.log).toContain('line 0090000 of a long build log');
    const stdout = result.outputs.stdout;
    expect(stdout.length).toBeLessThanOrEqual(100_000);
    expect(stdout).toMatch(/line 0090000 of a long build log\nlast words\n?$/);
    expect(stdout).not.toContain('line 0000001 of');
    expect((JSON.parse(result.outputs.results) as { stdout: string }[])[0].stdout).toBe(stdout);
    expect(result.raw).toMatch(/^::notice::.*the `stdout` and `results` outputs hold its last/m);
  });

  it('fails a script at its first failing command (set -euo pipefail), and counts a command killed by a signal as a failure', async () => {
    const failing = await ec2Deploy({ ...connectionInputs(sandbox, [hosts[0]]), script: 'echo before\nfalse | cat\necho after' });
    expect(failing.exitCode).toBe(1);
    expect(failing.log).toContain('before');
    expect(failing.log).not.toMatch(/^after$/m);
    expect(failing.errors.join('\n')).toContain('the script exited with code 1');

    const killed = await ec2Deploy({ ...connectionInputs(sandbox, [hosts[0]]), script: 'echo dying\nkill -KILL $$' });
    expect(killed.exitCode).toBe(1);
    expect(killed.errors.join('\n')).toMatch(/the script (was killed by SIGKILL|exited with code 137)/);

    const timedOut = await ec2Deploy({ ...connectionInputs(sandbox, [hosts[0]]), script: 'sleep 987', 'command-timeout': '2s' });
    expect(timedOut.exitCode).toBe(1);
    expect(timedOut.errors.join('\n')).toContain('the script timed out');
    // The timeout reached the host: sshd signalled the command's process group, nothing is left running.
    expect(
      mustExec(['ps', '-eo', 'args'])
        .split('\n')
        .filter((line) => line.startsWith('sleep 987')),
    ).toEqual([]);
  });

  it('retries a refused connection with backoff, then fails the host', async () => {
    const closed = await countingListener();
    await closed.close(); // nothing listens on this port any more: connections are refused
    const result = await ec2Deploy({
      hosts: `deploy1@127.0.0.1:${closed.port}`,
      'ssh-key': readFileSync(sandbox.keys.ed25519, 'utf8'),
      'host-fingerprints': hosts[0].hostKeyFingerprint,
      'connect-retries': '2',
      script: 'true',
    });
    expect(result.exitCode).toBe(1);
    expect(result.log).toContain(`deploy1@127.0.0.1:${closed.port}: connection attempt 1 of 2 failed`);
    expect(result.errors.join('\n')).toContain('ECONNREFUSED');
  });

  it.each([
    [{ hosts: 'deploy1@127.0.0.1:99999' }, 'Input `hosts`: "99999" is not a port'],
    [{ hosts: 'bad host name' }, 'Input `hosts`'],
    [{ 'connect-timeout': 'soon' }, 'Input `connect-timeout`: "soon" is not a duration'],
    [{ 'health-timeout': '5 minutes' }, 'Input `health-timeout`'],
    [{ env: 'NOT A PAIR' }, 'Input `env`: line 1 has no "="'],
    [{ image: '127.0.0.1:5000/Slipway/App:v1' }, 'Input `image`: "Slipway/App" has uppercase letters'],
    [{ image: '127.0.0.1:5000/slipway/app:v1', script: 'echo hi' }, 'Input `script`: and `image` are both set'],
    [{ 'ssh-key': readFileSync('/var/tmp/slipway-sandbox/keys/id_ed25519.pub', 'utf8') }, 'Input `ssh-key`: is a public key'],
    [{ 'ssh-key': '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n' }, 'Input `ssh-key`: is a PKCS#8 key'],
    [{ 'ssh-key': 'PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n' }, 'Input `ssh-key`: is a PuTTY (.ppk) key'],
    [{ 'ssh-key-passphrase': '' }, 'Input `ssh-key-passphrase`: is empty, but `ssh-key` is encrypted'],
    [{ 'host-fingerprints': 'MD5:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff' }, 'Input `host-fingerprints`: line 1 is an MD5 fingerprint'],
    [{ ports: '80:eighty' }, 'Input `ports`'],
    [{ 'max-parallel': '-1' }, 'Input `max-parallel`'],
  ])('refuses %j naming the input, before connecting to anything', async (inputs, message) => {
    const listener = await countingListener();
    try {
      const encrypted = 'ssh-key-passphrase' in inputs ? { 'ssh-key': readFileSync(sandbox.keys.ed25519Passphrase.path, 'utf8') } : {};
      const result = await ec2Deploy({
        hosts: `deploy1@127.0.0.1:${listener.port}`,
        'ssh-key': readFileSync(sandbox.keys.ed25519, 'utf8'),
        'host-fingerprints': hosts[0].hostKeyFingerprint,
        image: `${sandbox.registry.host}/slipway-tests/ec2-app:v1`,
        ...encrypted,
        ...inputs,
      });
      expect(result.exitCode).toBe(1);
      expect(result.errors.join('\n')).toContain(message);
      expect(listener.connections()).toBe(0);
    } finally {
      await listener.close();
    }
  });
});
