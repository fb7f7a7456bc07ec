/**
 * Image references: `registry/namespace/name[:tag][@digest]`, following the grammar of
 * distribution/reference (the one docker itself applies), plus GHCR's rule that the whole
 * repository path is lowercase (an owner "My-Org" must be pushed as "my-org").
 */
import { InputError } from './inputs.js';

export interface ImageRef {
  /** Registry host, with port when given: `ghcr.io`, `127.0.0.1:5000`, `docker.io`. */
  readonly registry: string;
  /** Path below the registry: `owner/name`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const DOCKER_HUB = 'docker.io';

/** A first path part is a registry host when it has a dot or a port, or is `localhost`. */
function isRegistryHost(part: string): boolean {
  return part.includes('.') || part.includes(':') || part === 'localhost';
}

export interface ParseImageOptions {
  /** Lowercase the repository path instead of refusing uppercase (what GHCR needs for owners). */
  lowercase?: boolean;
}

export interface ParsedImageRef extends ImageRef {
  /** The repository path had uppercase letters and `lowercase` was asked for. */
  readonly lowercased: boolean;
}

export function parseImageRef(input: string, raw: string, options: ParseImageOptions = {}): ParsedImageRef {
  const text = raw.trim();
  if (text === '') throw new InputError(input, 'is empty: give an image such as ghcr.io/owner/app.');
  if (/\s/.test(text)) throw new InputError(input, `"${text}" contains white space.`);

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new InputError(input, `"${digest}" is not a digest: expected sha256: and 64 hex digits.`);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw new InputError(input, `tag "${tag}" is not valid: up to 128 letters, digits, _ . -, not starting with . or -.`);
    }
  }

  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  if (parts.length > 1 && isRegistryHost(parts[0])) registry = parts.shift()!.toLowerCase();
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');

  let repository = parts.join('/');
  const lowercased = repository !== repository.toLowerCase();
  if (lowercased) {
    if (!options.lowercase) {
      throw new InputError(input, `"${repository}" has uppercase letters; registries accept lowercase only: use "${repository.toLowerCase()}".`);
    }
    repository = repository.toLowerCase();
  }
  for (const part of repository.split('/')) {
    if (!PATH_COMPONENT.test(part)) {
      throw new InputError(input, `"${part}" in "${text}" is not a valid repository name part (lowercase letters, digits, and . _ - between them).`);
    }
  }
  return { registry, repository, tag, digest, lowercased };
}

/** Docker Hub's names: `docker login` and the engine take each of them for the same registry. */
const DOCKER_HUB_NAMES = new Set([DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io']);

/** Whether two registry hosts are one registry for a login: case aside, and Docker Hub by any of its names. */
export function sameRegistry(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x === y || (DOCKER_HUB_NAMES.has(x) && DOCKER_HUB_NAMES.has(y));
}

/** `registry/repository`, without tag or digest: the name tags are added to. */
export function imageName(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}`;
}

export function formatImageRef(ref: ImageRef): string {
  return imageName(ref) + (ref.tag ? `:${ref.tag}` : '') + (ref.digest ? `@${ref.digest}` : '');
}

export function withTag(ref: ImageRef, tag: string): ImageRef {
  return { registry: ref.registry, repository: ref.repository, tag };
}

export function withDigest(ref: ImageRef, digest: string): ImageRef {
  return { registry: ref.registry, repository: ref.repository, digest };
}
