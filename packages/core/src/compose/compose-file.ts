/**
 * Compose files as the preflight reads them, on the runner, before any host is touched: each file is
 * parsed with js-yaml so a syntax error names the file and line, and the services they define are
 * known, so `services` and `images` can be checked against them. The files themselves are never
 * rewritten: image overrides go in a generated file (override.ts).
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, posix, relative, resolve, sep } from 'node:path';
import yaml from 'js-yaml';
import { InputError } from '../inputs.js';

/** What a service needs from the target, as far as the files say without interpolation. */
export interface ComposeService {
  name: string;
  /** The `image:` as written (it may hold `${VAR}`). */
  image?: string;
  /** Build context as written; a local directory unless it is a URL. */
  buildContext?: string;
  hasHealthcheck: boolean;
  /** The file that defines it first, relative to the workspace. */
  definedIn: string;
}

export interface ComposeFile {
  /** Absolute path on the runner. */
  path: string;
  /** Path relative to the workspace, with `/`: where it goes in a release directory. */
  relativePath: string;
}

export interface ComposeModel {
  files: ComposeFile[];
  services: Map<string, ComposeService>;
}

/** Compose's own default file names, in the order it looks for them. */
export const DEFAULT_COMPOSE_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'] as const;

/** The path of `file` below `workspace` with `/` separators, or undefined when it is outside. */
export function workspaceRelative(workspace: string, file: string): string | undefined {
  const rel = relative(workspace, file);
  if (rel === '') return '.';
  if (rel.startsWith('..') || isAbsolute(rel)) return undefined;
  return rel.split(sep).join(posix.sep);
}

/**
 * Parses every compose file (merged in order, as compose merges them) and collects their services.
 * `input` is the action input that named the files, for the error.
 */
export function loadComposeFiles(input: string, workspace: string, paths: readonly string[]): ComposeModel {
  const files: ComposeFile[] = [];
  const services = new Map<string, ComposeService>();
  for (const given of paths) {
    const path = resolve(workspace, given);
    const relativePath = workspaceRelative(workspace, path);
    if (!relativePath) throw new InputError(input, `${given} is outside the workspace (${workspace}).`);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new InputError(input, `cannot read ${relativePath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}.`);
    }
    const document = parseYaml(input, relativePath, text);
    for (const service of servicesOf(input, relativePath, document, text)) {
      const known = services.get(service.name);
      // A later file extends a service of an earlier one (compose's merge): keep what either says.
      services.set(
        service.name,
        known
          ? {
              ...known,
              image: service.image ?? known.image,
              buildContext: service.buildContext ?? known.buildContext,
              hasHealthcheck: service.hasHealthcheck || known.hasHealthcheck,
            }
          : service,
      );
    }
    files.push({ path, relativePath });
  }
  if (services.size === 0) throw new InputError(input, `${files.map((f) => f.relativePath).join(', ')} define no services.`);
  return { files, services };
}

function parseYaml(input: string, file: string, text: string): unknown {
  try {
    return yaml.load(text, { filename: file });
  } catch (error) {
    if (error instanceof yaml.YAMLException) {
      // js-yaml counts lines and columns from 0; editors and compose count from 1.
      const where = error.mark ? ` line ${error.mark.line + 1}, column ${error.mark.column + 1}` : '';
      throw new InputError(input, `${file}${where}: ${error.reason}.`);
    }
    throw error;
  }
}

/** The line on which `key:` first appears at the start of a line (after indentation), for errors. */
function lineOf(text: string, key: string): string {
  const index = text.split(/\r?\n/).findIndex((line) => new RegExp(`^\\s*["']?${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}["']?\\s*:`).test(line));
  return index >= 0 ? ` line ${index + 1}` : '';
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function servicesOf(input: string, file: string, document: unknown, text: string): ComposeService[] {
  // Valid YAML (null), but both composes refuse it, even as a later file of the list: v1 "Top level
  // object ... needs to be an object not '<class 'NoneType'>'", v2 "empty compose file".
  if (document === null || document === undefined) throw new InputError(input, `${file} is empty: give it a \`services:\` key, or leave it out of the list.`);
  if (!isMapping(document)) throw new InputError(input, `${file}: the top level must be a mapping with a \`services:\` key.`);
  const services = document.services;
  if (services === undefined || services === null) return [];
  if (!isMapping(services)) throw new InputError(input, `${file}${lineOf(text, 'services')}: \`services\` must be a mapping of service names.`);
  return Object.entries(services).map(([name, raw]) => {
    if (raw !== null && !isMapping(raw)) throw new InputError(input, `${file}${lineOf(text, name)}: service "${name}" must be a mapping.`);
    const service = raw ?? {};
    const build = service.build;
    const buildContext = typeof build === 'string' ? build : isMapping(build) && typeof build.context === 'string' ? build.context : isMapping(build) ? '.' : undefined;
    const healthcheck = service.healthcheck;
    return {
      name,
      image: typeof service.image === 'string' ? service.image : undefined,
      buildContext,
      hasHealthcheck: isMapping(healthcheck) && healthcheck.disable !== true,
      definedIn: file,
    };
  });
}

/** Throws naming `input` when a name is not a service of the files. */
export function checkServiceNames(model: ComposeModel, input: string, names: Iterable<{ name: string; line?: number }>): void {
  for (const { name, line } of names) {
    if (!model.services.has(name)) {
      const where = line ? `line ${line}: ` : '';
      throw new InputError(input, `${where}"${name}" is not a service of ${model.files.map((f) => f.relativePath).join(', ')} (services: ${[...model.services.keys()].join(', ')}).`);
    }
  }
}

/**
 * A service's build context when it is a local directory (not a git or http URL), relative to the
 * workspace. Compose resolves relative paths of every file from the project directory, which is the
 * directory of the first file (docs.docker.com/compose/how-tos/multiple-compose-files/merge/).
 * An absolute context, or one a variable names, cannot be told to be among the files sent to a host:
 * refused naming `input`.
 */
export function localBuildContext(input: string, model: ComposeModel, service: ComposeService): string | undefined {
  const context = service.buildContext;
  if (context === undefined || /^[a-z][a-z0-9+.-]*:\/\//i.test(context) || /^git@/.test(context)) return undefined;
  if (context.includes('$')) {
    throw new InputError(input, `service ${service.name} builds from "${context}", which a variable names: write the directory, relative to the compose file.`);
  }
  if (posix.isAbsolute(context)) {
    throw new InputError(input, `service ${service.name} builds from ${context}, an absolute path: write it relative to the compose file, inside the workspace.`);
  }
  return posix.normalize(posix.join(posix.dirname(model.files[0].relativePath), context));
}
