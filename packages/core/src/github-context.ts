/**
 * The workflow run as the actions see it, read once from @actions/github's context (which reads
 * GITHUB_* variables and the event payload at GITHUB_EVENT_PATH).
 */
import * as github from '@actions/github';
import type { BuildContext } from './tags.js';

export interface RunContext extends BuildContext {
  owner: string;
  repo: string;
  actor: string;
  serverUrl: string;
  runId: number;
  runAttempt: number;
  workflow: string;
}

export function readRunContext(): RunContext {
  const { context } = github;
  const payload = context.payload;
  // context.repo throws when GITHUB_REPOSITORY is unset; an action run by hand should still start.
  const [owner = '', repo = ''] = (process.env.GITHUB_REPOSITORY ?? '').split('/');
  return {
    eventName: context.eventName ?? '',
    sha: context.sha ?? '',
    ref: context.ref ?? '',
    defaultBranch: payload.repository?.default_branch as string | undefined,
    pullRequestNumber: (payload.pull_request?.number ?? (payload.number as number | undefined)) || undefined,
    owner,
    repo,
    actor: context.actor ?? '',
    serverUrl: context.serverUrl ?? 'https://github.com',
    runId: context.runId,
    runAttempt: Number(process.env.GITHUB_RUN_ATTEMPT ?? 1),
    workflow: context.workflow ?? '',
  };
}

export function repositoryUrl(run: RunContext): string {
  return `${run.serverUrl}/${run.owner}/${run.repo}`;
}

export function runUrl(run: RunContext): string {
  return `${repositoryUrl(run)}/actions/runs/${run.runId}`;
}
