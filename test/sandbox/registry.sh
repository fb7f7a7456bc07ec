#!/usr/bin/env bash
# Fault injection on the sandbox registry; each action is idempotent.
# Usage: sudo test/sandbox/registry.sh stop|start
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

[ -s "$REGISTRY_DIR/password" ] || fail "" "no sandbox registry (run up.sh first)"
lock_sandbox

case ${1:-} in
  stop) registry_stop ;;
  start)
    if ! registry_running; then
      registry_stop
      registry_start
    fi
    ;;
  *) fail "" "usage: $0 stop|start" ;;
esac
log "registry: ${1} done"
