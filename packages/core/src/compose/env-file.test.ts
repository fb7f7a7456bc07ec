import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { composeEnvFile } from './env-file.js';

/** Values compose must hand on byte for byte: variables of the target, its escapes, quotes, comments. */
const TRICKY = new Map([
  ['HOME_REF', '${HOME}$x'],
  ['HOST_REF', '${DOCKER_HOST:-none}'],
  ['DOLLARS', '$$ $ $} ${ end$'],
  ['QUOTES', `it's "quoted" \\' \\" done`],
  ['BACKSLASH_END', 'C:\\path\\'],
  ['ESCAPES', '\\n\\t\\\\ \\$x'],
  ['SPACES', '  padded # not a comment  '],
  ['UNICODE', 'é ✓ `tick`'],
  ['EMPTY', ''],
  ['QUOTE', "'"],
]);

/**
 * python-dotenv as docker-compose 1.29 calls it (compose/config/environment.py: dotenv_values with
 * interpolation), when the python3 of Debian's docker-compose package has it; else null.
 */
function readWithPythonDotenv(text: string): Record<string, string> | null {
  const script = 'import dotenv, io, json, sys; print(json.dumps(dotenv.dotenv_values(stream=io.StringIO(sys.stdin.read()), interpolate=True)))';
  const result = spawnSync('/usr/bin/python3', ['-c', script], { input: text, encoding: 'utf8', env: { ...process.env, HOME: '/root', DOCKER_HOST: 'unix:///host.sock' } });
  return result.status === 0 ? (JSON.parse(result.stdout) as Record<string, string>) : null;
}
const pythonDotenv = readWithPythonDotenv('A=1\n') !== null;

/**
 * Compose v2's env file, by its documented rules (docs.docker.com/compose/how-tos/environment-
 * variables/variable-interpolation/): single-quoted values are literal; double-quoted ones take
 * `\\`, `\"` and `\n`-style escapes, then interpolation, where `$$` is `$` (any other `$` here
 * would be a variable, which the writer must never leave); unquoted ones are interpolated too.
 */
function readByV2Rules(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split('\n').filter(Boolean)) {
    const eq = line.indexOf('=');
    const raw = line.slice(eq + 1);
    let value: string;
    if (raw.startsWith("'")) {
      expect(raw.endsWith("'") && raw.length >= 2 && !raw.slice(1, -1).includes("'")).toBe(true);
      value = raw.slice(1, -1);
    } else if (raw.startsWith('"')) {
      const body = raw.slice(1, -1);
      expect(raw.endsWith('"') && !/(^|[^\\])(\\\\)*"/.test(body)).toBe(true);
      const unescaped = body.replace(/\\(.)/g, (_m, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c] ?? c);
      expect(unescaped.replace(/\$\$/g, '')).not.toContain('$');
      value = unescaped.replace(/\$\$/g, '$');
    } else {
      expect(raw).not.toMatch(/[$'"#\s\\]/);
      value = raw;
    }
    values[line.slice(0, eq)] = value;
  }
  return values;
}

describe('env-file', () => {
  it('writes plain values bare, one KEY=VALUE a line, for both versions', () => {
    const plain = new Map([
      ['A', 'plain-1.2'],
      ['URL', 'postgres://db:5432/app?x=1'],
    ]);
    expect(composeEnvFile(plain, true)).toBe('A=plain-1.2\nURL=postgres://db:5432/app?x=1\n');
    expect(composeEnvFile(plain, false)).toBe('A=plain-1.2\nURL=postgres://db:5432/app?x=1\n');
  });

  it('v1: writes $ and \\ as defaults of the empty name, which python-dotenv cannot expand, and escapes only quotes', () => {
    const file = composeEnvFile(
      new Map([
        ['A', '${HOME}$x'],
        ['B', "it's \\"],
      ]),
      true,
    );
    expect(file).toBe("A='${:-$}{HOME}${:-$}x'\nB='it\\'s ${:-\\}'\n");
  });

  (pythonDotenv ? it : it.skip)('v1: python-dotenv, as docker-compose 1.29 reads the file, gives every value back as given', () => {
    expect(readWithPythonDotenv(composeEnvFile(TRICKY, true))).toEqual(Object.fromEntries(TRICKY));
    // What the single quotes alone gave: the host's values.
    expect(readWithPythonDotenv("A='${HOME}$x'\nB='$${HOME}'\n")).toEqual({ A: '/root$x', B: '$/root' });
  });

  it('v2: single-quotes what has no quote and no final backslash, and double-quotes the rest with $$ for $', () => {
    expect(
      composeEnvFile(
        new Map([
          ['A', '${HOME}$x'],
          ['B', `it's $HOME`],
          ['C', 'dir\\'],
        ]),
        false,
      ),
    ).toBe(`A='\${HOME}$x'\nB="it's $$HOME"\nC="dir\\\\"\n`);
  });

  it('v2: reads back as given by the documented env file rules', () => {
    expect(readByV2Rules(composeEnvFile(TRICKY, false))).toEqual(Object.fromEntries(TRICKY));
  });
});
