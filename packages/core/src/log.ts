/**
 * Where a deployment's messages go: the one log interface of core. On the runner it is the step's
 * log (`stepLog`); on hosts, each host's part of a fleet's log (ssh/fleet.ts), which keeps a host's
 * lines together when hosts run in parallel and is a group of its own already, so its `group` only
 * titles a part with a line (the runner's log has no nested groups).
 */
import * as core from '@actions/core';

export interface DeployLog {
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  /** Runs `fn` as one titled part of the log (a pull, an `up`). */
  group<T>(title: string, fn: () => Promise<T>): Promise<T>;
  /** A long text (a failed container's logs), shown collapsed under its own title. */
  attach(title: string, text: string): void;
}

/** The step's own log, for a deployment on the runner. */
export function stepLog(): DeployLog {
  return {
    info: (message) => core.info(message),
    warning: (message) => core.warning(message),
    error: (message) => core.error(message),
    group: (title, fn) => core.group(title, fn),
    attach: (title, text) => {
      core.startGroup(title);
      core.info(text);
      core.endGroup();
    },
  };
}
