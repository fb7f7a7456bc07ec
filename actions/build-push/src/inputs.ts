/** The only file that reads build-push's inputs: every action.yml input name appears here. */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import {
  CACHE_TYPES,
  InputError,
  automaticTags,
  formatImageRef,
  imageName,
  parseBoolean,
  parseChoice,
  parseImageRef,
  parseKeyValues,
  parseList,
  sameRegistry,
  withTag,
  type CacheType,
  type ImageRef,
  type InputReader,
  type RunContext,
} from '@slipway/core';

export interface BuildPushInputs {
  /** `image`, without tag: where bare and automatic tags go, and the registry cache. */
  image: ImageRef;
  /** True when `image` had uppercase letters that were lowercased. */
  imageLowercased: boolean;
  registry: string;
  username: string;
  password: string;
  context: string;
  file: string;
  target?: string;
  buildArgs: Map<string, string>;
  labels: Map<string, string>;
  /** Full references to push, never none: `tags`, else the tag in `image`, else the automatic tags. */
  tags: string[];
  /**
   * The repository of the first tag, which `image-ref` names: a full reference in `tags` may put
   * the image in another repository than `image`, and the digest is only there.
   */
  pushedRepository: string;
  platforms: string[];
  cache: CacheType;
  push: boolean;
  noCache: boolean;
  pull: boolean;
}

export function getInputs(read: InputReader, run: RunContext, workspace = process.cwd()): BuildPushInputs {
  // The default image is on the registry logged in to: with `registry` alone, a push to ghcr.io
  // would have gone out with that registry's login.
  const registryInput = read('registry').trim();
  const rawImage = read('image') || (run.owner && run.repo ? `${registryInput || 'ghcr.io'}/${run.owner}/${run.repo}` : '');
  if (!rawImage) throw new InputError('image', 'is not set and GITHUB_REPOSITORY is unknown: give an image such as ghcr.io/owner/app.');
  // GHCR refuses uppercase in the repository path, and owners often have it ("My-Org"): lowercase, don't fail.
  const parsed = parseImageRef('image', rawImage, { lowercase: true });
  if (parsed.digest) throw new InputError('image', 'names a digest; a build makes a new image: give the repository, and tags in `tags`.');
  const image: ImageRef = { registry: parsed.registry, repository: parsed.repository };

  const tags = parseTags(read('tags'), image);
  if (tags.length === 0) tags.push(...(parsed.tag ? [parsed.tag] : automaticTags(run)).map((tag) => withTag(image, tag)));
  if (tags.length === 0) {
    throw new InputError('tags', 'is empty and no tag can be derived from the run (no GITHUB_REF or GITHUB_SHA, as outside GitHub): give `tags`, e.g. v1.');
  }

  const context = resolve(workspace, read('context') || '.');
  if (!existsSync(context) || !statSync(context).isDirectory()) {
    throw new InputError('context', `directory ${context} does not exist (paths are relative to the workspace, ${workspace}).`);
  }
  const fileInput = read('file');
  const file = fileInput ? (isAbsolute(fileInput) ? fileInput : resolve(workspace, fileInput)) : join(context, 'Dockerfile');
  if (!existsSync(file)) {
    throw new InputError('file', `${file} does not exist: add a Dockerfile there or point \`file\` at yours.`);
  }

  const push = parseBoolean('push', read('push'), true);
  const password = read('password');
  if (push && !password) {
    throw new InputError('password', 'is empty: pass a registry token (the default is the workflow token, `${{ github.token }}`).');
  }

  const registry = registryInput || image.registry;
  const cache = parseChoice('cache', read('cache'), CACHE_TYPES, 'none');
  if (push) checkPushedToRegistry(registry, registryInput !== '', [...tags, ...(cache === 'registry' ? [image] : [])]);
  return {
    image,
    imageLowercased: parsed.lowercased,
    registry,
    username: read('username') || run.actor,
    password,
    context,
    file,
    target: read('target') || undefined,
    buildArgs: parseKeyValues('build-args', read('build-args')),
    labels: parseKeyValues('labels', read('labels')),
    tags: tags.map(formatImageRef),
    pushedRepository: imageName(tags[0]),
    platforms: parseList(read('platforms')),
    cache,
    push,
    noCache: parseBoolean('no-cache', read('no-cache'), false),
    pull: parseBoolean('pull', read('pull'), false),
  };
}

/** `tags` lines are bare tags (`v1`) for `image`, or full references (`ghcr.io/o/app:v1`). */
function parseTags(raw: string, image: ImageRef): ImageRef[] {
  return parseList(raw).map((item) => {
    const isReference = item.includes('/') || item.includes(':');
    const ref = parseImageRef('tags', isReference ? item : `${imageName(image)}:${item}`, { lowercase: true });
    if (!ref.tag || ref.digest) throw new InputError('tags', `"${item}" needs a tag: write v1, or ghcr.io/owner/app:v1.`);
    return ref;
  });
}

/** One login, to one registry: a tag (or the registry cache) elsewhere would go out without it. */
function checkPushedToRegistry(registry: string, given: boolean, pushed: readonly ImageRef[]): void {
  const elsewhere = pushed.find((ref) => !sameRegistry(ref.registry, registry));
  if (!elsewhere) return;
  if (given) {
    throw new InputError(
      'registry',
      `is ${registry}, but ${imageName(elsewhere)} is pushed to ${elsewhere.registry}: name the image on ${registry} in \`image\` (and \`tags\`), or log in to ${elsewhere.registry}.`,
    );
  }
  throw new InputError('tags', `${imageName(elsewhere)} is on ${elsewhere.registry}, but the login is for the image's registry, ${registry}: push to one registry in a step.`);
}
