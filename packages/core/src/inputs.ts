/**
 * Parsers for action inputs. Each takes the input's name so that every error says which input is
 * at fault and how to fix it; none of them reads the environment, so they are tested as plain functions.
 * Actions read raw strings through an `InputReader` (see `actionInputs`) in their own `inputs.ts`.
 */
import * as core from '@actions/core';

/** A bad input: the message names the input, so the user knows which line of the workflow to change. */
export class InputError extends Error {
  constructor(
    readonly input: string,
    detail: string,
  ) {
    super(`Input \`${input}\`: ${detail}`);
    this.name = 'InputError';
  }
}

/** Reads one raw input by its action.yml name; '' when unset. */
export type InputReader = (name: string) => string;

/** Inputs as the runner passes them (INPUT_<NAME> variables), trimmed. */
export const actionInputs: InputReader = (name) => core.getInput(name);

export function parseBoolean(input: string, raw: string, fallback: boolean): boolean {
  const value = raw.trim().toLowerCase();
  if (value === '') return fallback;
  // The YAML 1.2 core schema's booleans, which is what @actions/core's getBooleanInput accepts too.
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InputError(input, `expected true or false, got "${raw.trim()}".`);
}

/** Items separated by newlines and/or commas; blank items and `#` comment lines dropped. */
export function parseList(raw: string, { commas = true }: { commas?: boolean } = {}): string[] {
  return raw
    .split(/\r?\n/)
    .filter((line) => !line.trim().startsWith('#'))
    .flatMap((line) => (commas ? line.split(',') : [line]))
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/**
 * Multiline `KEY=VALUE` lines into an ordered map. The value is everything after the first `=`,
 * kept literally (quotes included): it is never handed to a shell.
 */
export function parseKeyValues(input: string, raw: string): Map<string, string> {
  const result = new Map<string, string>();
  raw.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === '' || line.trim().startsWith('#')) return;
    const eq = line.indexOf('=');
    const where = `line ${index + 1}`;
    if (eq < 0) throw new InputError(input, `${where} has no "=": write KEY=VALUE, one per line.`);
    const key = line.slice(0, eq).trim();
    if (!ENV_KEY.test(key)) {
      throw new InputError(input, `${where}: "${key}" is not a valid name (letters, digits, _ . -; not starting with a digit).`);
    }
    if (result.has(key)) throw new InputError(input, `${where}: ${key} is set twice.`);
    result.set(key, line.slice(eq + 1));
  });
  return result;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * The longest duration any input takes, 24h. Node fires a timer of more than 2^31-1 ms (24.8 days)
 * at once, so a larger value would not wait at all: `command-timeout: 1000h` timed out after 2s.
 */
export const MAX_DURATION_MS = 24 * 3_600_000;

/** `90s`, `5m`, `1h`, `250ms`, or a bare number of seconds, up to 24h; returns milliseconds. */
export function parseDuration(input: string, raw: string, fallback: string): number {
  const text = (raw.trim() || fallback).toLowerCase();
  const match = DURATION.exec(text);
  if (!match) throw new InputError(input, `"${text}" is not a duration: use a number with a unit, like 90s, 5m or 1h.`);
  const ms = Number(match[1]) * UNIT_MS[match[2] ?? 's'];
  if (ms <= 0) throw new InputError(input, 'must be longer than zero.');
  if (ms > MAX_DURATION_MS) throw new InputError(input, `"${text}" is longer than the maximum, 24h.`);
  return ms;
}

export function parseInteger(input: string, raw: string, fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
  const text = raw.trim();
  if (text === '') return fallback;
  if (!/^-?\d+$/.test(text)) throw new InputError(input, `expected a whole number, got "${text}".`);
  const value = Number(text);
  if (value < min || value > max) throw new InputError(input, `must be between ${min} and ${max}, got ${value}.`);
  return value;
}

/** One of a fixed set of words, case-insensitive; '' gives the fallback. */
export function parseChoice<T extends string>(input: string, raw: string, choices: readonly T[], fallback: T): T {
  const value = raw.trim().toLowerCase();
  if (value === '') return fallback;
  const found = choices.find((choice) => choice === value);
  if (!found) throw new InputError(input, `"${raw.trim()}" is not one of: ${choices.join(', ')}.`);
  return found;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  return `${Math.floor(seconds / 60)}m${Math.round(seconds % 60)}s`;
}
