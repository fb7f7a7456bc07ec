/** build-push: log in, build, push, report. Wires core pieces together; inputs come from inputs.ts. */
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@actions/core';
import {
  DockerCli,
  InputError,
  LocalShell,
  RegistrySession,
  actionInputs,
  automaticLabels,
  factsTable,
  formatBytes,
  formatDuration,
  imageName,
  maskSecret,
  mergeLabels,
  readRunContext,
  writeSummary,
  type Builder,
} from '@slipway/core';
import { getInputs, type BuildPushInputs } from './inputs.js';

const CONFIG_DIR_STATE = 'docker-config-dir';

export async function main(): Promise<void> {
  const run = readRunContext();
  const inputs = getInputs(actionInputs, run);
  maskSecret(inputs.password);
  if (inputs.imageLowercased) core.notice(`Image name lowercased to ${imageName(inputs.image)}: registries accept lowercase repository names only.`);

  const docker = new DockerCli(new LocalShell());
  const builder = await docker.detectBuilder();
  checkBuilderSupports(builder, inputs);

  const { tags, pushedRepository } = inputs;
  const version = tags[0].slice(tags[0].lastIndexOf(':') + 1);
  const labels = mergeLabels(automaticLabels(run, version, new Date()), inputs.labels);

  const session = inputs.push ? await login(docker, inputs) : undefined;
  try {
    const cli = session?.docker ?? docker;
    const metadataFile = join(process.env.RUNNER_TEMP || tmpdir(), `slipway-build-${process.pid}.json`);
    const buildStarted = Date.now();
    await core.group(`Build ${tags[0]} (${builder === 'buildx' ? 'buildx' : 'docker build'})`, () =>
      cli.build(
        builder,
        {
          context: inputs.context,
          file: inputs.file,
          target: inputs.target,
          tags,
          labels,
          buildArgs: inputs.buildArgs,
          platforms: inputs.platforms,
          cache: inputs.cache,
          cacheRef: `${imageName(inputs.image)}:buildcache`,
          noCache: inputs.noCache,
          pull: inputs.pull,
          push: inputs.push,
        },
        metadataFile,
      ),
    );
    const buildMs = Date.now() - buildStarted;

    const pushStarted = Date.now();
    let digest = '';
    if (inputs.push) {
      digest = builder === 'buildx' ? await readBuildxDigest(metadataFile) : await core.group(`Push ${tags.length} tag(s)`, () => pushAll(cli, tags));
    }
    const pushMs = inputs.push && builder === 'legacy' ? Date.now() - pushStarted : undefined;
    const size = builder === 'legacy' || !inputs.push ? (await cli.inspectImage(tags[0])).size : undefined;

    const imageRef = digest ? `${pushedRepository}@${digest}` : '';
    core.setOutput('image', pushedRepository);
    core.setOutput('tags', tags.join('\n'));
    core.setOutput('digest', digest);
    core.setOutput('image-ref', imageRef);
    core.setOutput('labels', [...labels].map(([key, value]) => `${key}=${value}`).join('\n'));
    core.info(inputs.push ? `Pushed ${imageRef}` : `Built ${tags.join(', ')} (not pushed: push is false)`);

    await writeSummary(
      `build-push: ${pushedRepository}`,
      factsTable([
        ['Image', pushedRepository],
        ['Tags', tags.map((tag) => (tag.startsWith(`${pushedRepository}:`) ? tag.slice(pushedRepository.length + 1) : tag)).join(', ')],
        ['Digest', digest || '(not pushed)'],
        ['Image ref', imageRef || '(not pushed)'],
        ['Size', size === undefined ? '' : formatBytes(size)],
        ['Builder', builder],
        ['Build time', formatDuration(buildMs)],
        ['Push time', pushMs === undefined ? (inputs.push ? 'in build' : '') : formatDuration(pushMs)],
      ]),
    );
    await rm(metadataFile, { force: true });
  } finally {
    await session?.close();
  }
}

/** Deletes the throwaway docker config if main could not (killed, cancelled). */
export async function post(): Promise<void> {
  const dir = core.getState(CONFIG_DIR_STATE);
  if (dir) {
    await rm(dir, { recursive: true, force: true });
    core.info('Registry credentials removed.');
  }
}

function checkBuilderSupports(builder: Builder, inputs: BuildPushInputs): void {
  if (builder === 'buildx') return;
  if (inputs.platforms.length) {
    throw new InputError('platforms', 'needs docker buildx, which this runner does not have; remove `platforms`, or set up buildx first (docker/setup-buildx-action).');
  }
  if (inputs.cache !== 'none') core.notice(`cache: ${inputs.cache} is ignored: the classic docker builder (no buildx on this runner) has no cache export.`);
}

async function login(docker: DockerCli, inputs: BuildPushInputs): Promise<RegistrySession> {
  return core.group(`Log in to ${inputs.registry} as ${inputs.username}`, async () => {
    const session = await RegistrySession.open(
      docker,
      { registry: inputs.registry, username: inputs.username, password: inputs.password, inputs: ['username', 'password'], access: 'push' },
      process.env.RUNNER_TEMP || undefined,
    );
    // Saved before anything else can fail, so the post step finds it even if the build is cancelled.
    core.saveState(CONFIG_DIR_STATE, session.configDir);
    return session;
  });
}

/** Pushes every tag; they name one image, so the registry must report one digest. */
async function pushAll(docker: DockerCli, tags: readonly string[]): Promise<string> {
  const digests = new Set<string>();
  for (const tag of tags) digests.add(await docker.push(tag));
  if (digests.size !== 1) throw new Error(`The pushed tags report different digests: ${[...digests].join(', ')}`);
  return [...digests][0];
}

async function readBuildxDigest(metadataFile: string): Promise<string> {
  const metadata = JSON.parse(await readFile(metadataFile, 'utf8')) as Record<string, unknown>;
  const digest = metadata['containerimage.digest'];
  if (typeof digest !== 'string') throw new Error('buildx pushed but reported no digest in its metadata file.');
  return digest;
}
