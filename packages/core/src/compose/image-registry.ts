/**
 * Which registry a compose deployment logs in to. The token may only ever go to the registry that
 * serves the images being deployed: the images are read as compose will read them, interpolated
 * with the values the action is given, and when that does not name one registry the step is
 * refused before any host is contacted. There is no fallback: a default of ghcr.io once sent a
 * token for another registry to GitHub whenever an image held a `${VAR}`.
 */
import { InputError } from '../inputs.js';
import { parseImageRef, sameRegistry } from '../image-ref.js';
import type { ComposeModel } from './compose-file.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/**
 * `text` with its variables replaced as compose replaces them (docs.docker.com/reference/compose-file/
 * interpolation/: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`,
 * `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, nested, and `$$` for `$`). A variable not in `values`
 * counts as unset, as compose would take it but for its environment; undefined when the text needs
 * the value of one (`${VAR}`, `${VAR:?error}`): only the target's environment could give it.
 */
export function composeInterpolate(text: string, values: ReadonlyMap<string, string>): string | undefined {
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '$') {
      out += text[i++];
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '{') {
      const end = closingBrace(text, i + 2);
      const resolved = end < 0 ? undefined : expression(text.slice(i + 2, end), values);
      if (resolved === undefined) return undefined;
      out += resolved;
      i = end + 1;
    } else {
      const name = NAME.exec(text.slice(i + 1))?.[0];
      if (!name) {
        // Not a variable: compose v2 keeps the `$` (v1 refuses the file, and then nothing is pulled).
        out += '$';
        i += 1;
        continue;
      }
      const value = values.get(name);
      if (value === undefined) return undefined;
      out += value;
      i += 1 + name.length;
    }
  }
  return out;
}

function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let i = from; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function expression(body: string, values: ReadonlyMap<string, string>): string | undefined {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?+])([\s\S]*))?$/.exec(body);
  if (!match) return undefined;
  const [, name, colon, operator, argument] = match;
  const value = values.get(name);
  const set = value !== undefined && (colon === '' || value !== '');
  if (operator === undefined) return value;
  if (operator === '-') return set ? value : composeInterpolate(argument, values);
  if (operator === '?') return set ? value : undefined;
  return set ? composeInterpolate(argument, values) : '';
}

export interface ComposeImages {
  model: ComposeModel;
  /** `images`: service → reference, in place of the files' `image:`. */
  images: ReadonlyMap<string, string>;
  /** What compose interpolates with: `env-file`, `env`, `vars`. */
  values: ReadonlyMap<string, string>;
}

/**
 * The registry to log in to with the token, or an `InputError` naming `input` (`registry`). Given,
 * it is taken unless the images, all known and none built, plainly come from elsewhere. Otherwise
 * it is the one registry host the pulled images name: Docker Hub's (`nginx`) are public pulls and
 * do not count; several hosts, or an image whose reference needs a variable no input gives, refuse.
 */
export function loginRegistry(input: string, given: string, { model, images, values }: ComposeImages): string {
  const hosts = new Set<string>();
  const unresolved: string[] = [];
  let builds = false;
  for (const service of model.services.values()) {
    const override = images.get(service.name);
    // A service with a build section has its image made on the target, not pulled (its base images
    // may be; only a given `registry` can say from where).
    if (override === undefined && service.buildContext !== undefined) builds = true;
    const reference = override ?? (service.buildContext === undefined ? service.image : undefined);
    if (reference === undefined) continue;
    const text = override ?? composeInterpolate(reference, values);
    if (text === undefined) {
      unresolved.push(`service ${service.name}'s image "${reference}"`);
      continue;
    }
    try {
      hosts.add(parseImageRef(input, text).registry);
    } catch {
      // Not a reference docker would pull (compose refuses it on the target): it uses no token.
    }
  }
  if (given) {
    const known = [...hosts];
    if (!builds && unresolved.length === 0 && known.length && !known.some((host) => sameRegistry(host, given))) {
      throw new InputError(
        input,
        `is ${given}, but the images come from ${known.join(', ')}: the token would go to a registry that serves none of them. Name the images' registry, or leave \`${input}\` empty to take it from the images.`,
      );
    }
    return given;
  }
  if (unresolved.length) {
    throw new InputError(
      input,
      `is not set, and ${unresolved.join(', ')} needs a variable that no input gives (in \`env\`, \`vars\` or \`env-file\`): give it there, or name the registry to log in to in \`${input}\`.`,
    );
  }
  const pulled = [...hosts].filter((host) => !sameRegistry(host, 'docker.io'));
  if (pulled.length > 1) {
    throw new InputError(input, `is not set, and the images come from several registries (${pulled.join(', ')}): name the one the token is for in \`${input}\`.`);
  }
  if (pulled.length === 0) {
    throw new InputError(
      input,
      'is not set, and no image comes from a registry host (Docker Hub images such as nginx are public pulls): name the registry the token is for, or remove `registry-password`.',
    );
  }
  return pulled[0];
}
