/**
 * The env file compose gets with `--env-file`, written for the compose the target has so that
 * every value reads back exactly as given: the two versions read it with different rules.
 *
 * v1 (docker-compose 1.29) reads it with python-dotenv (0.21 on Debian 12), which expands
 * `${NAME}` and `${NAME:-default}` in every value, single-quoted ones too, from the file and from
 * the process environment: `'${HOME}'` became the host's home. `$$` is no escape there (`$${HOME}`
 * gave `$/root`). What it does take is a default for an empty name: `${:-$}` is a literal `$`, as no
 * variable is named ''. (Checked with docker-compose 1.29.2 and python3-dotenv 0.21.0.)
 *
 * v2 reads it with compose-go's dotenv, whose rules docs.docker.com/compose/how-tos/environment-
 * variables/variable-interpolation/ documents: single-quoted values are literal; double-quoted ones
 * take `\\` and `\"` escapes and are interpolated, where `$$` is a literal `$`. A `'` inside single
 * quotes is not read alike by every v2 release (some keep the `\` of `\'`), so such values, and those
 * ending in `\` (which would escape the closing quote), are double-quoted.
 */

/** Values that read the same unquoted in both versions: no quote, `$`, `\`, `#`, backtick or space. */
const PLAIN = /^[^'"$\\#\s`]*$/;

export function composeEnvFile(values: ReadonlyMap<string, string>, v1: boolean): string {
  return [...values].map(([key, value]) => `${key}=${v1 ? v1Value(value) : v2Value(value)}\n`).join('');
}

function v1Value(value: string): string {
  if (PLAIN.test(value)) return value;
  // python-dotenv finds the closing quote before it decodes escapes, so a backslash just before a
  // `'` would read as an escaped quote: only `'` takes a backslash; `\` and `$` become `${:-\}`, `${:-$}`.
  return `'${value.replace(/[\\$']/g, (c) => (c === "'" ? "\\'" : `\${:-${c}}`))}'`;
}

function v2Value(value: string): string {
  if (PLAIN.test(value)) return value;
  if (!value.includes("'") && !value.endsWith('\\')) return `'${value}'`;
  return `"${value
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\$/g, () => '$$')}"`;
}
