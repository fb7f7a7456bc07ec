#!/usr/bin/env bash
# Faults and network conditions on one sandbox host; each action is idempotent.
# Usage: sudo test/sandbox/host.sh ACTION <i> [ARG...]   e.g. host.sh delay 1 100
#   stop-sshd | start-sshd      the listener only: open sessions live on, as with `systemctl stop ssh`
#   stop-docker | start-docker  dockerd stops its containers, as with `systemctl stop docker`
#   restart-docker | kill-docker  a restart; a crash (SIGKILL to dockerd, containers left to it)
#   disconnect | reconnect      cut the host off the subnet (its link down) and bring it back
#   delay <i> <ms> | undelay    a relay on 127.0.0.1:(22000+i) to the host's sshd adding <ms> a round trip
#   exec <i> CMD...             CMD in the host's network namespace (e.g. curl from the host's side)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

action=${1:-}
i=${2:-}
require_host "$i"
shift 2
# exec runs a caller's command, which may take long: no sandbox lock for it.
[ "$action" = exec ] || lock_sandbox

usage() { fail "" "usage: $0 stop-sshd|start-sshd|stop-docker|start-docker|restart-docker|kill-docker|disconnect|reconnect|undelay <i>, or $0 delay <i> <ms>, or $0 exec <i> CMD..."; }

engine_start() {
  if ! host_engine_running "$i"; then
    host_engine_stop "$i"
    host_engine_start "$i"
    host_engine_wait "$i"
  fi
}

case $action in
  stop-sshd) host_sshd_stop "$i" ;;
  start-sshd)
    if ! host_sshd_running "$i"; then
      host_sshd_start "$i"
      host_sshd_wait "$i"
    fi
    ;;
  stop-docker) host_engine_stop "$i" ;;
  start-docker) engine_start ;;
  restart-docker)
    host_engine_stop "$i"
    engine_start
    ;;
  kill-docker)
    pid=$(cat "$(host_dir "$i")/dockerd.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && pid_alive "$(host_dir "$i")/dockerd.pid" "$(host_dir "$i")/docker"; then kill -KILL "$pid"; fi
    ;;
  disconnect) host_link "$i" down ;;
  reconnect) host_link "$i" up ;;
  delay)
    [[ ${1:-} =~ ^[0-9]+$ ]] || fail "" "delay needs milliseconds, e.g. $0 delay $i 100"
    relay_start "$i" "$1"
    log "h$i: ssh through 127.0.0.1:$(relay_port "$i") adds ${1} ms a round trip"
    ;;
  undelay) relay_stop "$i" ;;
  exec)
    (($#)) || usage
    in_host "$i" "$@"
    exit
    ;;
  *) usage ;;
esac
log "h$i: $action done"
