/**
 * The values a deployment hands on (ec2-deploy: the container's environment and a script's exports;
 * compose-up: compose's interpolation): `env-file`, `env` and `vars`, read by one parser with one
 * meaning in both actions, every value literal. `env` and `env-file` are masked in the log, as users
 * put secrets there; `vars` are not (GitHub's `vars` beside `secrets`, Kamal's clear env beside its
 * secret env), so `PORT=2221` reads as 2221 rather than `***` wherever it shows.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { InputError, parseKeyValues, type InputReader } from './inputs.js';

/** The action.yml names of these inputs, the same in ec2-deploy and compose-up. */
export const ENV_INPUTS = { env: 'env', envFile: 'env-file', vars: 'vars' } as const;

export interface EnvInputs {
  /** Every key in order: `env-file` first, then `env` and `vars`, which win over it. */
  values: Map<string, string>;
  /** The input each key of `values` comes from, for errors. */
  inputOf: Map<string, string>;
  /** `vars` alone: shown as they are, in the log and the summary. */
  vars: Map<string, string>;
  /** The values of `env` and `env-file`, to mask. */
  secrets: string[];
}

export function parseEnvInputs(read: InputReader, workspace: string): EnvInputs {
  const names = ENV_INPUTS;
  const fromFile = envFile(names.envFile, read(names.envFile).trim(), workspace);
  const env = parseKeyValues(names.env, read(names.env));
  const vars = parseKeyValues(names.vars, read(names.vars));
  for (const key of vars.keys()) {
    if (env.has(key)) throw new InputError(names.vars, `${key} is also in \`${names.env}\`: give it in one of them, \`${names.env}\` for a secret (masked), \`${names.vars}\` for a value to show.`);
  }
  const values = new Map<string, string>();
  const inputOf = new Map<string, string>();
  for (const [input, entries] of [
    [names.envFile, fromFile],
    [names.env, env],
    [names.vars, vars],
  ] as const) {
    for (const [key, value] of entries) {
      values.set(key, value);
      inputOf.set(key, input);
    }
  }
  return { values, inputOf, vars, secrets: [...fromFile.values(), ...env.values()] };
}

function envFile(input: string, given: string, workspace: string): Map<string, string> {
  if (!given) return new Map();
  const path = resolve(workspace, given);
  if (!existsSync(path) || !statSync(path).isFile()) throw new InputError(input, `${given} is not a file (paths are relative to the workspace, ${workspace}).`);
  return parseKeyValues(input, readFileSync(path, 'utf8'));
}

/** `PORT=2221, REGION=eu-west-1`: `vars` as the log and the summary show them. */
export function describeVars(vars: ReadonlyMap<string, string>): string {
  return [...vars].map(([key, value]) => `${key}=${value}`).join(', ');
}
