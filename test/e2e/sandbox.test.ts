/**
 * The sandbox itself, as the other end-to-end tests rely on it: each host a machine of its own on
 * one subnet (a network namespace), whose engine can restart or crash without touching the
 * runner's; hosts that reach each other and the registry and nothing else; and the network tools
 * of test/sandbox/host.sh (cut a host off, add latency in front of its sshd). Uses h3, the host the
 * hardening suites may break, so that the others' containers are left alone.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec, mustExec, type Exec } from './support/exec.js';
import { hostDocker } from './support/ec2-deploy.js';
import { faultHost, sandboxScript } from './support/hardening.js';
import { repoRoot } from './support/run-action.js';
import type { Sandbox, SandboxHost } from './support/sandbox.js';

jest.setTimeout(180_000);

let sandbox: Sandbox;
let host: SandboxHost;
let index: string;

/** `ssh -p port user@address CMD` as the host's user, with the sandbox key and the host's key pinned. */
function ssh(address: string, port: number, command: string): Exec {
  const knownHosts = join(mkdtempSync(join(tmpdir(), 'slipway-kh-')), 'known_hosts');
  // The relay listens on 127.0.0.1: the same host key, known under the address dialled.
  writeFileSync(knownHosts, `${port === 22 ? address : `[${address}]:${port}`} ${host.knownHostsLine.split(' ').slice(1).join(' ')}\n`);
  try {
    const result = exec([
      'ssh',
      '-F',
      'none',
      '-i',
      sandbox.keys.ed25519,
      '-p',
      String(port),
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      `UserKnownHostsFile=${knownHosts}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'ConnectTimeout=3',
      '-o',
      'LogLevel=ERROR',
      `${host.user}@${address}`,
      command,
    ]);
    return { ...result, stdout: result.stdout.trim() };
  } finally {
    rmSync(knownHosts, { force: true });
  }
}

/** A command in the host's network namespace, as root (what the host itself can reach). */
function onHost(...command: string[]): Exec {
  return exec(['bash', join(repoRoot, 'test/sandbox/host.sh'), 'exec', index, ...command]);
}

beforeAll(() => {
  ({ sandbox, host, index } = faultHost());
});

afterAll(() => {
  sandboxScript('host.sh', 'reconnect', index);
  sandboxScript('host.sh', 'undelay', index);
  sandboxScript('host.sh', 'start-docker', index);
});

describe('sandbox hosts', () => {
  it("leave the runner's engine working when their engines restart or crash: docker build with RUN and docker run", () => {
    const context = mkdtempSync(join(tmpdir(), 'slipway-runner-build-'));
    writeFileSync(join(context, 'Dockerfile'), `FROM ${sandbox.baseImage}\nRUN echo built-after-host-restart >/built\nCMD ["cat", "/built"]\n`);
    const tag = 'slipway-tests/runner-after-host-restart:1';
    try {
      for (const fault of [['restart-docker'], ['kill-docker', 'start-docker']]) {
        for (const action of fault) sandboxScript('host.sh', action, index);
        expect(hostDocker(host, 'info', '--format', '{{.ServerVersion}}')).not.toBe('');
        // Right after: a build whose RUN step needs the runner's default bridge, then a container on it.
        mustExec(['docker', 'build', '-q', '-t', tag, context], { env: { DOCKER_BUILDKIT: '0' } });
        expect(mustExec(['docker', 'run', '--rm', tag])).toBe('built-after-host-restart');
      }
    } finally {
      exec(['docker', 'image', 'rm', tag]);
      rmSync(context, { recursive: true, force: true });
    }
  });

  it('reach each other and the registry, and nothing beyond the subnet', () => {
    const routes = onHost('ip', '-4', 'route', 'show');
    expect(routes.status).toBe(0);
    // Only the subnet (and the host engine's own bridges): no default route out.
    expect(routes.stdout).not.toMatch(/^default/m);
    expect(routes.stdout).toContain(`dev eth0 proto kernel scope link src ${host.address}`);
    for (const other of sandbox.hosts.filter((h) => h.name !== host.name)) {
      expect(onHost('bash', '-c', `: </dev/tcp/${other.address}/22`).status).toBe(0);
    }
    const [registryAddress, registryPort] = sandbox.registry.host.split(':');
    expect(onHost('bash', '-c', `: </dev/tcp/${registryAddress}/${registryPort}`).status).toBe(0);
    // A mistaken pull from the internet fails at once on a host: no route, no outside DNS.
    const pull = exec(['docker', '-H', host.dockerHost, 'pull', 'ghcr.io/slipway-dev/not-here:1']);
    expect(pull.status).not.toBe(0);
    expect(pull.stderr).toMatch(/network is unreachable/);
  });

  it('can be cut off the network and brought back (host.sh disconnect / reconnect)', () => {
    expect(ssh(host.address, 22, 'echo up').stdout).toBe('up');
    sandboxScript('host.sh', 'disconnect', index);
    try {
      const cut = ssh(host.address, 22, 'echo never');
      expect(cut.status).toBe(255);
      // The host itself runs on: its engine still answers on its socket.
      expect(hostDocker(host, 'info', '--format', '{{.Swarm.LocalNodeState}}')).not.toBe('');
    } finally {
      sandboxScript('host.sh', 'reconnect', index);
    }
    expect(ssh(host.address, 22, 'echo back').stdout).toBe('back');
  });

  it("add latency in front of a host's sshd with a relay (host.sh delay), the same host behind it", () => {
    sandboxScript('host.sh', 'delay', index, '100');
    try {
      const through = ssh('127.0.0.1', host.delayPort, 'docker info --format "{{.DockerRootDir}}"');
      expect(through.stderr).toBe('');
      expect(through.stdout).toBe(host.dataRoot);
      expect(readFileSync(join(sandbox.stateDir, 'relays', `h${index}.log`), 'utf8')).toContain(`127.0.0.1:${host.delayPort} -> ${host.address}:22, +100 ms a round trip`);
    } finally {
      sandboxScript('host.sh', 'undelay', index);
    }
    expect(ssh('127.0.0.1', host.delayPort, 'true').status).toBe(255);
  });
});
