# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this
# Shared helpers for the sandbox scripts (up.sh, down.sh, host.sh, registry.sh). Sourced, not run.
# The sandbox is made of real daemons started by hand: CI machines and this dev box have no
# service manager we can rely on, and the point of the sandbox is to test against no mocks.

SANDBOX_DIR=${SLIPWAY_SANDBOX_DIR:-/var/tmp/slipway-sandbox}
# Unix socket paths are limited to 108 bytes (and containerd nests sockets under the exec root),
# so sockets and exec roots live under a short fixed path rather than under SANDBOX_DIR.
RUN_DIR=/run/slipway
LOCK_FILE=/run/slipway-sandbox.lock
# One subnet, like instances in one VPC subnet: the runner (and the registry) at the bridge's
# address, host i at .(10+i), each host in a network namespace of its own (see host_network_up).
SANDBOX_BRIDGE=slipway0
SUBNET_PREFIX=10.210.0
SUBNET=$SUBNET_PREFIX.0/24
RUNNER_ADDRESS=$SUBNET_PREFIX.1
REGISTRY_PORT=${SLIPWAY_REGISTRY_PORT:-5000}
# One name for the registry on every engine, the runner's and the hosts': an image-ref pushed from
# the runner pulls on a host exactly as it is. TLS with the sandbox CA, as GHCR is TLS.
REGISTRY_ADDR=$RUNNER_ADDRESS:$REGISTRY_PORT
REGISTRY_DIR=$SANDBOX_DIR/registry
REGISTRY_USER=slipway
# Docker reads a registry's CA from here at each connection: no daemon restart.
REGISTRY_CERTS_D=/etc/docker/certs.d/$REGISTRY_ADDR
# A second port the engines trust with the same CA, for tests' own registries (one that answers
# 503, say): the registry's certificate names the address, so it serves there too.
FAULT_REGISTRY_ADDR=$RUNNER_ADDRESS:$((REGISTRY_PORT + 1))
FAULT_REGISTRY_CERTS_D=/etc/docker/certs.d/$FAULT_REGISTRY_ADDR
RUNNER_DOCKER_HOST=unix:///var/run/docker.sock
BASE_IMAGE=slipway-sandbox/busybox:1
WEB_BASE_IMAGE=slipway-sandbox/web-base:1
KEYS_DIR=$SANDBOX_DIR/keys
KNOWN_HOSTS=$SANDBOX_DIR/known_hosts
CA_DIR=$SANDBOX_DIR/ca
RELAY_DIR=$SANDBOX_DIR/relays
# iptables chains of the sandbox's own, so that down.sh removes exactly what up.sh added.
FORWARD_CHAIN=SLIPWAY-FORWARD
MAX_HOSTS=35

log() { printf '%s\n' "$*"; }

# fail LOGFILE MESSAGE: say what broke, show the daemon's own words, stop.
fail() {
  printf 'error: %s\n' "$2" >&2
  if [ -n "$1" ] && [ -f "$1" ]; then
    printf -- '--- last lines of %s ---\n' "$1" >&2
    tail -n 20 "$1" >&2
  fi
  exit 1
}

# Serialise sandbox scripts: test runners may call up.sh from several workers at once.
lock_sandbox() {
  exec 9>"$LOCK_FILE"
  flock -w 300 9 || fail "" "another sandbox script holds $LOCK_FILE"
}

# spawn LOG CMD...: start a daemon in its own session with no inherited stdio, so it outlives
# this script and never holds the caller's pipes open (a test runner reading our output would hang),
# nor a lock: ours (fd 9) or a caller's (`flock FILE up.sh` holds FILE on some fd of its own), which
# would block every later user of that lock for as long as the daemon runs.
spawn() {
  local logfile=$1
  shift
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec setsid -f "$@" >>"$logfile" 2>&1 </dev/null
  )
}

# wait_for SECONDS WHAT LOGFILE CMD...: poll CMD until it succeeds; on timeout show LOGFILE.
wait_for() {
  local secs=$1 what=$2 logfile=$3
  shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$logfile" "$what not ready after ${secs}s"
    sleep 0.2
  done
}

# pid_cmdline PID: the command line of a live process; empty once it has exited, even while it
# waits as a zombie for PID 1 to reap it (kill -0 still succeeds then; some inits reap slowly).
pid_cmdline() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" || true; }

# pid_alive PIDFILE PATTERN: the pid in PIDFILE runs and its command line mentions PATTERN
# (our config or data path). The state dir survives reboots in /var/tmp, so a bare pid may be reused.
pid_alive() {
  local pid
  pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] || return 1
  [[ $(pid_cmdline "$pid") == *"$2"* ]]
}

# stop_pid PIDFILE PATTERN [SECONDS]: SIGTERM, wait, then SIGKILL. No-op when not running.
stop_pid() {
  local pidfile=$1 pattern=$2 secs=${3:-20} pid signal deadline
  if pid_alive "$pidfile" "$pattern"; then
    pid=$(cat "$pidfile")
    for signal in TERM KILL; do
      kill -s "$signal" "$pid" 2>/dev/null || true
      deadline=$((SECONDS + secs))
      while [ -n "$(pid_cmdline "$pid")" ] && ((SECONDS < deadline)); do sleep 0.1; done
      [ -n "$(pid_cmdline "$pid")" ] || break
    done
  fi
  rm -f "$pidfile"
}

# Files tests read (keys, known_hosts, sandbox.json) go to the sudo caller, so tests need not run
# as root (on a GitHub runner: `sudo test/sandbox/up.sh`, then tests run as the runner user).
hand_to_caller() {
  if [ -n "${SUDO_UID:-}" ]; then chown "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$@"; fi
}

runner_docker() { docker -H "$RUNNER_DOCKER_HOST" "$@"; }

# ---- hosts: host i is h<i>, user deploy<i>, sshd on port 22 of 10.210.0.(10+i) in netns slipway-h<i> ----

host_dir() { printf '%s/h%s' "$SANDBOX_DIR" "$1"; }
host_user() { printf 'deploy%s' "$1"; }
host_address() { printf '%s.%s' "$SUBNET_PREFIX" $((10 + $1)); }
host_netns() { printf 'slipway-h%s' "$1"; }
host_veth() { printf 'slw-h%s' "$1"; } # the runner's end; the host's end is eth0 in its namespace
host_sock() { printf '%s/h%s.sock' "$RUN_DIR" "$1"; }
host_docker() {
  local i=$1
  shift
  docker -H "unix://$(host_sock "$i")" "$@"
}
# in_host I CMD...: CMD in host I's network namespace only. nsenter, not `ip netns exec`: the latter
# also remounts /sys, which hides the cgroup mounts from dockerd ("Devices cgroup isn't mounted").
in_host() {
  local i=$1
  shift
  nsenter --net="/run/netns/$(host_netns "$i")" "$@"
}

# Numbers of the hosts that have a state dir, whatever --hosts said when they were made.
existing_hosts() {
  local d
  for d in "$SANDBOX_DIR"/h*; do
    if [ -d "$d" ]; then printf '%s\n' "${d##*/h}"; fi
  done | sort -n
}

require_host() {
  if ! [[ ${1:-} =~ ^[0-9]+$ && -d $(host_dir "$1") ]]; then
    fail "" "no sandbox host '${1:-}' (run up.sh first)"
  fi
}

# The subnet's bridge on the runner, and the runner's rules for it: bridged traffic (host to host)
# crosses FORWARD when br_netfilter is loaded, where the runner engine's policy is DROP; anything
# from the subnet toward another interface is dropped, so nothing a host does leaves this machine
# (the hosts have no default route either: a mistaken pull fails at once with "network unreachable").
subnet_up() {
  if ! ip link show "$SANDBOX_BRIDGE" >/dev/null 2>&1; then
    ip link add "$SANDBOX_BRIDGE" type bridge
  fi
  ip addr replace "$RUNNER_ADDRESS/24" dev "$SANDBOX_BRIDGE"
  ip link set "$SANDBOX_BRIDGE" up
  iptables -N "$FORWARD_CHAIN" 2>/dev/null || iptables -F "$FORWARD_CHAIN"
  iptables -A "$FORWARD_CHAIN" -i "$SANDBOX_BRIDGE" -o "$SANDBOX_BRIDGE" -j ACCEPT
  iptables -A "$FORWARD_CHAIN" -i "$SANDBOX_BRIDGE" -j DROP
  iptables -A "$FORWARD_CHAIN" -o "$SANDBOX_BRIDGE" -j DROP
  # First in FORWARD, before the runner engine's chains; a restarted runner dockerd inserts its own
  # jumps above it, which only ever touch its own bridges.
  iptables -C FORWARD -j "$FORWARD_CHAIN" 2>/dev/null || iptables -I FORWARD 1 -j "$FORWARD_CHAIN"
}

subnet_down() {
  while iptables -C FORWARD -j "$FORWARD_CHAIN" 2>/dev/null; do iptables -D FORWARD -j "$FORWARD_CHAIN"; done
  iptables -F "$FORWARD_CHAIN" 2>/dev/null || true
  iptables -X "$FORWARD_CHAIN" 2>/dev/null || true
  ip link del "$SANDBOX_BRIDGE" 2>/dev/null || true
}

# Host i's namespace: loopback, eth0 with its address on the subnet, and a route to the subnet only.
host_network_up() {
  local i=$1 ns veth
  ns=$(host_netns "$i")
  veth=$(host_veth "$i")
  [ -e "/run/netns/$ns" ] || ip netns add "$ns"
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip link add "$veth" type veth peer name eth0 netns "$ns"
  fi
  ip link set "$veth" master "$SANDBOX_BRIDGE" up
  in_host "$i" ip link set lo up
  in_host "$i" ip addr replace "$(host_address "$i")/24" dev eth0
  in_host "$i" ip link set eth0 up
}

# Everything in the namespace (dockerd, its containers, sshd and its sessions) must be gone first.
host_network_down() {
  local i=$1 ns
  ns=$(host_netns "$i")
  ip link del "$(host_veth "$i")" 2>/dev/null || true
  if [ -e "/run/netns/$ns" ]; then ip netns del "$ns" 2>/dev/null || true; fi
}

# Pids of every process in host i's namespace, whoever started it (sessions, relays' peers aside).
host_pids() {
  local ns_id pid
  ns_id=$(stat -L -c %i "/run/netns/$(host_netns "$1")" 2>/dev/null) || return 0
  for pid in /proc/[0-9]*; do
    [ "$(stat -L -c %i "$pid/ns/net" 2>/dev/null)" = "$ns_id" ] && printf '%s\n' "${pid#/proc/}"
  done
  return 0
}

# A host cut off the network, as a stopped instance's NIC or a security group dropping all:
# the runner's end of its link goes down; the host keeps running.
host_link() { ip link set "$(host_veth "$1")" "$2"; }

host_engine_running() { host_docker "$1" info >/dev/null 2>&1; }

# Each host gets a whole dockerd of its own, in its namespace, with iptables on as on EC2: its own
# docker0, NAT and published-port rules live in its namespace's tables and touch no other engine.
# Separate data root too, so an image on the runner or on another host is not on this one until pulled.
host_engine_start() {
  local i=$1 dir
  dir=$(host_dir "$i")
  mkdir -p "$dir" "$RUN_DIR"
  chmod 0755 "$RUN_DIR" # deploy users must reach their socket (root:docker 0660) inside it
  # An own (empty) config file: the default /etc/docker/daemon.json belongs to the runner's engine
  # and dockerd refuses to start when a file setting repeats a flag (GitHub runners ship one).
  [ -f "$dir/daemon.json" ] || echo '{}' >"$dir/daemon.json"
  spawn "$dir/dockerd.log" nsenter --net="/run/netns/$(host_netns "$i")" dockerd \
    --config-file "$dir/daemon.json" \
    --data-root "$dir/docker" \
    --exec-root "$RUN_DIR/h$i" \
    --pidfile "$dir/dockerd.pid" \
    -H "unix://$(host_sock "$i")" \
    --group docker
}

host_engine_wait() {
  wait_for 30 "dockerd of h$1" "$(host_dir "$1")/dockerd.log" host_engine_running "$1"
}

# Stop a host's engine. With "kill", containers are killed first (fast, and no container keeps
# overlay or netns mounts busy); without it dockerd stops them itself, as `systemctl stop` would.
host_engine_stop() {
  local i=$1 mode=${2:-}
  local dir
  dir=$(host_dir "$i")
  if [ "$mode" = kill ] && host_engine_running "$i"; then
    local ids
    mapfile -t ids < <(host_docker "$i" ps -q)
    ((${#ids[@]} == 0)) || host_docker "$i" kill "${ids[@]}" >/dev/null 2>&1 || true
  fi
  stop_pid "$dir/dockerd.pid" "$dir/docker" 40
  # After a crash, dockerd's containerd may linger (or linger as a zombie, which kill -0 still sees):
  # a new dockerd finding its pid file then waits for that containerd's socket until it times out.
  stop_pid "$RUN_DIR/h$i/containerd/containerd.pid" "$RUN_DIR/h$i/containerd"
}

# Unmount whatever a dead engine left at or under its data and exec roots, deepest first
# (dockerd also bind-mounts its data root onto itself).
unmount_under() {
  local prefix mnt
  for prefix in "$@"; do
    awk -v p="$prefix" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
      while read -r mnt; do umount "$mnt" 2>/dev/null || umount -l "$mnt"; done
  done
}

host_sshd_config() {
  local i=$1 dir
  dir=$(host_dir "$i")
  cat <<EOF
# Sandbox host h$i (written by test/sandbox; rewritten at each start).
Port 22
ListenAddress $(host_address "$i")
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
AllowUsers $(host_user "$i")
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
# VERBOSE logs each accepted key and connection: benchmarks count connections in this log.
LogLevel VERBOSE
MaxSessions 20
# Every session (interactive or not) talks to this host's engine only.
SetEnv DOCKER_HOST=unix://$(host_sock "$i")
# In-process SFTP: no dependence on where the distribution puts sftp-server.
Subsystem sftp internal-sftp
EOF
  # OpenSSH 9.8+ penalises sources that fail to authenticate; tests fail on purpose, all from the runner.
  if /usr/sbin/sshd -G -f /dev/null -o PerSourcePenalties=no >/dev/null 2>&1; then
    echo 'PerSourcePenalties no'
  fi
}

host_sshd_running() { pid_alive "$(host_dir "$1")/sshd.pid" "$(host_dir "$1")/sshd_config"; }

host_sshd_start() {
  local i=$1 dir
  dir=$(host_dir "$i")
  install -d -m 0755 /run/sshd # privilege separation directory; gone after a reboot of /run
  host_sshd_config "$i" >"$dir/sshd_config"
  /usr/sbin/sshd -t -f "$dir/sshd_config" || fail "" "sshd config of h$i is invalid"
  # sshd daemonises itself (closing its stdio) and writes PidFile; -E sends its log to a file.
  in_host "$i" /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log" 9>&-
}

port_open() { (: <"/dev/tcp/$1/$2") 2>/dev/null; }

host_sshd_wait() {
  wait_for 10 "sshd of h$1" "$(host_dir "$1")/sshd.log" port_open "$(host_address "$1")" 22
}

host_sshd_stop() {
  local dir
  dir=$(host_dir "$1")
  stop_pid "$dir/sshd.pid" "$dir/sshd_config"
}

# host_ssh I KEY CMD...: run CMD on host I as its user, checking the host key against known_hosts.
host_ssh() {
  local i=$1 key=$2
  shift 2
  ssh -F none -i "$key" \
    -o IdentitiesOnly=yes -o PreferredAuthentications=publickey \
    -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
    -o ConnectTimeout=5 -o LogLevel=ERROR \
    "$(host_user "$i")@$(host_address "$i")" "$@" </dev/null
}

host_known_hosts_line() {
  local key
  read -r -a key <"$(host_dir "$1")/ssh_host_ed25519_key.pub"
  printf '%s %s %s\n' "$(host_address "$1")" "${key[0]}" "${key[1]}"
}

host_fingerprint() {
  ssh-keygen -l -E sha256 -f "$(host_dir "$1")/ssh_host_ed25519_key.pub" | awk '{ print $2 }'
}

# ---- latency: a TCP relay on the runner's loopback that holds each chunk, in each direction ----
# (this kernel has no sch_netem for `tc qdisc ... netem`). One relay per host, in front of its sshd.

relay_pidfile() { printf '%s/h%s.pid' "$RELAY_DIR" "$1"; }
relay_port() { printf '%s' $((22000 + $1)); }

relay_start() {
  local i=$1 ms=$2
  relay_stop "$i"
  mkdir -p "$RELAY_DIR"
  spawn "$RELAY_DIR/h$i.log" node "$(dirname "${BASH_SOURCE[0]}")/delay-relay.mjs" \
    --listen "127.0.0.1:$(relay_port "$i")" --target "$(host_address "$i"):22" \
    --delay-ms "$ms" --pidfile "$(relay_pidfile "$i")"
  wait_for 10 "delay relay of h$i" "$RELAY_DIR/h$i.log" port_open 127.0.0.1 "$(relay_port "$i")"
}

relay_stop() { stop_pid "$(relay_pidfile "$1")" delay-relay.mjs 5; }

# ---- registry: TLS at the runner's address on the subnet, certificate from the sandbox CA ----

ca_up() {
  install -d -m 0700 "$CA_DIR"
  if [ ! -s "$CA_DIR/ca.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Slipway sandbox CA" \
      -keyout "$CA_DIR/ca.key" -out "$CA_DIR/ca.crt" 2>/dev/null
  fi
  # The certificate names the registry by its IP address: that is the name every engine uses.
  if ! openssl x509 -in "$CA_DIR/registry.crt" -noout -ext subjectAltName 2>/dev/null |
    grep -q "IP Address:$RUNNER_ADDRESS$"; then
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$RUNNER_ADDRESS" \
      -keyout "$CA_DIR/registry.key" -out "$CA_DIR/registry.csr" 2>/dev/null
    printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$RUNNER_ADDRESS" >"$CA_DIR/registry.ext"
    openssl x509 -req -in "$CA_DIR/registry.csr" -CA "$CA_DIR/ca.crt" -CAkey "$CA_DIR/ca.key" \
      -CAcreateserial -days 825 -extfile "$CA_DIR/registry.ext" -out "$CA_DIR/registry.crt" 2>/dev/null
  fi
  local dir
  for dir in "$REGISTRY_CERTS_D" "$FAULT_REGISTRY_CERTS_D"; do
    install -d -m 0755 "$dir"
    install -m 0644 "$CA_DIR/ca.crt" "$dir/ca.crt"
  done
  # Tests serve their own registries with this certificate (see FAULT_REGISTRY_ADDR).
  hand_to_caller "$CA_DIR" "$CA_DIR/registry.crt" "$CA_DIR/registry.key"
}

registry_answers() {
  # 401 = up and asking for credentials, which is what we configured.
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$CA_DIR/ca.crt" \
    "https://$REGISTRY_ADDR/v2/")" = 401 ]
}

registry_running() {
  pid_alive "$REGISTRY_DIR/registry.pid" "$REGISTRY_DIR/config.yml" && registry_answers
}

registry_start() {
  mkdir -p "$REGISTRY_DIR/data"
  if [ ! -s "$REGISTRY_DIR/password" ]; then
    (umask 077 && openssl rand -hex 16 | tr -d '\n' >"$REGISTRY_DIR/password")
  fi
  if [ ! -s "$REGISTRY_DIR/htpasswd" ]; then
    # distribution's htpasswd auth accepts bcrypt only (-B); -i keeps the password out of argv.
    htpasswd -niB "$REGISTRY_USER" <"$REGISTRY_DIR/password" >"$REGISTRY_DIR/htpasswd"
  fi
  cat >"$REGISTRY_DIR/config.yml" <<EOF
# Sandbox registry (written by test/sandbox): TLS from the sandbox CA, which every engine trusts
# through $REGISTRY_CERTS_D/ca.crt.
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
  secret: slipway-sandbox-not-a-secret
  tls:
    certificate: $CA_DIR/registry.crt
    key: $CA_DIR/registry.key
auth:
  htpasswd:
    realm: slipway-sandbox
    path: $REGISTRY_DIR/htpasswd
EOF
  # docker-registry cannot write a pid file, so a shell writes its own pid and execs the registry.
  # shellcheck disable=SC2016 # $$, $0 and $1 belong to the inner shell
  spawn "$REGISTRY_DIR/registry.log" bash -c 'echo $$ >"$0"; exec docker-registry serve "$1"' \
    "$REGISTRY_DIR/registry.pid" "$REGISTRY_DIR/config.yml"
  wait_for 15 "registry on $REGISTRY_ADDR" "$REGISTRY_DIR/registry.log" registry_answers
}

registry_stop() { stop_pid "$REGISTRY_DIR/registry.pid" "$REGISTRY_DIR/config.yml"; }

# json KEY=STRING... KEY:=JSON...: print one JSON object (node does the escaping).
json() {
  node -e '
    const o = {};
    for (const arg of process.argv.slice(1)) {
      const [, key, raw, value] = arg.match(/^([^:=]+)(:?)=(.*)$/s);
      o[key] = raw ? JSON.parse(value) : value;
    }
    console.log(JSON.stringify(o, null, 2));' -- "$@"
}
