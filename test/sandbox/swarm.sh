#!/usr/bin/env bash
# A Docker swarm over sandbox hosts, formed the way a user forms one on EC2 instances: `docker swarm
# init --advertise-addr <its address>` on the first, `docker swarm join --token ... <address>:2377`
# on the others, each through that host's own engine. Idempotent: run again to repair.
# Usage: sudo test/sandbox/swarm.sh up <i,j,k> [--managers N]   hosts i,j,k; the first N are managers (1)
#        sudo test/sandbox/swarm.sh down [<i,j,k>]                 every node leaves (default: every host)
#        sudo test/sandbox/swarm.sh status [<i,j,k>]               each host's swarm state
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() { fail "" "usage: $0 up <i,j,...> [--managers N] | down [<i,j,...>] | status [<i,j,...>]"; }

action=${1:-}
(($#)) && shift
list=
managers=1
while (($#)); do
  case $1 in
    --managers) managers=${2:-}; shift 2 || shift ;;
    --managers=*) managers=${1#*=}; shift ;;
    -*) usage ;;
    *) [ -z "$list" ] || usage; list=$1; shift ;;
  esac
done

nodes=()
if [ -n "$list" ]; then
  [[ $list =~ ^[0-9]+(,[0-9]+)*$ ]] || usage
  IFS=, read -r -a nodes <<<"$list"
elif [ "$action" != up ]; then
  mapfile -t nodes < <(existing_hosts)
fi
for i in "${nodes[@]}"; do require_host "$i"; done

# swarm_state I: "<LocalNodeState> <ControlAvailable> <NodeID>" as host I's engine sees itself.
swarm_state() { host_docker "$1" info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeID}}'; }

# leave I: host I's node leaves whatever swarm it is in (--force: a manager too, quorum or not).
leave() {
  local state
  host_engine_running "$1" || { log "h$1: engine not running, skipped"; return 0; }
  read -r state _ <<<"$(swarm_state "$1")"
  if [ "$state" != inactive ]; then
    host_docker "$1" swarm leave --force >/dev/null
    log "h$1: left the swarm"
  fi
}

swarm_up() {
  ((${#nodes[@]} >= 1)) || usage
  [[ $managers =~ ^[1-9][0-9]*$ ]] && ((managers <= ${#nodes[@]})) || fail "" "--managers must be 1..${#nodes[@]}"
  local first=${nodes[0]} addr state control id
  for i in "${nodes[@]}"; do host_engine_running "$i" || fail "$(host_dir "$i")/dockerd.log" "h$i: engine not running (host.sh start-docker $i)"; done
  addr=$(host_address "$first")

  # The first host: a manager of a swarm of its own, or made one.
  read -r state control id <<<"$(swarm_state "$first")"
  if [ "$state" = active ] && [ "$control" != true ]; then
    leave "$first"
    state=inactive
  fi
  if [ "$state" != active ]; then
    [ "$state" = inactive ] || leave "$first" # pending, error, locked: start over
    host_docker "$first" swarm init --advertise-addr "$addr" >/dev/null
    log "h$first: swarm initialised, manager at $addr:2377"
  fi
  local worker_token manager_token members
  worker_token=$(host_docker "$first" swarm join-token -q worker)
  manager_token=$(host_docker "$first" swarm join-token -q manager)

  local n=0 token role
  for i in "${nodes[@]}"; do
    n=$((n + 1))
    ((i != first)) || continue
    if ((n <= managers)); then role=manager token=$manager_token; else role=worker token=$worker_token; fi
    members=$(host_docker "$first" node ls -q)
    read -r state control id <<<"$(swarm_state "$i")"
    # Already a member of this swarm, in the asked role: nothing to do.
    if [ "$state" = active ] && grep -qx "$id" <<<"$members"; then
      if [ "$role" = manager ] && [ "$control" != true ]; then host_docker "$first" node promote "$id" >/dev/null; fi
      if [ "$role" = worker ] && [ "$control" = true ]; then host_docker "$first" node demote "$id" >/dev/null; fi
      continue
    fi
    [ "$state" = inactive ] || leave "$i" # a member of another swarm, or half joined
    # --advertise-addr: each host has eth0 and its docker bridges; the swarm must use the subnet.
    host_docker "$i" swarm join --token "$token" --advertise-addr "$(host_address "$i")" "$addr:2377" >/dev/null
    log "h$i: joined as a $role"
  done

  # Nodes that left (or were started over) stay listed as down: remove them, as an operator would.
  local down_ids
  mapfile -t down_ids < <(host_docker "$first" node ls --format '{{.ID}} {{.Status}}' | awk '$2 == "Down" { print $1 }')
  ((${#down_ids[@]} == 0)) || host_docker "$first" node rm --force "${down_ids[@]}" >/dev/null
  wait_for 60 "every node ready in the swarm of h$first" "" all_ready "$first" "${#nodes[@]}"
  host_docker "$first" node ls
}

all_ready() {
  [ "$(host_docker "$1" node ls --format '{{.Status}} {{.Availability}}' | grep -cx 'Ready Active')" -ge "$2" ]
}

swarm_down() {
  local i state control id workers=() managers_list=() manager_ids=() leader=
  for i in "${nodes[@]}"; do
    host_engine_running "$i" || { log "h$i: engine not running, skipped"; continue; }
    read -r state control id <<<"$(swarm_state "$i")"
    [ "$state" != inactive ] || continue
    if [ "$control" = true ]; then
      managers_list+=("$i")
      manager_ids+=("$id")
    else
      workers+=("$i")
    fi
  done
  # Managers demoted first, by one of them while the swarm has its quorum: managers leaving one by
  # one would leave the last ones without a quorum (and their engines slow to answer anything).
  if ((${#managers_list[@]} > 1)); then
    leader=${managers_list[0]}
    for id in "${manager_ids[@]:1}"; do host_docker "$leader" node demote "$id" >/dev/null 2>&1 || true; done
  fi
  for i in "${workers[@]}" "${managers_list[@]:1}"; do leave "$i"; done
  if [ -n "${managers_list[0]:-}" ]; then leave "${managers_list[0]}"; fi
}

swarm_status() {
  local i
  for i in "${nodes[@]}"; do
    if host_engine_running "$i"; then
      log "h$i $(host_address "$i"): $(host_docker "$i" info --format '{{.Swarm.LocalNodeState}} manager={{.Swarm.ControlAvailable}} node={{.Swarm.NodeID}}')"
    else
      log "h$i $(host_address "$i"): engine not running"
    fi
  done
}

case $action in
  up) lock_sandbox; swarm_up ;;
  down) lock_sandbox; swarm_down ;;
  status) swarm_status ;;
  *) usage ;;
esac
