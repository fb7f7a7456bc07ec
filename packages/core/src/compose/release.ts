/**
 * Release directories on a host: each deployment's files go into `<base>/releases/<id>`, and
 * `<base>/current` points at the last one that came up. A failed deployment leaves `current` alone,
 * so the previous release is still there, complete, to be applied again. Old releases are pruned.
 *
 *   ~/slipway/<project>/releases/20261122T200102Z-4242-1/{compose.yml, proxy/, .slipway/...}
 *   ~/slipway/<project>/current -> releases/20261122T200102Z-4242-1
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { homeDirectory, type Shell } from '../shell.js';

/** Where a release keeps what we generate (override, env file, manifest), apart from the user's files. */
export const RELEASE_META_DIR = '.slipway';
export const RELEASE_MANIFEST = 'release.json';

/** What a release needs to be applied again, later, by another run. */
export interface ReleaseManifest {
  id: string;
  project: string;
  mode: 'compose' | 'swarm';
  /** Paths relative to the release directory, in merge order, the generated override included. */
  files: string[];
  /** Relative path of the env file, if any. */
  envFile?: string;
  services: string[];
  createdAt: string;
  runUrl?: string;
}

/**
 * `20261122T200102Z-<run id>-<attempt>-<4 hex>`: sorts by time and says which run made it; the
 * random end keeps two deployments of one run in the same second (two steps, a re-run) apart.
 */
export function releaseId(date: Date, runId: number, runAttempt: number, random = randomBytes(2).toString('hex')): string {
  const stamp = date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${runId}-${runAttempt}-${random}`;
}

/** Expands a leading `~` against the target's home: no shell is there to do it, argv is literal. */
export async function resolveRemoteDir(shell: Shell, dir: string): Promise<string> {
  if (posix.isAbsolute(dir)) return posix.normalize(dir);
  const home = await homeDirectory(shell, 'give `remote-dir` as an absolute path');
  const rest = dir === '~' ? '' : dir.startsWith('~/') ? dir.slice(2) : dir;
  return posix.normalize(posix.join(home, rest));
}

export class ReleaseStore {
  constructor(
    readonly shell: Shell,
    /** Absolute path on the target. */
    readonly baseDir: string,
  ) {}

  get releasesDir(): string {
    return posix.join(this.baseDir, 'releases');
  }

  get currentLink(): string {
    return posix.join(this.baseDir, 'current');
  }

  dir(id: string): string {
    return posix.join(this.releasesDir, id);
  }

  /** Creates the (new, empty) release directory, private to the deploy user: it will hold the env file. */
  async create(id: string): Promise<string> {
    const dir = this.dir(id);
    await this.shell.run({ args: ['mkdir', '-p', '-m', '0700', this.baseDir, this.releasesDir] });
    await this.shell.run({ args: ['mkdir', '-m', '0700', dir] });
    await this.shell.run({ args: ['mkdir', '-m', '0700', posix.join(dir, RELEASE_META_DIR)] });
    return dir;
  }

  /** Unpacks a tar archive into the release: one command, the archive on stdin, for any shell. */
  async unpack(id: string, archive: Buffer): Promise<void> {
    // --no-same-owner: a root deploy user would otherwise keep the runner's uids on the files.
    await this.shell.run({ args: ['tar', '-x', '-f', '-', '--no-same-owner', '-C', this.dir(id)], stdin: archive, timeoutMs: 300_000 });
  }

  async writeManifest(manifest: ReleaseManifest): Promise<void> {
    await this.shell.writeFile(posix.join(this.dir(manifest.id), RELEASE_META_DIR, RELEASE_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, 0o600);
  }

  /** The release `current` points at, if any. */
  async current(): Promise<ReleaseManifest | undefined> {
    const link = await this.shell.run({ args: ['readlink', this.currentLink], allowFailure: true, timeoutMs: 30_000 });
    if (link.exitCode !== 0) return undefined;
    const id = posix.basename(link.stdout.trim());
    const manifest = await this.shell.run({
      args: ['cat', posix.join(this.dir(id), RELEASE_META_DIR, RELEASE_MANIFEST)],
      allowFailure: true,
      timeoutMs: 30_000,
    });
    if (manifest.exitCode !== 0) return undefined;
    return JSON.parse(manifest.stdout) as ReleaseManifest;
  }

  /** Points `current` at the release: a new link renamed over the old, so it is never missing. */
  async activate(id: string): Promise<void> {
    const temporary = `${this.currentLink}.new`;
    await this.shell.run({ args: ['ln', '-sfn', posix.join('releases', id), temporary] });
    await this.shell.run({ args: ['mv', '-T', '-f', temporary, this.currentLink] });
  }

  /** Removes the oldest releases beyond `keep`, never `current` nor `protect`. Returns those removed. */
  async prune(keep: number, protect: readonly string[]): Promise<string[]> {
    const listed = await this.shell.run({ args: ['ls', '-1', this.releasesDir], timeoutMs: 30_000 });
    const current = await this.shell.run({ args: ['readlink', this.currentLink], allowFailure: true });
    const keepIds = new Set([...protect, posix.basename(current.stdout.trim())]);
    const ids = listed.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .sort();
    const old = ids.slice(0, Math.max(0, ids.length - keep)).filter((id) => !keepIds.has(id));
    if (old.length) await this.shell.run({ args: ['rm', '-rf', '--', ...old.map((id) => this.dir(id))], timeoutMs: 120_000 });
    return old;
  }
}

/**
 * A tar archive of `paths` (relative to `baseDir`) on the runner, made by the runner's tar into
 * memory: GitHub's runners have GNU tar, and one archive is one upload for any Shell.
 */
export function packFiles(baseDir: string, paths: readonly string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // Owner 0 and numeric ids: the runner's user and uids mean nothing on the host.
    const tar = spawn('tar', ['-c', '-f', '-', '--owner=0', '--group=0', '--numeric-owner', '-C', baseDir, '--', ...paths], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let stderr = '';
    tar.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    tar.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    tar.on('error', reject);
    tar.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(chunks));
      else reject(new Error(`tar of ${paths.join(', ')} in ${baseDir} failed (${code}): ${stderr.trim()}`));
    });
  });
}
