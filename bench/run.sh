#!/usr/bin/env bash
# Runs the benchmarks (bench/run.ts) against the sandbox and writes BENCHMARKS.md.
# Usage: sudo bash bench/run.sh [--runs N] [--out FILE] [--only roundtrips|proxy]   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root: it starts sandbox hosts and resets their engines" >&2; exit 1; }
[ -x node_modules/node/bin/node ] || { echo "bench: run scripts/setup.sh first (it installs Node 24 and the sandbox)" >&2; exit 1; }
exec node_modules/node/bin/node --import ./scripts/register-ts.mjs bench/run.ts "$@"
