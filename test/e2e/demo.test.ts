/**
 * `pnpm demo` (scripts/demo.ts) end to end: the README's main job, run as a user runs it, twice and
 * then with --rollback, in both deploy modes; the service it deploys on the sandbox hosts must answer
 * with the page of the right release each time. Its own state directory keeps its run numbers apart
 * from a developer's demo runs; the hosts, ports and projects are the demo's (not other tests').
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec } from './support/exec.js';
import { node24, repoRoot } from './support/run-action.js';
import { loadSandbox, type Sandbox } from './support/sandbox.js';

interface DemoOutput {
  exitCode: number;
  output: string;
  /** `==> answers: <url>` lines: where the service answers, one URL a host. */
  urls: string[];
  /** `==> stamp: release: run N at <time>`: the page this run deployed. */
  stamp: string;
}

let sandbox: Sandbox;
let stateDir: string;

function demo(...args: string[]): Promise<DemoOutput> {
  return new Promise((resolve) => {
    const child = spawn(node24, ['--import', './scripts/register-ts.mjs', 'scripts/demo.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, SLIPWAY_DEMO_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('close', (code) =>
      resolve({
        exitCode: code ?? 1,
        output,
        urls: [...output.matchAll(/^==> answers: (\S+)$/gm)].map((m) => m[1]),
        stamp: /^==> stamp: (release: run \d+ at \S+)$/m.exec(output)?.[1] ?? '',
      }),
    );
  });
}

/** What each host's service answers, fetched here (not taken from the demo's own output). */
function pages(urls: readonly string[]): string[] {
  return urls.map((url) => {
    const result = exec(['curl', '-sS', '--max-time', '10', url]);
    return result.status === 0 ? result.stdout : `(no answer from ${url}: ${result.stderr})`;
  });
}

function expectSucceeded(run: DemoOutput): void {
  expect({ exitCode: run.exitCode, tail: run.exitCode === 0 ? '' : run.output.slice(-4000) }).toEqual({ exitCode: 0, tail: '' });
  // Secrets given to the actions as inputs are never printed.
  expect(run.output).not.toContain(sandbox.registry.password);
  expect(run.output).not.toContain(readFileSync(sandbox.keys.ed25519, 'utf8').split('\n')[1]);
}

beforeAll(() => {
  sandbox = loadSandbox();
  stateDir = mkdtempSync(join(tmpdir(), 'slipway-demo-test-'));
});

afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe('scripts/demo.ts', () => {
  for (const mode of ['compose', 'container'] as const) {
    it(`deploys twice and rolls back (--mode ${mode}), the service answering with each release`, async () => {
      const first = await demo('--mode', mode);
      expectSucceeded(first);
      expect(first.stamp).toMatch(/^release: run \d+ at /);
      expect(first.urls).toHaveLength(2);
      // One URL a host, each at the host's own address and all on the same port.
      expect(first.urls).toEqual(sandbox.hosts.slice(0, 2).map((h) => `http://${h.address}${mode === 'compose' ? '' : ':8080'}/`));
      for (const page of pages(first.urls)) expect(page).toContain(first.stamp);
      // Each step's outputs and job summary are printed; build-push's image-ref went to the deploy step.
      const imageRef = /^ {6}image-ref: (\S+@sha256:[0-9a-f]{64})$/m.exec(first.output)?.[1];
      expect(imageRef).toBeDefined();
      expect(first.output).toContain(mode === 'compose' ? `images: app=${imageRef}` : `image: ${imageRef}`);
      expect(first.output).toContain('job summary (GITHUB_STEP_SUMMARY):');
      if (mode === 'compose') expect(first.output).toContain('through slipway-example-proxy');

      const second = await demo('--mode', mode);
      expectSucceeded(second);
      expect(second.stamp).not.toBe(first.stamp);
      for (const page of pages(second.urls)) expect(page).toContain(second.stamp);
      expect(second.output).toContain('==> release history on the hosts (over SSH)');

      const rollback = await demo('--mode', mode, '--rollback');
      expectSucceeded(rollback);
      expect(rollback.output).not.toContain('==> job build');
      for (const page of pages(rollback.urls)) expect(page).toContain(first.stamp);
    }, 900_000);
  }
});
