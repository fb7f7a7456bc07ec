#!/usr/bin/env bash
# Start, or repair, the end-to-end sandbox: the runner's Docker engine, an authenticated TLS registry,
# N "EC2 hosts" (a network namespace with a dockerd, an sshd and a user each, on one subnet) and the
# base images; then write sandbox.json.
# Usage: sudo test/sandbox/up.sh [--hosts N]   (N defaults to 2; hosts already made are kept). Safe to run again.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

hosts=2
while (($#)); do
  case $1 in
    --hosts) hosts=${2:-}; shift 2 || shift ;;
    --hosts=*) hosts=${1#*=}; shift ;;
    -h | --help) sed -n '2,4s/^# //p' "$0"; exit 0 ;;
    *) fail "" "unknown argument: $1" ;;
  esac
done
if ! [[ $hosts =~ ^[1-9][0-9]*$ ]] || ((hosts > MAX_HOSTS)); then
  fail "" "--hosts must be 1..$MAX_HOSTS"
fi
[ "$(id -u)" = 0 ] || fail "" "run as root: the sandbox creates users, bridges and daemons"

runner_engine_up() {
  command -v dockerd >/dev/null || fail "" "dockerd not found: apt-get install docker.io (or run scripts/setup.sh)"
  if ! runner_docker info >/dev/null 2>&1; then
    # A dockerd that is still starting has written its pid file: wait for it rather than start another.
    if ! pid_alive /var/run/docker.pid dockerd; then
      spawn "$SANDBOX_DIR/runner-dockerd.log" dockerd
    fi
    wait_for 60 "runner dockerd" "$SANDBOX_DIR/runner-dockerd.log" runner_docker info
  fi
  log "runner docker ready on $RUNNER_DOCKER_HOST"
}

client_keys_up() {
  install -d -m 0700 "$KEYS_DIR"
  [ -f "$KEYS_DIR/id_ed25519" ] ||
    ssh-keygen -q -t ed25519 -N '' -C slipway-sandbox -f "$KEYS_DIR/id_ed25519"
  if [ ! -f "$KEYS_DIR/id_ed25519_pass" ]; then
    (umask 077 && openssl rand -hex 12 | tr -d '\n' >"$KEYS_DIR/id_ed25519_pass.passphrase")
    ssh-keygen -q -t ed25519 -N "$(cat "$KEYS_DIR/id_ed25519_pass.passphrase")" \
      -C slipway-sandbox-passphrase -f "$KEYS_DIR/id_ed25519_pass"
  fi
  # PEM ("BEGIN RSA PRIVATE KEY") is the older format many users still paste into secrets.
  [ -f "$KEYS_DIR/id_rsa" ] ||
    ssh-keygen -q -t rsa -b 3072 -m PEM -N '' -C slipway-sandbox-rsa -f "$KEYS_DIR/id_rsa"
  cat "$KEYS_DIR"/{id_ed25519,id_ed25519_pass,id_rsa}.pub >"$KEYS_DIR/authorized_keys"
  # For OpenSSH clients: SSH_ASKPASS=<this> SSH_ASKPASS_REQUIRE=force unlocks id_ed25519_pass.
  cat >"$KEYS_DIR/askpass" <<'EOF'
#!/bin/sh
exec cat "$(dirname "$0")/id_ed25519_pass.passphrase"
EOF
  chmod 0700 "$KEYS_DIR/askpass"
  hand_to_caller -R "$KEYS_DIR"
}

registry_login() { # password on stdin
  local cfg rc=0
  cfg=$(mktemp -d) # a throwaway DOCKER_CONFIG: never touch the caller's ~/.docker/config.json
  DOCKER_CONFIG=$cfg runner_docker login -u "$REGISTRY_USER" --password-stdin "$REGISTRY_ADDR" \
    >/dev/null 2>&1 || rc=$?
  rm -rf "$cfg"
  return "$rc"
}

registry_up() {
  ca_up
  if ! registry_running; then
    registry_stop # a registry that runs but does not answer holds the port
    registry_start
  fi
  registry_login <"$REGISTRY_DIR/password" ||
    fail "$REGISTRY_DIR/registry.log" "docker login $REGISTRY_ADDR refused the sandbox password"
  ! echo not-the-password | registry_login ||
    fail "$REGISTRY_DIR/registry.log" "the registry accepted a wrong password"
  hand_to_caller "$REGISTRY_DIR/password"
  log "registry ready on $REGISTRY_ADDR"
}

base_image_up() {
  local ctx=$SANDBOX_DIR/base-image id
  ! ldd /bin/busybox >/dev/null 2>&1 || fail "" "/bin/busybox is not static (install busybox-static)"
  mkdir -p "$ctx"
  cp /bin/busybox "$ctx/busybox"
  cat >"$ctx/Dockerfile" <<'EOF'
# Built by test/sandbox/up.sh: no image may come from the internet, so the base is a static busybox.
FROM scratch
COPY busybox /bin/busybox
# scratch has no shell, so this RUN uses exec form; it puts sh, httpd, wget, sleep... in /bin.
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /root /etc && chmod 1777 /tmp \
 && printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >/etc/passwd \
 && printf 'root:x:0:\nnobody:x:65534:\n' >/etc/group
CMD ["sh"]
EOF
  # Built every time (all steps cached when nothing changed): edits here take effect on the next run.
  # The legacy builder, as there is no buildx here; tests build FROM this image the same way.
  DOCKER_BUILDKIT=0 runner_docker build -t "$BASE_IMAGE" "$ctx" >"$ctx/build.log" 2>&1 ||
    fail "$ctx/build.log" "building $BASE_IMAGE failed"
  image_tarball_up "$BASE_IMAGE"
  log "base image $BASE_IMAGE ready"
  # The seeds' stack (nginx in front of Node.js) from Debian's packages; built once per machine.
  bash "$here/web-base.sh" "$WEB_BASE_IMAGE"
  image_tarball_up "$WEB_BASE_IMAGE"
  log "base image $WEB_BASE_IMAGE ready"
}

# A tarball of a runner image that each host engine loads (host_images_up): the base images are
# the sandbox's own, standing in for what a host would pull from Docker Hub.
image_tarball_up() {
  local image=$1 dir id
  dir=$SANDBOX_DIR/images/${image//[\/:]/_}
  mkdir -p "$dir"
  id=$(runner_docker image inspect -f '{{.Id}}' "$image")
  if [ "$(cat "$dir/image.id" 2>/dev/null)" != "$id" ]; then
    runner_docker save -o "$dir/image.tar" "$image"
    echo "$id" >"$dir/image.id"
  fi
}

host_images_up() {
  local i=$1 image dir
  for image in "$BASE_IMAGE" "$WEB_BASE_IMAGE"; do
    dir=$SANDBOX_DIR/images/${image//[\/:]/_}
    if [ "$(host_docker "$i" image inspect -f '{{.Id}}' "$image" 2>/dev/null)" != "$(cat "$dir/image.id")" ]; then
      host_docker "$i" load -q -i "$dir/image.tar" >/dev/null
    fi
  done
}

host_user_up() {
  local i=$1 user home
  user=$(host_user "$i")
  home=/home/$user
  if ! id "$user" >/dev/null 2>&1; then
    useradd --create-home --home-dir "$home" --shell /bin/bash --groups docker "$user"
    # useradd leaves '!' in /etc/shadow, and with UsePAM no sshd refuses such a "locked" account
    # even for public keys. '*' matches no password either, but does not lock the account.
    usermod -p '*' "$user"
  fi
  # Separate, private homes keep one host's deployed files off the others (Debian makes them 0755).
  chmod 0700 "$home"
  install -d -m 0700 -o "$user" -g "$(id -g "$user")" "$home/.ssh"
  install -m 0600 -o "$user" -g "$(id -g "$user")" "$KEYS_DIR/authorized_keys" "$home/.ssh/authorized_keys"
}

serves() { [ "$(curl -fsS --max-time 2 "http://$1/")" = "$2" ]; }

# A port published on a host must answer at the host's address, from the runner.
host_check_published_port() {
  local i=$1 cid hostport
  cid=$(host_docker "$i" run -d -p 8080 "$BASE_IMAGE" \
    sh -c "echo h$i >/tmp/index.html && exec httpd -f -p 8080 -h /tmp")
  hostport=$(host_docker "$i" port "$cid" 8080/tcp | head -n 1 || true)
  if [ -z "$hostport" ]; then
    fail "" "h$i: the test container published nothing; its output: $(host_docker "$i" logs "$cid" 2>&1)"
  fi
  wait_for 10 "h$i's published port ${hostport##*:}" "$(host_dir "$i")/dockerd.log" \
    serves "$(host_address "$i"):${hostport##*:}" "h$i"
  host_docker "$i" rm -f "$cid" >/dev/null
}

host_check_ssh() {
  local i=$1 dir root
  dir=$(host_dir "$i")
  # The data root seen through SSH proves the session reaches this host's engine and no other.
  root=$(host_ssh "$i" "$KEYS_DIR/id_ed25519" "docker info --format '{{.DockerRootDir}}'") ||
    fail "$dir/sshd.log" "ssh to h$i with id_ed25519 failed"
  [ "$root" = "$dir/docker" ] || fail "" "h$i: SSH reached the engine at '$root', not $dir/docker"
  host_ssh "$i" "$KEYS_DIR/id_rsa" true || fail "$dir/sshd.log" "h$i refused id_rsa"
  SSH_ASKPASS=$KEYS_DIR/askpass SSH_ASKPASS_REQUIRE=force \
    host_ssh "$i" "$KEYS_DIR/id_ed25519_pass" true || fail "$dir/sshd.log" "h$i refused id_ed25519_pass"
}

# Runs in the background, one per host: everything that waits on a daemon.
host_finish() {
  local i=$1 fresh=$2
  host_engine_wait "$i"
  host_images_up "$i"
  [ -z "$fresh" ] || host_check_published_port "$i"
  host_sshd_wait "$i"
  host_check_ssh "$i"
  log "host h$i ready: $(host_user "$i")@$(host_address "$i") $(host_fingerprint "$i")"
}

hosts_up() {
  local i dir failed=0 pid
  local -a fresh=() pids=()
  getent group docker >/dev/null || groupadd --system docker
  for ((i = 1; i <= hosts; i++)); do
    dir=$(host_dir "$i")
    mkdir -p "$dir"
    [ -f "$dir/ssh_host_ed25519_key" ] ||
      ssh-keygen -q -t ed25519 -N '' -C "slipway-sandbox-h$i" -f "$dir/ssh_host_ed25519_key"
  done
  for ((i = 1; i <= hosts; i++)); do host_known_hosts_line "$i"; done >"$KNOWN_HOSTS"
  hand_to_caller "$KNOWN_HOSTS"

  # Start whatever is down on every host first; then wait for all of them at once.
  for ((i = 1; i <= hosts; i++)); do
    host_network_up "$i"
    host_user_up "$i"
    if ! host_engine_running "$i"; then
      host_engine_stop "$i" # a hung or half-dead engine holds its pid file and socket
      host_engine_start "$i"
      fresh[i]=1
    fi
    if ! host_sshd_running "$i"; then
      host_sshd_stop "$i"
      host_sshd_start "$i"
    fi
  done
  for ((i = 1; i <= hosts; i++)); do
    host_finish "$i" "${fresh[i]:-}" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  ((failed == 0)) || fail "" "some hosts did not come up (see above)"
}

write_sandbox_json() {
  local i dir out=$SANDBOX_DIR/sandbox.json
  local -a entries=()
  for ((i = 1; i <= hosts; i++)); do
    dir=$(host_dir "$i")
    entries+=("$(json name="h$i" address="$(host_address "$i")" port:=22 netns="$(host_netns "$i")" \
      delayPort:="$(relay_port "$i")" \
      user="$(host_user "$i")" home="/home/$(host_user "$i")" \
      dockerHost="unix://$(host_sock "$i")" dataRoot="$dir/docker" \
      dockerdPid="$dir/dockerd.pid" dockerdLog="$dir/dockerd.log" \
      sshdPid="$dir/sshd.pid" sshdLog="$dir/sshd.log" \
      hostKeyFingerprint="$(host_fingerprint "$i")" knownHostsLine="$(host_known_hosts_line "$i")")")
  done
  (
    umask 077 # it holds the registry password
    json stateDir="$SANDBOX_DIR" \
      registry:="$(json host="$REGISTRY_ADDR" username="$REGISTRY_USER" \
        password="$(cat "$REGISTRY_DIR/password")" passwordFile="$REGISTRY_DIR/password" \
        htpasswd="$REGISTRY_DIR/htpasswd" log="$REGISTRY_DIR/registry.log" \
        caCert="$CA_DIR/ca.crt" tlsCert="$CA_DIR/registry.crt" tlsKey="$CA_DIR/registry.key" \
        faultHost="$FAULT_REGISTRY_ADDR")" \
      runnerAddress="$RUNNER_ADDRESS" subnet="$SUBNET" \
      runnerDockerHost="$RUNNER_DOCKER_HOST" baseImage="$BASE_IMAGE" webBaseImage="$WEB_BASE_IMAGE" \
      keys:="$(json ed25519="$KEYS_DIR/id_ed25519" rsaPem="$KEYS_DIR/id_rsa" \
        ed25519Passphrase:="$(json path="$KEYS_DIR/id_ed25519_pass" \
          passphrase="$(cat "$KEYS_DIR/id_ed25519_pass.passphrase")" \
          passphraseFile="$KEYS_DIR/id_ed25519_pass.passphrase" askpass="$KEYS_DIR/askpass")")" \
      knownHosts="$KNOWN_HOSTS" \
      hosts:="[$(IFS=,; echo "${entries[*]}")]" >"$out.tmp"
  )
  hand_to_caller "$out.tmp"
  mv "$out.tmp" "$out" # atomic: a test reading it never sees half a file
  log "sandbox ready: $out"
}

mkdir -p "$SANDBOX_DIR"
lock_sandbox
# Never fewer hosts than there are: a later `up.sh` (setup.sh asks for 2) must not drop from
# sandbox.json the hosts an earlier one started for others (the benchmarks' 8, the hardening's h3).
for i in $(existing_hosts); do ((i <= hosts)) || hosts=$i; done
runner_engine_up
client_keys_up
subnet_up
registry_up
base_image_up
hosts_up
write_sandbox_json
