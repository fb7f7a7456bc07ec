/** OCI image annotations (https://github.com/opencontainers/image-spec/blob/main/annotations.md). */
import { repositoryUrl, type RunContext } from './github-context.js';

/**
 * Labels every image gets. `org.opencontainers.image.source` is what links a GHCR package to its
 * repository (and so gives it the repository's visibility and permissions).
 */
export function automaticLabels(run: RunContext, version: string, created: Date): Map<string, string> {
  const labels = new Map<string, string>();
  if (run.owner && run.repo) {
    labels.set('org.opencontainers.image.source', repositoryUrl(run));
    labels.set('org.opencontainers.image.url', repositoryUrl(run));
    labels.set('org.opencontainers.image.title', run.repo);
  }
  if (run.sha) labels.set('org.opencontainers.image.revision', run.sha);
  if (version) labels.set('org.opencontainers.image.version', version);
  labels.set('org.opencontainers.image.created', created.toISOString());
  return labels;
}

/** User labels win over automatic ones with the same key. */
export function mergeLabels(automatic: Map<string, string>, user: Map<string, string>): Map<string, string> {
  return new Map([...automatic, ...user]);
}
