/**
 * The releases deployed on a host, one JSON object a line in a file next to the deploy lock: what
 * `rollback` goes back to, and what image pruning keeps. The host program (container/program.ts)
 * appends each line under the deploy lock; here the runner reads the lines it reports.
 */
export type ReleaseResult = 'ok' | 'failed' | 'rolled-back';

export interface ReleaseRecord {
  /** When the deployment started (ISO 8601). */
  time: string;
  /** `deploy`, or `rollback` to an earlier release. */
  action: 'deploy' | 'rollback';
  /** The image as deployed: the reference given, or for a rollback the recorded one. */
  image: string;
  /** The local image ID (`sha256:…`): what a rollback runs again. */
  imageId: string;
  /** The registry digest, when the image has one. */
  digest?: string;
  /** The image the host ran before, if any. */
  previousImage?: string;
  previousImageId?: string;
  runUrl?: string;
  result: ReleaseResult;
  durationMs?: number;
  error?: string;
}

export function parseHistory(text: string): ReleaseRecord[] {
  const records: ReleaseRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const record = JSON.parse(line) as ReleaseRecord;
      if (record && typeof record.imageId === 'string' && typeof record.image === 'string') records.push(record);
    } catch {
      // Not a record: skipped.
    }
  }
  return records;
}

/** Image IDs of successful releases, newest first, each once. */
export function releasedImages(records: readonly ReleaseRecord[]): { imageId: string; image: string; digest?: string }[] {
  const seen = new Set<string>();
  const images: { imageId: string; image: string; digest?: string }[] = [];
  for (const record of [...records].reverse()) {
    if (record.result !== 'ok' || seen.has(record.imageId)) continue;
    seen.add(record.imageId);
    images.push({ imageId: record.imageId, image: record.image, digest: record.digest });
  }
  return images;
}

/** The release to go back to: the newest successful one whose image is not the one running now. */
export function rollbackTarget(records: readonly ReleaseRecord[], runningImageId: string | undefined): { imageId: string; image: string; digest?: string } | undefined {
  return releasedImages(records).find((release) => release.imageId !== runningImageId);
}

/**
 * Images to remove: those of successful releases beyond the newest `keep`, never one in `inUse`.
 * Only images this history deployed are candidates: nothing else on the host is touched.
 */
export function imagesToPrune(records: readonly ReleaseRecord[], keep: number, inUse: ReadonlySet<string>): string[] {
  const released = releasedImages(records).map((release) => release.imageId);
  const failed = records.filter((record) => record.result !== 'ok').map((record) => record.imageId);
  const kept = new Set(released.slice(0, keep));
  return [...new Set([...released.slice(keep), ...failed])].filter((id) => !kept.has(id) && !inUse.has(id));
}
