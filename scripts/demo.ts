/**
 * `pnpm demo`: Slipway's pipeline end to end on this machine, as a `workflow_dispatch` run of
 * .github/workflows/deploy.yml would run it, against the sandbox standing in for GHCR and EC2:
 *
 *   job build:  build-push  (examples/web/app → the sandbox registry)      output image-ref
 *   job deploy: compose-up  (examples/web: proxy + app, on every host)     image-ref → images: app=…
 *           or: ec2-deploy  (--mode container: the app alone, on every host)
 *
 * The committed bundles (actions/<name>/dist/index.js) run under Node 24 exactly as the runner
 * runs them (test/e2e/support/run-action.ts: INPUT_* variables, GITHUB_OUTPUT, GITHUB_STATE,
 * GITHUB_STEP_SUMMARY, an event payload, then the post step). Each run is a new "commit": the app's
 * page is stamped with the run number and time, so a second run deploys a changed image.
 *
 * Usage (as root on Debian or Ubuntu, after `bash scripts/setup.sh`):
 *   pnpm demo [--mode compose|container] [--rollback] [--hosts N]
 *
 * The sandbox's hosts are separate machines on one subnet (10.210.0.11, .12, ...): one deploy step
 * reaches them all, and the service answers on the same port at each host's address (80 in compose
 * mode, 8080 in container mode). The demo's own record of its runs is /var/tmp/slipway-demo/state.json.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectionInputs, hostAddress } from '../test/e2e/support/ec2-deploy.js';
import { repoRoot, runAction, type ActionResult, type GitHubContext, type RunOptions } from '../test/e2e/support/run-action.js';
import { loadSandbox, type Sandbox, type SandboxHost } from '../test/e2e/support/sandbox.js';

type Mode = 'compose' | 'container';

interface Options {
  mode: Mode;
  rollback: boolean;
  hosts: number;
}

interface DemoRun {
  number: number;
  time: string;
  mode: Mode;
  rollback: boolean;
  /** The image this run deployed (build-push's image-ref, or the release rolled back to). */
  imageRef: string;
  stamp: string;
  ok: boolean;
}

interface DemoState {
  runs: DemoRun[];
}

const stateDir = process.env.SLIPWAY_DEMO_DIR ?? '/var/tmp/slipway-demo';
const stateFile = join(stateDir, 'state.json');
/** The repository the demo deploys from, as build-push would see it on GitHub. */
const repository = 'slipway-dev/slipway-demo';
/** Container name (container mode) and compose project (compose mode) on the hosts. */
const appName = 'slipway-demo';
/** The port the service answers on at every host's address: compose's proxy on 80, as on EC2. */
const servicePort: Record<Mode, number> = { compose: 80, container: 8080 };
/** What the demo needs on PATH, and the Debian package that brings it (scripts/setup.sh installs them). */
const needed: Record<string, string> = {
  docker: 'docker.io',
  'docker-compose': 'docker-compose',
  'docker-registry': 'docker-registry',
  sshd: 'openssh-server',
  ssh: 'openssh-client',
  busybox: 'busybox-static',
  htpasswd: 'apache2-utils',
  curl: 'curl',
};

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const say = (text = '') => console.log(text);

class DemoError extends Error {}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { mode: 'compose', rollback: false, hosts: 2 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    if (flag === '--mode') {
      const mode = value();
      if (mode !== 'compose' && mode !== 'container') throw new DemoError(`--mode is compose or container, not "${mode}"`);
      options.mode = mode;
    } else if (flag === '--rollback') options.rollback = true;
    else if (flag === '--hosts') {
      options.hosts = Number(value());
      if (!Number.isInteger(options.hosts) || options.hosts < 1 || options.hosts > 8) throw new DemoError('--hosts is 1 to 8');
    } else if (flag === '--help' || flag === '-h') {
      say('usage: pnpm demo [--mode compose|container] [--rollback] [--hosts N]');
      process.exit(0);
    } else throw new DemoError(`unknown argument "${argv[i]}" (try --help)`);
  }
  return options;
}

/** Root on Debian or Ubuntu with the set-up done; otherwise say exactly what is missing. */
function preflight(): void {
  const problems: string[] = [];
  if (!existsSync('/etc/debian_version') || !existsSync('/usr/bin/apt-get')) {
    problems.push("a Debian or Ubuntu machine (the sandbox uses Debian's docker.io, docker-registry and openssh-server packages)");
  }
  if (process.getuid?.() !== 0) {
    problems.push('root (sudo pnpm demo): the sandbox starts dockerd, sshd and a registry and adds the deploy users');
  }
  const missing = Object.entries(needed).filter(
    ([command]) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } }).status !== 0,
  );
  if (missing.length) {
    problems.push(`${missing.map(([command, pkg]) => `${command} (${pkg})`).join(', ')}: run \`sudo bash scripts/setup.sh\`, which installs them`);
  }
  if (problems.length) throw new DemoError(`pnpm demo needs:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}

/** test/sandbox/up.sh, idempotent: starts what is down, repairs what broke, rewrites sandbox.json. */
function sandboxUp(options: Options): Sandbox {
  // up.sh keeps the hosts it made before: asking for ours never takes one away from other runs.
  say(bold(`==> sandbox: bash test/sandbox/up.sh --hosts ${options.hosts}`));
  const up = spawnSync('bash', [join(repoRoot, 'test/sandbox/up.sh'), '--hosts', String(options.hosts)], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (up.status !== 0) throw new DemoError(`test/sandbox/up.sh failed (${up.status}):\n${up.stderr}${up.stdout}`);
  const sandbox = loadSandbox();
  say(`    registry ${sandbox.registry.host} (standing in for ghcr.io); hosts ${sandbox.hosts.slice(0, options.hosts).map(hostAddress).join(', ')}`);
  return sandbox;
}

function loadState(): DemoState {
  return existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as DemoState) : { runs: [] };
}

function saveState(state: DemoState): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);
}

/** The checkout: this repository's examples/, with the app's page stamped for this run. */
function checkout(runNumber: number, stamp: string): string {
  const workspace = join(stateDir, 'workspace');
  rmSync(workspace, { recursive: true, force: true });
  mkdirSync(workspace, { recursive: true });
  cpSync(join(repoRoot, 'examples'), join(workspace, 'examples'), { recursive: true });
  const page = join(workspace, 'examples/web/app/www/index.html');
  writeFileSync(page, readFileSync(page, 'utf8').replace(/^release: .*$/m, stamp));
  say(`    workspace ${workspace} (examples/ of this repository, run ${runNumber}: "${stamp}")`);
  return workspace;
}

/** Prints one step the way a run's page shows it: its log, its outputs, its job summary. */
function printStep(title: string, inputs: Record<string, string>, secrets: readonly string[], result: ActionResult): void {
  say();
  say(bold(`==> step: ${title}`));
  say('    with:');
  for (const [name, value] of Object.entries(inputs)) {
    const shown = secrets.includes(name) ? '***' : value.includes('\n') ? `|\n${value.replace(/^/gm, '          ')}` : value;
    say(`      ${name}: ${shown}`);
  }
  say('    log:');
  say(renderLogForTerminal(result.log).replace(/^/gm, '      '));
  say(`    exit code ${result.exitCode}`);
  say('    outputs (GITHUB_OUTPUT):');
  for (const [name, value] of Object.entries(result.outputs)) say(`      ${name}: ${value.includes('\n') ? `\n${value.replace(/^/gm, '        ')}` : value}`);
  if (result.summary.trim()) {
    say('    job summary (GITHUB_STEP_SUMMARY):');
    say(renderMarkdownForTerminal(result.summary).replace(/^/gm, '      '));
  }
}

/** Workflow commands as the runner's log viewer shows them: groups as headings, annotations labelled. */
export function renderLogForTerminal(log: string): string {
  return log
    .split('\n')
    .filter((line) => !line.startsWith('::endgroup::') && !line.startsWith('::debug::') && !/^::(save-state|set-output|add-mask)/.test(line))
    .map((line) => {
      if (line.startsWith('::group::')) return `▸ ${line.slice('::group::'.length)}`;
      const annotation = /^::(error|warning|notice)[^:]*::(.*)$/.exec(line);
      if (annotation) return `${annotation[1].toUpperCase()}: ${annotation[2].replace(/%0A/g, '\n  ').replace(/%25/g, '%')}`;
      return line;
    })
    .join('\n')
    .trimEnd();
}

/** Job summary markdown (and the HTML core.summary writes) as plain text; tables aligned in columns. */
export function renderMarkdownForTerminal(markdown: string): string {
  const inline = (text: string) =>
    text
      .replace(/<br\s*\/?>/g, ' / ')
      .replace(/<\/?(code|b|strong|em|i)>/g, '')
      .replace(/\*\*(.+?)\*\*/g, '$1')
      .replace(/`([^`]*)`/g, '$1')
      .replace(/\[([^\]]+)\]\(([^)]+)\)/g, '$1 <$2>')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
  const lines = markdown
    .replace(/<h(\d)>(.*?)<\/h\d>/g, (_, level: string, text: string) => `\n${'#'.repeat(Number(level))} ${text}\n`)
    .replace(/<\/?(details|summary|p)>/g, '\n')
    .split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trimStart().startsWith('|')) {
      const rows: string[][] = [];
      for (; i < lines.length && lines[i].trimStart().startsWith('|'); i++) {
        const cells = lines[i]
          .trim()
          .replace(/^\||\|$/g, '')
          .split(/(?<!\\)\|/)
          .map((cell) => inline(cell.trim().replace(/\\\|/g, '|')));
        if (!cells.every((cell) => /^:?-{3,}:?$/.test(cell))) rows.push(cells);
      }
      i--;
      const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length)));
      rows.forEach((row, r) => {
        out.push(
          row
            .map((cell, c) => cell.padEnd(widths[c]))
            .join('  ')
            .trimEnd(),
        );
        if (r === 0 && row.some((cell) => cell)) out.push(widths.map((w) => '-'.repeat(w)).join('  '));
      });
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(lines[i]);
    if (heading) {
      const text = inline(heading[2]);
      out.push(text, (heading[1].length <= 2 ? '=' : '-').repeat(text.length));
    } else out.push(inline(lines[i]));
  }
  return out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** A step: main, then (as the runner does at the end of the job) post with main's saved state. */
async function step(action: string, options: RunOptions & { inputs: Record<string, string> }, secrets: readonly string[]): Promise<ActionResult> {
  const result = await runAction(action, options);
  printStep(`${action} (actions/${action}/dist/index.js)`, options.inputs, secrets, result);
  if (Object.keys(result.state).length) {
    const post = await runAction(action, { ...options, state: result.state });
    const log = renderLogForTerminal(post.log);
    say(`    post step: exit code ${post.exitCode}${log ? `\n${log.replace(/^/gm, '      ')}` : ''}`);
    if (post.exitCode !== 0) throw new DemoError(`${action}'s post step failed`);
  }
  if (result.exitCode !== 0) throw new DemoError(`${action} failed: ${result.errors.join('; ') || `exit code ${result.exitCode}`}`);
  return result;
}

function ssh(sandbox: Sandbox, host: SandboxHost, script: string): string {
  // The host key is checked against the sandbox's known_hosts, as ec2-deploy pins it; the script
  // goes on stdin, not in argv.
  const result = spawnSync(
    'ssh',
    [
      '-q',
      '-i',
      sandbox.keys.ed25519,
      '-p',
      String(host.port),
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${sandbox.knownHosts}`,
      `${host.user}@${host.address}`,
      'sh -s',
    ],
    { input: script, encoding: 'utf8', timeout: 30_000 },
  );
  return result.status === 0 ? result.stdout.trimEnd() : `(ssh failed: ${result.stderr.trim()})`;
}

/** The release history kept on the host, read over SSH as the deploy user. */
function releaseHistory(sandbox: Sandbox, host: SandboxHost, mode: Mode): string {
  if (mode === 'container') {
    const lines = ssh(sandbox, host, `cat ~/slipway/${appName}/releases.jsonl 2>/dev/null | tail -n 5`);
    const rows = lines
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Partial<Record<string, string>>)
      .map((r) => `| ${r.time ?? ''} | ${r.action ?? ''} | ${r.result ?? ''} | ${(r.runUrl ?? '').replace(/^.*\/runs\//, 'run ')} | ${r.image ?? ''} |`);
    return rows.length ? renderMarkdownForTerminal(['| time | action | result | by | image |', '| --- | --- | --- | --- | --- |', ...rows].join('\n')) : lines || '(no history yet)';
  }
  return ssh(
    sandbox,
    host,
    `cd ~/slipway/${appName} 2>/dev/null || { echo '(no releases yet)'; exit 0; }
     echo "current -> $(readlink current)"
     for r in $(ls -1 releases | tail -n 5); do
       image=$(grep -rhoE '[^[:space:]"]+@sha256:[0-9a-f]{64}' "releases/$r" 2>/dev/null | head -n 1)
       echo "$r  \${image:-?}"
     done`,
  );
}

/** The page, and which proxy it came through (compose mode's proxy sets X-Proxied-By). */
function httpGet(url: string): string {
  const result = spawnSync('curl', ['-sS', '-i', '--max-time', '10', url], { encoding: 'utf8' });
  if (result.status !== 0) return `(no answer: ${result.stderr.trim()})`;
  const [head, ...body] = result.stdout.split(/\r?\n\r?\n/);
  const status = head.split(/\r?\n/)[0];
  const via = /^X-Proxied-By: *(.*)$/im.exec(head)?.[1]?.trim();
  return `${body.join('\n\n').trim()}\n(${status.trim()}${via ? `, through ${via}` : ''})`;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  preflight();
  const sandbox = sandboxUp(options);
  const hosts = sandbox.hosts.slice(0, options.hosts);
  const state = loadState();
  const number = (state.runs.at(-1)?.number ?? 0) + 1;
  const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const stamp = `release: run ${number} at ${time}`;
  const context: Partial<GitHubContext> = {
    repository,
    actor: 'slipway-demo',
    eventName: 'workflow_dispatch',
    // Each run stands for a new commit of the app.
    sha: createHash('sha1').update(stamp).digest('hex'),
    runId: 9000 + number,
    payload: { repository: { default_branch: 'main' }, inputs: { environment: 'sandbox', rollback: String(options.rollback) } },
  };

  say(bold(`==> workflow_dispatch: deploy.yml run ${number}, mode ${options.mode}${options.rollback ? ', rollback' : ''}`));
  const workspace = checkout(number, stamp);
  const registry = { 'registry-username': sandbox.registry.username, 'registry-password': sandbox.registry.password };
  // Pinned by the hosts' known_hosts lines: what `ssh-keyscan -t ed25519 host` prints.
  const connection = (targets: readonly SandboxHost[]) => connectionInputs(sandbox, targets);
  const secretInputs = ['ssh-key', 'password', 'registry-password'];

  const run: DemoRun = { number, time, mode: options.mode, rollback: options.rollback, imageRef: '', stamp, ok: false };
  state.runs.push(run);
  try {
    // Job build (skipped on rollback, as in deploy-reusable.yml).
    let imageRef = '';
    if (!options.rollback) {
      say();
      say(bold('==> job build'));
      const build = await step(
        'build-push',
        {
          cwd: workspace,
          context,
          inputs: {
            image: `${sandbox.registry.host}/${repository}-app`,
            context: 'examples/web/app',
            username: sandbox.registry.username,
            password: sandbox.registry.password,
          },
        },
        secretInputs,
      );
      imageRef = build.outputs['image-ref'];
      if (!imageRef) throw new DemoError('build-push gave no image-ref output');
    } else if (options.mode === 'compose') {
      // compose-up has no rollback switch: deploy.yml's way is to deploy the previous image-ref again.
      const deployed = state.runs.filter((r) => r.ok && r.mode === 'compose' && r.imageRef);
      const previous = deployed.at(-2);
      if (!previous) throw new DemoError('nothing to roll back to: compose mode needs two successful runs first');
      imageRef = previous.imageRef;
      say(`    rolling back to run ${previous.number}'s image ${imageRef}`);
    }

    // Job deploy: one step for every host, as deploy.yml runs it. The sandbox hosts are separate
    // machines on one subnet, so each publishes the same port at its own address.
    say();
    say(bold(`==> job deploy (environment sandbox; needs: build; image-ref → ${options.mode === 'compose' ? 'images: app=…' : 'image'})`));
    const port = servicePort[options.mode];
    let deployedRef = imageRef;
    if (options.mode === 'container') {
      const result = await step(
        'ec2-deploy',
        {
          cwd: workspace,
          context,
          inputs: {
            ...connection(hosts),
            ...(options.rollback ? { rollback: 'true' } : { image: imageRef }),
            ...registry,
            name: appName,
            ports: `${port}:3000`,
            'health-timeout': '60s',
          },
        },
        secretInputs,
      );
      const results = JSON.parse(result.outputs.results || '[]') as { image?: string }[];
      deployedRef = results[0]?.image ?? deployedRef;
    } else {
      await step(
        'compose-up',
        {
          cwd: workspace,
          context,
          inputs: {
            ...connection(hosts),
            ...registry,
            'project-name': appName,
            'compose-files': 'examples/web/compose.yml',
            upload: 'examples/web/proxy/',
            images: `app=${imageRef}`,
            env: `PROXY_PORT=${port}`,
            'wait-timeout': '90s',
          },
        },
        secretInputs,
      );
    }
    const answers = hosts.map((host) => `http://${host.address}${port === 80 ? '' : `:${port}`}/`);
    run.imageRef = deployedRef;
    run.ok = true;

    say();
    say(bold('==> release history on the hosts (over SSH)'));
    for (const host of hosts) {
      say(`  ${host.name} (${hostAddress(host)}):`);
      say(releaseHistory(sandbox, host, options.mode).replace(/^/gm, '    '));
    }

    say();
    say(bold('==> the service'));
    for (const url of answers) {
      say(`==> answers: ${url}`);
      say(httpGet(url).replace(/^/gm, '      '));
    }
    say(`==> deployed: ${deployedRef || '(see the history above)'}`);
    say(`==> stamp: ${options.rollback ? '(rollback: the page of the release rolled back to)' : stamp}`);
    say(
      `Try: curl ${answers[0]}   ·   again: sudo pnpm demo${options.mode === 'container' ? ' --mode container' : ''}   ·   roll back: sudo pnpm demo --rollback${options.mode === 'container' ? ' --mode container' : ''}`,
    );
  } finally {
    saveState(state);
  }
}

main().catch((error: unknown) => {
  console.error(`\ndemo: ${error instanceof Error ? error.message : String(error)}`);
  if (!(error instanceof DemoError) && error instanceof Error && error.stack) console.error(error.stack);
  process.exit(1);
});
