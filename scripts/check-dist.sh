#!/usr/bin/env bash
# Fails when the committed bundles are not what the source builds (a JavaScript action runs its
# committed dist/): rebuilds every actions/*/dist, then asks git what changed. git status, not git
# diff: a new file in dist/ is stale too. The pathspec is a :(glob) one: the plain 'actions/*/dist'
# matches no file under dist/ (a wildcard pathspec is not a directory prefix), so it never failed.
# Used by .ci/run and .github/workflows/ci.yml.
set -euo pipefail
cd "$(dirname "$0")/.."

pnpm run -s bundle
dist=':(glob)actions/*/dist/**'
stale=$(git status --porcelain --untracked-files=all -- "$dist")
if [ -n "$stale" ]; then
  message="The committed bundles differ from what the source builds; run pnpm bundle and commit dist/."
  if [ -n "${GITHUB_ACTIONS:-}" ]; then
    echo "::error::$message" # a workflow command: on stdout, where the runner reads them
  else
    echo "$message" >&2
  fi
  echo "$stale" >&2
  git diff --stat -- "$dist" >&2
  exit 1
fi
echo "dist/ matches the source."
