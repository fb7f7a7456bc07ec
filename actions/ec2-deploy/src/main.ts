/**
 * ec2-deploy: for each host (max-parallel at once, fail-fast), connect over SSH with a verified host
 * key, take the deploy lock, then deploy, roll back or run the script; report per host. Wires core
 * pieces together; inputs come from inputs.ts, the host-side steps from deploy.ts.
 */
import * as core from '@actions/core';
import {
  aboutHost,
  howItEnded,
  succeeded,
  ContainerDeployment,
  DockerCli,
  ENV_FILE_PREFIX,
  ReleaseFailedError,
  RunLocks,
  ganttChart,
  restoreInterrupted,
  type PhaseSpan,
  runOnHosts,
  describeVars,
  factsTable,
  type SshShell,
  actionInputs,
  formatBytes,
  formatDuration,
  leftLocks,
  maskSecret,
  parseConnectionInputs,
  quoteArg,
  readRunContext,
  releaseLeftLocks,
  runLockOwner,
  runUrl,
  tableCell,
  writeSummary,
  type CommandResult,
  type DeployLog,
  type HostOutcome,
} from '@slipway/core';
import { getInputs, type Ec2DeployInputs } from './inputs.js';
import { OUTPUT_CHARS, outputTail } from './script-output.js';

/** Locks this run holds, saved as they are taken so the post step can release them if main could not. */
const LOCKS_STATE = 'deploy-locks';

export interface HostResult {
  host: string;
  ok: boolean;
  mode: Ec2DeployInputs['mode'];
  image: string | null;
  imageId: string | null;
  digest: string | null;
  previousImage: string | null;
  rolledBack: boolean;
  health: string | null;
  /** Proxy mode: the release container that serves, when the proxy switched to it (ISO), how long the old one drained. */
  release?: string | null;
  switchedAt?: string | null;
  drainMs?: number | null;
  hostKey: string | null;
  durationMs: number;
  error: string | null;
  stdout?: string;
  /** When each phase ran (not in the `results` output). */
  phases?: PhaseSpan[];
}

export async function main(): Promise<void> {
  const run = readRunContext();
  const inputs = getInputs(actionInputs, run, process.env.GITHUB_WORKSPACE || process.cwd());
  for (const secret of inputs.secrets) maskSecret(secret);
  const settings = inputs.connection;
  const url = run.owner ? runUrl(run) : undefined;
  // The env file holds the `env` values: the post step of a cancelled run removes it with the credential.
  const locks = new RunLocks(LOCKS_STATE, runLockOwner(run), inputs.container.name, [ENV_FILE_PREFIX]);
  if (inputs.vars.size) core.info(`Vars: ${describeVars(inputs.vars)}`);
  const what = inputs.mode === 'script' ? 'script' : inputs.mode === 'rollback' ? 'rollback' : inputs.imageText!;
  core.info(
    `${inputs.mode === 'script' ? 'Running the script on' : inputs.mode === 'rollback' ? 'Rolling back' : `Deploying ${what} to`} ${settings.hosts.length} host(s), ${
      settings.maxParallel === 0 ? 'all at once' : `${settings.maxParallel} at a time`
    }.`,
  );

  const { results, hostKeys } = await runOnHosts(
    settings.hosts,
    settings,
    settings,
    async ({ host, shell, log, connected }): Promise<HostResult> => {
      const result = emptyResult(host.label, inputs);
      result.hostKey = shell.hostKey.fingerprint;
      try {
        if (inputs.mode === 'script') {
          const ran = await runScript(shell, inputs, log);
          result.stdout = ran.stdout;
          if (!succeeded(ran)) throw new Error(`the script ${howItEnded(ran)}`);
          result.ok = true;
          return result;
        }
        const lock = locks.forHost(host.label, inputs.lockTimeoutMs);
        const deployment = new ContainerDeployment(
          shell,
          {
            container: inputs.container,
            health: inputs.health,
            healthTimeoutMs: inputs.healthTimeoutMs,
            keepReleases: inputs.keepReleases,
            registryAuth: inputs.registryAuth,
            runUrl: url,
            pullTimeoutMs: settings.commandTimeoutMs,
            lock,
            proxy: inputs.proxy,
          },
          log,
          lock,
        );
        deployment.timeline.spans.push(connected);
        result.phases = deployment.timeline.spans;
        const release = inputs.mode === 'rollback' ? await deployment.rollback() : await deployment.deploy(inputs.imageText!);
        Object.assign(result, {
          ok: true,
          image: release.image,
          imageId: release.imageId,
          digest: release.digest ?? null,
          previousImage: release.previousImage ?? null,
          health: release.health,
          ...(inputs.proxy ? { release: release.release ?? null, switchedAt: release.switchedAt ?? null, drainMs: release.drainMs ?? null } : {}),
        });
      } catch (error) {
        result.error = (error as Error).message;
        if (error instanceof ReleaseFailedError) {
          result.rolledBack = error.rolledBack;
          result.previousImage = error.previousImage ?? null;
          result.imageId = error.imageId ?? null;
        }
        log.error(aboutHost(host.label, result.error));
      } finally {
        result.durationMs = Date.now() - connected.startMs;
      }
      return result;
    },
    {
      failed: (result) => !result.ok,
      describe: (outcome) => describeOutcome(outcome),
      failure: (host, error, { durationMs, log }) => {
        log.error(aboutHost(host.label, error.message));
        return { ...emptyResult(host.label, inputs), error: error.message, durationMs };
      },
      skipped: (host) => emptyResult(host.label, inputs, 'skipped: an earlier host failed (fail-fast)'),
    },
  );

  if (inputs.mode === 'script') {
    for (const result of results) {
      if (result.stdout === undefined) continue;
      const kept = outputTail(result.stdout, Math.floor(OUTPUT_CHARS / results.length));
      if (kept.length === result.stdout.length) continue;
      core.notice(
        `${result.host}: the script printed ${formatBytes(Buffer.byteLength(result.stdout))}; the \`stdout\` and \`results\` outputs hold its last ` +
          `${formatBytes(Buffer.byteLength(kept))} (GitHub takes at most 1 MB of outputs per job). All of it is in the log.`,
      );
      result.stdout = kept;
    }
    core.setOutput('stdout', results.length === 1 ? (results[0].stdout ?? '') : results.map((r) => `==> ${r.host} <==\n${r.stdout ?? ''}`).join('\n'));
  }
  core.setOutput('results', JSON.stringify(results.map(({ phases: _phases, ...result }) => result)));
  core.setOutput('previous-image', results.find((r) => r.previousImage)?.previousImage ?? '');
  core.setOutput('host-fingerprints', hostKeys.join('\n'));
  if (inputs.proxy) {
    const first = results.find((r) => r.release);
    core.setOutput('release', first?.release ?? '');
    core.setOutput('switched-at', first?.switchedAt ?? '');
    core.setOutput('drain-ms', first?.drainMs ?? '');
  }
  await writeSummary(`ec2-deploy: ${inputs.mode === 'deploy' ? inputs.imageText : inputs.mode}`, summaryTable(results, inputs.vars));

  const failed = results.filter((r) => !r.ok);
  if (failed.length) {
    core.setFailed(`${failed.length} of ${results.length} host(s) failed: ${failed.map((r) => aboutHost(r.host, (r.error ?? '').split('\n')[0])).join('; ')}`);
  }
}

/**
 * Runs when main could not finish (cancelled, killed, lost the host): connects again with the same
 * inputs and, on each host whose lock this run still holds, puts the previous container back if the
 * run had set it aside, then releases the lock. The host is left as it was before the run.
 */
export async function post(): Promise<void> {
  const state = leftLocks(LOCKS_STATE);
  if (!state) return;
  const settings = parseConnectionInputs(actionInputs);
  for (const secret of settings.secrets) maskSecret(secret);
  await releaseLeftLocks(state, settings, async (shell, host, log) => {
    if (await restoreInterrupted(new DockerCli(shell), state.subject, log)) core.info(`${host}: the previous ${state.subject} is running again.`);
  });
}

/** Script mode: the script on stdin to `bash -s`, after `set -euo pipefail` and the `env` exports. */
async function runScript(shell: SshShell, inputs: Ec2DeployInputs, log: DeployLog): Promise<CommandResult> {
  const exports = [...inputs.container.env].map(([key, value]) => `export ${key}=${quoteArg(value)}\n`).join('');
  // In braces, bash reads the whole script before running any of it: a command that reads stdin
  // (docker exec -i, ssh) then cannot swallow the rest of the script.
  const stdin = `set -euo pipefail\n${exports}{\n${inputs.script}\n}\n`;
  log.info('Running the script');
  return shell.run({ args: ['bash', '-s'], stdin, stream: true, allowFailure: true });
}

/** A host's result before anything happened on it. */
function emptyResult(host: string, inputs: Ec2DeployInputs, error: string | null = null): HostResult {
  return {
    host,
    ok: false,
    mode: inputs.mode,
    image: inputs.imageText ?? null,
    imageId: null,
    digest: null,
    previousImage: null,
    rolledBack: false,
    health: null,
    hostKey: null,
    durationMs: 0,
    error,
    ...(inputs.proxy ? { release: null, switchedAt: null, drainMs: null } : {}),
  };
}

function describeOutcome(outcome: HostOutcome<HostResult>): string {
  const result = outcome.value;
  const label = outcome.host.label;
  if (outcome.status === 'skipped' || !result) return `${label}: skipped`;
  const time = formatDuration(result.durationMs || outcome.durationMs);
  if (result.ok) {
    if (result.mode === 'script') return `${label}: script succeeded (${time})`;
    return `${label}: ${result.mode === 'rollback' ? 'rolled back to' : 'deployed'} ${result.image} (${time})`;
  }
  return `${label}: FAILED${result.rolledBack ? ', previous container restored' : ''} (${time}): ${(result.error ?? '').split('\n')[0]}`;
}

/** The job summary: `vars` when there are any, then a row per host. */
export function summaryTable(results: readonly HostResult[], vars: ReadonlyMap<string, string> = new Map()): string {
  const lines = vars.size ? [factsTable([['Vars', describeVars(vars)]]), ''] : [];
  const chart = ganttChart(results.filter((r) => r.phases?.length).map((r) => ({ host: r.host, spans: r.phases! })));
  if (chart) lines.push(chart, '');
  const proxy = results.some((r) => r.release !== undefined);
  lines.push(
    `| Host | Result | Image | Previous image |${proxy ? ' Serving release | Switched at | Drained in |' : ''} Duration | Host key |`,
    `| --- | --- | --- | --- |${proxy ? ' --- | --- | --- |' : ''} --- | --- |`,
  );
  for (const r of results) {
    const outcome = r.ok ? '✅ ok' : r.rolledBack ? '↩️ failed, rolled back' : `❌ ${r.error?.startsWith('skipped') ? 'skipped' : 'failed'}`;
    const code = (value: string | null | undefined) => (value ? `\`${tableCell(value)}\`` : '');
    const proxyCells = proxy ? ` ${code(r.release)} | ${tableCell(r.switchedAt ?? '')} | ${r.drainMs == null ? '' : formatDuration(r.drainMs)} |` : '';
    lines.push(
      `| ${tableCell(r.host)} | ${outcome}${r.error ? `<br>${tableCell(r.error.split('\n')[0])}` : ''} | ${code(r.mode === 'script' ? 'script' : r.image)} | ${code(r.previousImage)} |${proxyCells} ${formatDuration(r.durationMs)} | ${code(r.hostKey)} |`,
    );
  }
  return lines.join('\n');
}
