# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this
# Shared helpers for the sandbox scripts (up.sh, down.sh, host.sh, registry.sh). Sourced, not run.
# The sandbox is made of real daemons started by hand: CI machines and this dev box have no
# service manager we can rely on, and the point of the sandbox is to test against no mocks.

SANDBOX_DIR=${SLIPWAY_SANDBOX_DIR:-/var/tmp/slipway-sandbox}
# Unix socket paths are limited to 108 bytes (and containerd nests sockets under the exec root),
# so sockets and exec roots live under a short fixed path rather than under SANDBOX_DIR.
RUN_DIR=/run/slipway
LOCK_FILE=/run/slipway-sandbox.lock
REGISTRY_PORT=${SLIPWAY_REGISTRY_PORT:-5000}
REGISTRY_ADDR=127.0.0.1:$REGISTRY_PORT
REGISTRY_DIR=$SANDBOX_DIR/registry
REGISTRY_USER=slipway
SSH_PORT_BASE=${SLIPWAY_SSH_PORT_BASE:-2200}
RUNNER_DOCKER_HOST=unix:///var/run/docker.sock
BASE_IMAGE=slipway-sandbox/busybox:1
KEYS_DIR=$SANDBOX_DIR/keys
KNOWN_HOSTS=$SANDBOX_DIR/known_hosts
MAX_HOSTS=35 # host i uses 10.(220+i).0.0/16 for its compose networks

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

# ---- hosts: host i is h<i>, user deploy<i>, sshd on 127.0.0.1:(SSH_PORT_BASE+i) ----

host_dir() { printf '%s/h%s' "$SANDBOX_DIR" "$1"; }
host_user() { printf 'deploy%s' "$1"; }
host_port() { printf '%s' $((SSH_PORT_BASE + $1)); }
host_sock() { printf '%s/h%s.sock' "$RUN_DIR" "$1"; }
host_bridge() { printf 'slipway-h%s' "$1"; }
host_subnet() { printf '10.210.%s.0/24' "$1"; }
host_gateway() { printf '10.210.%s.1/24' "$1"; } # the bridge's own address, in CIDR form
host_pool() { printf '10.%s.0.0/16' $((220 + $1)); }
host_docker() {
  local i=$1
  shift
  docker -H "unix://$(host_sock "$i")" "$@"
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

# Host engines run with --iptables=false (see host_engine_start), and with br_netfilter loaded
# bridged traffic still crosses the FORWARD chain, whose policy the runner's dockerd sets to DROP.
# Accept traffic that stays inside one host's networks, nothing else.
forward_rules() {
  local i=$1 net
  for net in "$(host_subnet "$i")" "$(host_pool "$i")"; do
    printf '%s\n' "-s $net -d $net -m comment --comment slipway-sandbox-h$i -j ACCEPT"
  done
}

host_network_up() {
  local i=$1 br rule
  br=$(host_bridge "$i")
  if ! ip link show "$br" >/dev/null 2>&1; then
    ip link add "$br" type bridge
    ip addr add "$(host_gateway "$i")" dev "$br"
  fi
  ip link set "$br" up
  while read -r rule; do
    # shellcheck disable=SC2086 # the rule is a word list by construction
    iptables -C FORWARD $rule 2>/dev/null || iptables -I FORWARD 1 $rule
  done < <(forward_rules "$i")
}

host_network_down() {
  local i=$1 rule
  while read -r rule; do
    # shellcheck disable=SC2086
    while iptables -C FORWARD $rule 2>/dev/null; do iptables -D FORWARD $rule; done
  done < <(forward_rules "$i")
  ip link del "$(host_bridge "$i")" 2>/dev/null || true
  # dockerd leaves the bridges of its own networks (br-<id>, e.g. compose's) behind when it stops,
  # and recreates them when it starts again: remove those holding an address from this host's pool.
  local pool
  pool=$(host_pool "$i")
  ip -o -4 addr show | awk -v pre="${pool%.0.0/16}." '$2 ~ /^br-/ && index($4, pre) == 1 { print $2 }' |
    while read -r br; do ip link del "$br" || true; done
}

host_engine_running() { host_docker "$1" info >/dev/null 2>&1; }

# Each host gets a whole dockerd of its own: separate data root (so an image on the runner or on
# another host is not on this one until pulled), exec root, socket, bridge and address pool.
host_engine_start() {
  local i=$1 dir
  dir=$(host_dir "$i")
  mkdir -p "$dir" "$RUN_DIR"
  chmod 0755 "$RUN_DIR" # deploy users must reach their socket (root:docker 0660) inside it
  # An own (empty) config file: the default /etc/docker/daemon.json belongs to the runner's engine
  # and dockerd refuses to start when a file setting repeats a flag (GitHub runners ship one).
  [ -f "$dir/daemon.json" ] || echo '{}' >"$dir/daemon.json"
  # --iptables=false: every dockerd with iptables on deletes and rebuilds the shared DOCKER nat
  # and filter chains at start, wiping the published-port rules of the runner engine and of the
  # other hosts. Published ports still work through docker-proxy, which is what 127.0.0.1 uses.
  spawn "$dir/dockerd.log" dockerd \
    --config-file "$dir/daemon.json" \
    --data-root "$dir/docker" \
    --exec-root "$RUN_DIR/h$i" \
    --pidfile "$dir/dockerd.pid" \
    -H "unix://$(host_sock "$i")" \
    --group docker \
    --bridge "$(host_bridge "$i")" \
    --default-address-pool "base=$(host_pool "$i"),size=24" \
    --iptables=false
}

host_engine_wait() {
  wait_for 30 "dockerd of h$1" "$(host_dir "$1")/dockerd.log" host_engine_running "$1"
  runner_bridge_repair
}

# A host dockerd that starts again deletes the runner engine's docker0: with
# --default-address-pool set, moby's "clear stale bridge network" step removes the interface named
# docker0 whatever --bridge says (daemon_unix.go, removeDefaultBridgeInterface). The runner engine
# then fails every `docker run` and Dockerfile RUN ("could not find bridge docker0") until it
# restarts. Putting the bridge back with the runner's own address is enough: docker finds it by name.
runner_bridge_repair() {
  ip link show docker0 >/dev/null 2>&1 && return 0
  local subnet gateway
  subnet=$(runner_docker network inspect bridge --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}' 2>/dev/null) || return 0
  gateway=$(runner_docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}')
  [ -n "$subnet" ] && [ -n "$gateway" ] || return 0
  # Hosts start in parallel: another may be putting it back at this same moment.
  ip link add docker0 type bridge 2>/dev/null || true
  ip addr add "$gateway/${subnet#*/}" dev docker0 2>/dev/null || true
  ip link set docker0 up
  log "put back the runner engine's docker0 ($gateway/${subnet#*/}), which a host engine's start removed"
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
Port $(host_port "$i")
ListenAddress 127.0.0.1
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
  # OpenSSH 9.8+ penalises sources that fail to authenticate; tests fail on purpose, all from 127.0.0.1.
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
  /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log" 9>&-
}

port_open() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

host_sshd_wait() {
  wait_for 10 "sshd of h$1" "$(host_dir "$1")/sshd.log" port_open "$(host_port "$1")"
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
  ssh -F none -i "$key" -p "$(host_port "$i")" \
    -o IdentitiesOnly=yes -o PreferredAuthentications=publickey \
    -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
    -o ConnectTimeout=5 -o LogLevel=ERROR \
    "$(host_user "$i")@127.0.0.1" "$@" </dev/null
}

host_known_hosts_line() {
  local key
  read -r -a key <"$(host_dir "$1")/ssh_host_ed25519_key.pub"
  printf '[127.0.0.1]:%s %s %s\n' "$(host_port "$1")" "${key[0]}" "${key[1]}"
}

host_fingerprint() {
  ssh-keygen -l -E sha256 -f "$(host_dir "$1")/ssh_host_ed25519_key.pub" | awk '{ print $2 }'
}

# ---- registry ----

registry_answers() {
  # 401 = up and asking for credentials, which is what we configured.
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$REGISTRY_ADDR/v2/")" = 401 ]
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
# Sandbox registry (written by test/sandbox). Plain HTTP: Docker trusts 127.0.0.0/8 registries as insecure.
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
