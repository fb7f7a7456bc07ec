#!/usr/bin/env bash
# Stop the sandbox: every host's sshd and dockerd, the registry and delay relays; remove the hosts'
# namespaces, their links, the subnet's bridge and iptables chain, the registry's CA from
# /etc/docker/certs.d, the users and the state.
# Usage: sudo test/sandbox/down.sh [--keep] [--all]
#   --keep  keep the state dir, users and homes (images, keys, registry data survive for the next up.sh)
#   --all   also stop the runner's dockerd
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

keep=0 all=0
for arg in "$@"; do
  case $arg in
    --keep) keep=1 ;;
    --all) all=1 ;;
    -h | --help) sed -n '2,6s/^# //p' "$0"; exit 0 ;;
    *) fail "" "unknown argument: $arg" ;;
  esac
done
[ "$(id -u)" = 0 ] || fail "" "run as root"
lock_sandbox

host_stop() {
  local i=$1 pids
  relay_stop "$i"
  host_sshd_stop "$i"
  # Kill the containers first: their overlay and network-namespace mounts go with them.
  host_engine_stop "$i" kill
  # Whatever else still runs in the namespace (SSH sessions outlive the listener) keeps it alive.
  pids=$(host_pids "$i")
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  unmount_under "$(host_dir "$i")/docker" "$RUN_DIR/h$i"
}

# One at a time: userdel and useradd lock /etc/passwd and fail rather than wait.
host_remove() {
  local i=$1 user
  user=$(host_user "$i")
  host_network_down "$i"
  if ((!keep)) && id "$user" >/dev/null 2>&1; then
    pkill -KILL -u "$user" || true # sessions outlive the sshd listener; userdel refuses while they run
    userdel --remove "$user" 2>/dev/null || userdel "$user"
    rm -rf "/home/${user:?}"
  fi
  log "host h$i down"
}

hosts=$(existing_hosts)
for i in $hosts; do host_stop "$i" & done
wait
for i in $hosts; do host_remove "$i"; done
subnet_down
# `ip netns add` made /run/netns a mount point of its own; with no namespace left, undo that too.
if [ -z "$(ip netns list)" ] && mountpoint -q /run/netns; then umount /run/netns && rmdir /run/netns; fi
registry_stop
rm -rf "$REGISTRY_CERTS_D" "$FAULT_REGISTRY_CERTS_D"
rmdir /etc/docker/certs.d 2>/dev/null || true
log "registry down"

if ((all)) && pid_alive /var/run/docker.pid dockerd; then
  stop_pid /var/run/docker.pid dockerd 60
  log "runner docker down"
fi

if ((!keep)); then
  rm -rf "$SANDBOX_DIR" "$RUN_DIR"
  log "removed $SANDBOX_DIR"
fi
