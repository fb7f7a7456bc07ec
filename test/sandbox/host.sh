#!/usr/bin/env bash
# Fault injection on one sandbox host; each action is idempotent.
# Usage: sudo test/sandbox/host.sh stop-sshd|start-sshd|stop-docker|start-docker <i>
#   stop-sshd stops the listener only: open sessions live on, as with `systemctl stop ssh`.
#   stop-docker lets dockerd stop its containers, as with `systemctl stop docker`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

action=${1:-}
i=${2:-}
require_host "$i"
lock_sandbox

case $action in
  stop-sshd) host_sshd_stop "$i" ;;
  start-sshd)
    if ! host_sshd_running "$i"; then
      host_sshd_start "$i"
      host_sshd_wait "$i"
    fi
    ;;
  stop-docker) host_engine_stop "$i" ;;
  start-docker)
    if ! host_engine_running "$i"; then
      host_engine_stop "$i"
      host_engine_start "$i"
      host_engine_wait "$i"
    fi
    ;;
  *) fail "" "usage: $0 stop-sshd|start-sshd|stop-docker|start-docker <i>" ;;
esac
log "h$i: $action done"
