/**
 * Automatic image tags from what triggered the workflow, in the spirit of docker/metadata-action's
 * defaults: `sha-<7>` always, the branch, `latest` on the default branch, semver parts for a
 * `vX.Y.Z` tag, `pr-N` for pull requests.
 */

/** The part of the GitHub context tags depend on; built from @actions/github in `github-context.ts`. */
export interface BuildContext {
  eventName: string;
  sha: string;
  /** `refs/heads/main`, `refs/tags/v1.2.3`, `refs/pull/7/merge`. */
  ref: string;
  defaultBranch?: string;
  pullRequestNumber?: number;
}

const SEMVER = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

/** A branch or tag name made into a valid docker tag: `feature/Login` → `feature-login`. */
export function sanitizeTag(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128)
    .replace(/-+$/, '');
}

export function automaticTags(context: BuildContext): string[] {
  const tags: string[] = [];
  const add = (tag: string) => {
    if (tag && !tags.includes(tag)) tags.push(tag);
  };

  if (context.eventName === 'pull_request' || context.eventName === 'pull_request_target') {
    const number = context.pullRequestNumber ?? Number(/^refs\/pull\/(\d+)\//.exec(context.ref)?.[1]);
    if (number) add(`pr-${number}`);
  } else if (context.ref.startsWith('refs/tags/')) {
    const gitTag = context.ref.slice('refs/tags/'.length);
    const semver = SEMVER.exec(gitTag);
    if (semver) {
      const [, major, minor, patch, prerelease] = semver;
      if (prerelease) {
        add(sanitizeTag(`${major}.${minor}.${patch}-${prerelease}`));
      } else {
        add(`${major}.${minor}.${patch}`);
        add(`${major}.${minor}`);
        // `0` would name every pre-1.0 release at once, which says nothing; metadata-action skips it too.
        if (major !== '0') add(major);
        add('latest');
      }
    } else {
      add(sanitizeTag(gitTag));
    }
  } else if (context.ref.startsWith('refs/heads/')) {
    const branch = context.ref.slice('refs/heads/'.length);
    add(sanitizeTag(branch));
    if (context.defaultBranch && branch === context.defaultBranch) add('latest');
  }
  if (context.sha) add(`sha-${context.sha.slice(0, 7)}`);
  return tags;
}
