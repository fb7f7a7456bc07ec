/** compose-up: preflight, then one compose deployment per target; outputs and a summary. Wires core pieces. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@actions/core';
import {
  aboutHost,
  LocalShell,
  RunLocks,
  SCRATCH_PREFIX,
  actionInputs,
  composeDownLocal,
  composeUpLocal,
  describeVars,
  factsTable,
  formatDuration,
  ganttChart,
  leftLocks,
  maskSecret,
  parseConnectionInputs,
  readRunContext,
  releaseLeftLocks,
  releaseId,
  runLockOwner,
  runUrl,
  stepLog,
  tableCell,
  writeSummary,
  type ComposePlan,
  type LocalProjectState,
  type TargetResult,
} from '@slipway/core';
import { getInputs, type ComposeUpInputs } from './inputs.js';
import { SWARM_LOCK_STATE, deployToHosts, releaseLeftSwarmLock } from './remote.js';

/** Saved for the post step: the local project to take down, and our temp directory to remove. */
const LOCAL_PROJECT_STATE = 'compose-project';
const TEMP_DIR_STATE = 'temp-dir';
const REMOVE_ORPHANS_STATE = 'remove-orphans';
/** Remote: the deploy locks this run holds, for the post step to release if main could not. */
const LOCKS_STATE = 'deploy-locks';

export async function main(): Promise<void> {
  const run = readRunContext();
  const workspace = process.env.GITHUB_WORKSPACE || process.cwd();
  const inputs = getInputs(actionInputs, run, workspace);
  for (const secret of inputs.secrets) maskSecret(secret);
  core.setOutput('project-name', inputs.project);
  if (inputs.vars.size) core.info(`Vars: ${describeVars(inputs.vars)}`);

  const plan: ComposePlan = {
    project: inputs.project,
    mode: inputs.mode,
    workspace,
    model: inputs.model,
    images: inputs.images,
    services: inputs.services,
    env: inputs.env,
    uploads: inputs.uploads,
    pull: inputs.pull,
    build: inputs.build,
    wait: inputs.wait,
    waitTimeoutMs: inputs.waitTimeoutMs,
    removeOrphans: inputs.removeOrphans,
    registry: inputs.registry,
    remoteDir: inputs.remoteDir,
    keepReleases: inputs.keepReleases,
    releaseId: releaseId(new Date(), run.runId || 0, run.runAttempt || 1),
    runUrl: run.owner ? runUrl(run) : undefined,
  };

  let results: TargetResult[];
  if (inputs.connection) {
    const { hosts, maxParallel } = inputs.connection;
    core.info(`Deploying ${inputs.project} (${inputs.mode}) to ${hosts.length} host(s), ${maxParallel === 0 ? 'all at once' : `${maxParallel} at a time`}.`);
    // The host program's scratch files hold env values: the post step of a cancelled run removes them with the credential.
    const locks = new RunLocks(LOCKS_STATE, runLockOwner(run), '', [SCRATCH_PREFIX]);
    const remote = await deployToHosts(inputs.connection, plan, locks, inputs.lockTimeoutMs);
    results = remote.results;
    core.setOutput('host-fingerprints', remote.hostKeys.join('\n'));
  } else {
    results = [await deployLocally(inputs, plan)];
  }
  await report(inputs, results);
  const failed = results.filter((result) => !result.ok);
  if (failed.length) {
    throw new Error(failed.map((result) => aboutHost(result.target, result.error ?? 'failed')).join('\n'));
  }
}

async function deployLocally(inputs: ComposeUpInputs, plan: ComposePlan): Promise<TargetResult> {
  // Our override, env file and registry login live here, outside the workspace; removed at the end
  // (or by the post step, which still needs the files for `down`).
  const tempDir = await mkdtemp(join(process.env.RUNNER_TEMP || tmpdir(), 'slipway-compose-'));
  core.saveState(TEMP_DIR_STATE, tempDir);
  const { result } = await composeUpLocal(new LocalShell(), plan, tempDir, stepLog(), (state) => {
    if (inputs.downOnExit) {
      core.saveState(LOCAL_PROJECT_STATE, JSON.stringify(state));
      core.saveState(REMOVE_ORPHANS_STATE, String(inputs.removeOrphans));
    }
  });
  if (!inputs.downOnExit) await rm(tempDir, { recursive: true, force: true });
  return result;
}

/**
 * On the runner, `down-on-exit`: the project's logs, then `down` (never `-v`: volumes stay); then our
 * temp files go. On hosts: the deploy locks a cancelled or cut-off main left are released.
 */
export async function post(): Promise<void> {
  const left = leftLocks(LOCKS_STATE);
  const leftSwarmLock = core.getState(SWARM_LOCK_STATE);
  if (left || leftSwarmLock) {
    const settings = parseConnectionInputs(actionInputs);
    for (const secret of settings.secrets) maskSecret(secret);
    if (left) await releaseLeftLocks(left, settings);
    if (leftSwarmLock) await releaseLeftSwarmLock(leftSwarmLock, settings);
  }
  const saved = core.getState(LOCAL_PROJECT_STATE);
  const tempDir = core.getState(TEMP_DIR_STATE);
  try {
    if (saved) {
      const state = JSON.parse(saved) as LocalProjectState;
      await composeDownLocal(new LocalShell(), state, core.getState(REMOVE_ORPHANS_STATE) !== 'false');
    }
  } finally {
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  }
}

async function report(inputs: ComposeUpInputs, results: readonly TargetResult[]): Promise<void> {
  core.setOutput('services', JSON.stringify(results.flatMap((result) => result.services.map((service) => ({ target: result.target, ...service })))));
  core.setOutput('tasks', JSON.stringify(results.flatMap((result) => (result.tasks ?? []).map((task) => ({ target: result.target, ...task })))));
  core.setOutput(
    'results',
    JSON.stringify(
      results.map((r) => ({
        target: r.target,
        ok: r.ok,
        compose: r.compose ?? null,
        release: r.release ?? null,
        previousRelease: r.previousRelease ?? null,
        rolledBack: r.rolledBack,
        ...(r.nodesDown ? { nodesDown: r.nodesDown } : {}),
        durationMs: r.durationMs,
        error: r.error ?? null,
      })),
    ),
  );
  for (const result of results) {
    if (result.ok) core.info(`${result.target}: ${inputs.project} is up (${result.services.map((s) => `${s.service} ${s.state}${s.health === 'none' ? '' : `/${s.health}`}`).join(', ')})`);
  }
  await writeSummary(`compose-up: ${inputs.project}`, summaryMarkdown(inputs, results));
}

/** Each host's phases as a gantt chart GitHub draws, and a blank line; nothing on the runner. */
function timeline(results: readonly TargetResult[]): string[] {
  const chart = ganttChart(results.filter((r) => r.phases?.length).map((r) => ({ host: r.target, spans: r.phases! })));
  return chart ? [chart, ''] : [];
}

/** The job summary: the deployment's facts, each host's timeline, a row per target, then each target's error. */
export function summaryMarkdown(inputs: Pick<ComposeUpInputs, 'project' | 'mode' | 'model' | 'images' | 'vars'>, results: readonly TargetResult[]): string {
  const lines = [
    factsTable([
      ['Project', inputs.project],
      ['Mode', inputs.mode],
      ['Compose files', inputs.model.files.map((file) => file.relativePath).join(', ')],
      ['Images', [...inputs.images].map(([service, image]) => `${service}=${image}`).join(', ')],
      ...(inputs.vars.size ? [['Vars', describeVars(inputs.vars)] as const] : []),
    ]),
    '',
    ...timeline(results),
    '| Target | Result | Compose | Release | Services | Time |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    const outcome = r.ok ? '✅ up' : r.rolledBack ? `❌ failed, ${r.previousRelease} restored` : '❌ failed';
    const services = r.services.map((s) => `${s.service}: ${s.state}${s.health === 'none' ? '' : ` (${s.health})`}`).join('<br>');
    lines.push(`| ${tableCell(r.target)} | ${tableCell(outcome)} | ${tableCell(r.compose ?? '')} | ${tableCell(r.release ?? '')} | ${services} | ${formatDuration(r.durationMs)} |`);
  }
  const tasks = results.flatMap((r) => (r.tasks ?? []).map((task) => ({ target: r.target, ...task })));
  if (tasks.length) {
    lines.push('', '| Manager | Task | Node | State | Image |', '| --- | --- | --- | --- | --- |');
    for (const t of tasks) {
      const node = t.nodeAddress ? `${t.node} (${t.nodeAddress})` : t.node;
      const state = t.error ? `${t.state}: ${t.error}` : t.state;
      lines.push(`| ${tableCell(t.target)} | ${tableCell(t.task)} | ${tableCell(node)} | ${tableCell(t.movedFrom ? `${state} (moved from ${t.movedFrom}, down)` : state)} | ${tableCell(t.image)} |`);
    }
  }
  const nodesDown = results.flatMap((r) => r.nodesDown ?? []);
  if (nodesDown.length) lines.push('', `**Swarm nodes down during the deployment**: ${tableCell(nodesDown.join(', '))}; swarm started their tasks on the other nodes.`);
  const errors = results.filter((r) => r.error);
  if (errors.length) lines.push('', ...errors.map((r) => `**${tableCell(r.target)}**: ${tableCell(r.error ?? '')}`));
  return lines.join('\n');
}
