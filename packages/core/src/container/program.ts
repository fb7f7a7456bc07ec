/**
 * The host side of a container deployment, as one POSIX sh program fed to `sh -s` on stdin: every
 * step that used to be an exec of its own (lock, leftovers, pull, inspect, start, health, history,
 * prune, unlock) runs on the host, so a deployment costs one exchange instead of dozens of round
 * trips. It uses only what a bare EC2 image has: sh, coreutils, grep, sed, find, xargs and docker
 * (flock, timeout and curl or wget used when there).
 *
 * - What every host program shares (the progress lines, the watcher that ends it with its SSH
 *   session, the clean-up of secret files, the deploy lock) is host/host-program.ts's.
 * - Stage `prepare` takes the lock, repairs what an interrupted deployment left, reports the running
 *   container and the release history, and (deploying) pulls the image. Stage `release` replaces the
 *   container, waits for health on the host, puts the previous one back if the new one fails,
 *   appends the release record, prunes and releases the lock. Between them the runner decides what
 *   to release (a rollback's target) and writes the record's JSON, so no JSON is parsed in sh; it
 *   sends the release on the same stdin (host-program.ts's `next_part`), not in a second exchange.
 * - Proxy mode (`proxy-port`, issue 12): stage `release` runs `proxy_release` instead, which starts
 *   the new release beside the old one behind a proxy container and switches, drains and stops
 *   (see the comment above `proxy_dir` below).
 */
import { REGISTRY_CONFIG_PREFIX } from '../docker.js';
import { EVENT_MARK, hostProgram, partText, withoutComments } from '../host/host-program.js';
import { DEPLOYMENTS_DIR, LOCK_NAME, SETTLE_DEPLOYMENT_DIR } from '../host/layout.js';
import { quoteArg } from '../shell.js';

export { EVENT_MARK };

/** Name of a deployment's previous container while the new one proves itself. */
export const PREVIOUS_SUFFIX = '-slipway-previous';
/** The env file of `docker run`, which lives only until the container exists. */
export const ENV_FILE_PREFIX = 'env-';
/** The label that keeps the reference a container was deployed as. */
export const IMAGE_LABEL = 'slipway.image';

const PROGRAM = `
# Settled before anything else, by both stages (settling again changes nothing): settle_dir may keep
# to the legacy directory, and the lock, the history and the proxy's files are all in the one it picks.
dir="$HOME/${DEPLOYMENTS_DIR}/$name"
settle_dir || { step=lock; fail "could not make the deployment's directory $dir" 3; }
ev dir "$dir"
lock="$dir/${LOCK_NAME}"
aside="$name${PREVIOUS_SUFFIX}"
history="$dir/releases.jsonl"


transient() {
  grep -Eiq 'unauthorized|denied|forbidden|not found|manifest invalid|name unknown' "$1" && return 1
  grep -Eiq '(50[0234]|429)|too many requests|toomanyrequests|timeout|timed out|connection reset|broken pipe|unexpected EOF|EOF|service unavailable|bad gateway|temporar' "$1"
}

# pull REF: a throwaway DOCKER_CONFIG when there are credentials, removed right after; tried again
# (2 s, then 4 s) on what a busy registry answers.
pull() {
  pull_config=
  if [ -n "$reg_user" ]; then
    registry_login "$dir"
    pull_config=$login_dir pull_out="$login_dir.out"
    scratch="$scratch $pull_out"
  else
    pull_out=$(mktemp "$dir/pull-XXXXXXXX")
    scratch="$scratch $pull_out"
  fi
  pull_try=1 pull_delay=2
  while :; do
    pull_status=0
    { docker \${pull_config:+--config "$pull_config"} pull "$1" 2>&1 || echo "$?" >"$pull_out.status"; } | tee "$pull_out"
    [ -f "$pull_out.status" ] && pull_status=$(cat "$pull_out.status") && rm -f "$pull_out.status"
    [ "$pull_status" = 0 ] && break
    if [ "$pull_try" -ge 3 ] || ! transient "$pull_out"; then
      pull_tail=$(tail -n 5 "$pull_out")
      rm -rf "$pull_config" "$pull_out"
      fail_unlocked "docker pull $1 failed: $pull_tail"
    fi
    ev retry "$1" "$pull_try" "$pull_delay" "$(tail -n 1 "$pull_out")"
    nap "$pull_delay"
    pull_try=$((pull_try + 1)) pull_delay=$((pull_delay * 2))
  done
  rm -rf "$pull_config" "$pull_out"
}

# The container NAME as "imageId status label configImage" (label "-" when there is none), or nothing.
container_state() {
  docker container inspect --format '{{.Image}} {{.State.Status}} {{with index .Config.Labels "${IMAGE_LABEL}"}}{{.}}{{else}}-{{end}} {{.Config.Image}}' "$1" 2>/dev/null
}

prepare() {
  phase lock
  take_lock

  for leftover in "$dir/${REGISTRY_CONFIG_PREFIX}"* "$dir/${ENV_FILE_PREFIX}"* "$dir/pull-"*; do
    [ -e "$leftover" ] && rm -rf "$leftover" && ev leftover "$leftover"
  done
  if container_state "$aside" >/dev/null; then
    ev restoring "$aside"
    docker rm --force "$name" >/dev/null 2>&1
    docker rename "$aside" "$name" && docker start "$name" >/dev/null || fail_unlocked "could not put back $aside as $name"
  fi
  if [ -n "$proxy" ]; then proxy_current; else
    current=$(container_state "$name") && ev current $current
  fi
  [ -f "$history" ] && ev_lines history <"$history"

  if [ -n "$image" ]; then
    phase pull
    pull "$image"
    pulled=$(docker image inspect --format '{{.Id}}{{range .RepoDigests}} {{.}}{{end}}' "$image") || fail_unlocked "docker image inspect $image failed after the pull"
    ev image "$pulled"
  fi
  # The proxy's image, once per host; the registry login only when it is the app image's registry.
  if [ -n "$proxy" ] && ! docker image inspect "$proxy_image" >/dev/null 2>&1; then
    step=pull
    ev proxy-pull "$proxy_image"
    [ "$proxy_auth" = 1 ] || reg_user=
    pull "$proxy_image"
  fi
}

# Waits until the new container is healthy; prints how that was decided, or fails.
health_wait() {
  health_started=$(date +%s)
  state=$(docker container inspect --format '{{.RestartCount}} {{if .State.Health}}docker{{else}}none{{end}}' "$target") || { unhealthy="container $target is gone"; return 1; }
  restarts0=\${state%% *}
  mode=$health_kind
  case $mode in cmd|url) find_timeout ;; esac
  [ "\${state#* }" = docker ] && mode=docker
  # Proxy mode: the release publishes nothing, so health-url (its path) is asked of the release
  # itself at its address on the private network, which the host reaches over the bridge: never
  # through the proxy, where the old release would answer.
  if [ -n "$proxy" ] && [ "$mode" = url ]; then
    release_ip=$(docker container inspect --format "{{with index .NetworkSettings.Networks \\"$net\\"}}{{.IPAddress}}{{end}}" "$target" 2>/dev/null)
    health_url="http://$release_ip:$app_port$health_url"
  fi
  poll=0.25
  [ "$mode" = auto ] && poll=1
  last=
  while :; do
    state=$(docker container inspect --format '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$target" 2>/dev/null) || { unhealthy="container $target is gone"; return 1; }
    set -- $state
    case $1 in exited|dead) unhealthy="container $target exited with code $3"; return 1 ;; esac
    if [ "$2" -gt "$restarts0" ] || [ "$1" = restarting ]; then unhealthy="container $target is restarting (it crashed; $2 restarts)"; return 1; fi
    elapsed=$(($(date +%s) - health_started))
    if [ "$1" = running ]; then
      case $mode in
        docker)
          case $4 in
            healthy) healthy="the image's HEALTHCHECK reports healthy"; return 0 ;;
            unhealthy)
              probe=$(docker container inspect --format '{{range .State.Health.Log}}{{.Output}}{{end}}' "$target" 2>/dev/null | sed '/^[[:space:]]*$/d' | tail -n 5)
              unhealthy="the image's HEALTHCHECK reports unhealthy\${probe:+: $probe}"
              return 1 ;;
            *) last="health: $4" ;;
          esac ;;
        cmd)
          probe=$(bounded 30 sh -c "$health_cmd" 2>&1 </dev/null) && { healthy="health-cmd \\\`$health_cmd\\\` succeeded"; return 0; }
          probe_status=$?
          last="\\\`$health_cmd\\\` exited with $probe_status\${probe:+: $(printf '%s\\n' "$probe" | tail -n 3)}" ;;
        url)
          # curl where the host has it (Amazon Linux, Ubuntu), else wget (busybox, Alpine).
          if command -v curl >/dev/null 2>&1; then
            probe=$(curl -fsS -o /dev/null --max-time 5 "$health_url" 2>&1) && { healthy="$health_url answered"; return 0; }
          else
            probe=$(bounded 5 wget -q -O /dev/null "$health_url" 2>&1) && { healthy="$health_url answered"; return 0; }
          fi
          last="GET $health_url failed\${probe:+: $(printf '%s\\n' "$probe" | tail -n 3)}" ;;
        auto)
          if [ "$elapsed" -ge "$settle" ]; then healthy="running for \${settle}s without restarting"; return 0; fi ;;
      esac
    else
      last="container status: $1"
    fi
    if [ "$elapsed" -ge "$health_timeout" ]; then unhealthy="not healthy after \${health_timeout}s\${last:+ ($last)}"; return 1; fi
    nap "$poll"
  done
}
# A probe bounded in time where the host has timeout(1). GNU timeout puts the probe in a process
# group of its own unless --foreground, and then the watcher's kill would miss it.
# Which timeout the host has is asked once, by health_wait: a probe runs in a command substitution,
# a subshell, where a variable set on first use would be forgotten and asked again every poll.
find_timeout() {
  if timeout --foreground 1 true >/dev/null 2>&1; then timeout_kind=foreground
  elif command -v timeout >/dev/null 2>&1; then timeout_kind=plain
  else timeout_kind=none; fi
}
bounded() {
  case $timeout_kind in
    foreground) timeout --foreground "$@" ;;
    plain) timeout "$@" ;;
    *) shift; "$@" ;;
  esac
}

# Appends the release record: the runner wrote it up to its result, this adds the rest.
record() {
  record_error=
  [ -n "\${2:-}" ] && record_error=",\\"error\\":\\"$(json_text "$2")\\""
  printf '%s"%s","durationMs":%s%s}\\n' "$record_head" "$1" "$((elapsed_ms + ($(date +%s) - release_started) * 1000))" "$record_error" >>"$history" ||
    ev warning "could not record the release in $history"
}

prune() {
  [ -n "$prune" ] || return 0
  used=$(docker ps --all --quiet --no-trunc | xargs -r docker inspect --type container --format '{{.Image}}' 2>/dev/null)
  for id in $prune; do
    printf '%s\\n' "$used" | grep -qxF "$id" && continue
    # Digests first: removing a repository's last tag removes its digest references too (moby's
    # ImageDelete), and with them the image, so a digest named after the tag was "No such image".
    docker image inspect "$id" >/dev/null 2>&1 || continue # already gone
    names=$(docker image inspect --format '{{range .RepoDigests}}{{.}}{{"\\n"}}{{end}}{{range .RepoTags}}{{.}}{{"\\n"}}{{end}}' "$id" | sed '/^$/d')
    if out=$(docker image rm \${names:-$id} 2>&1); then ev pruned "$(printf '%s\\n' "\${names:-$id}" | tail -n 1)"
    else ev prune-failed "$id" "$(printf '%s\\n' "$out" | tail -n 2)"; fi
  done
}

# A rollback's image may have been pruned since: pulled again by digest, its immutable name.
rollback_pull() {
  if [ "$action" = rollback ] && ! docker image inspect "$run_image" >/dev/null 2>&1; then
    [ -n "$pull_ref" ] || fail_unlocked "the image of the release to roll back to ($label) is no longer on the host and has no digest to pull it by."
    phase pull
    pull "$pull_ref"
  fi
}

# A new release container $1 that failed ($2 says why): its last logs come back as events, and it
# is removed.
drop_failed() {
  ev unhealthy "$2"
  docker logs --tail 100 "$1" 2>&1 | ev_lines logs
  docker rm --force "$1" >/dev/null 2>&1
}
# Ends a failed release with exit status $1: 6, what served before still serves (recorded
# rolled-back); 5, nothing does (recorded failed). $2 is the failure's message, $3 the record's
# error when it says less. The lock is given back before the failure is told.
end_failed() {
  if [ "$1" = 6 ]; then record rolled-back "\${3:-$2}"; else record failed "\${3:-$2}"; fi
  unlock
  fail "$2" "$1"
}

release() {
  release_started=$(date +%s)
  step=release
  [ "$(sed -n 1p "$lock/owner" 2>/dev/null)" = "$token" ] || fail "the deploy lock $lock is no longer this run's (it expired and another deployment took it)"
  rollback_pull
  target=$name
  phase start
  previous=$(docker container inspect --format '{{.State.Status}}' "$name" 2>/dev/null)
  if [ -n "$previous" ]; then
    # Stopped and renamed, not removed: it is the way back if the new one fails.
    docker stop "$name" >/dev/null || fail_unlocked "could not stop $name to replace it"
    if ! docker rename "$name" "$aside"; then
      docker start "$name" >/dev/null 2>&1
      fail_unlocked "could not set $name aside as $aside to replace it"
    fi
  fi
  envfile=
  if [ -n "$env_content" ]; then
    envfile="$dir/${ENV_FILE_PREFIX}$$"
    scratch="$scratch $envfile"
    printf '%s' "$env_content" >"$envfile"
  fi
  ev starting
  if started=$(docker run \${envfile:+--env-file "$envfile"} "$@" 2>&1); then
    [ -n "$envfile" ] && rm -f "$envfile"
    phase health
    if health_wait; then
      ev healthy "$healthy"
      [ -n "$previous" ] && docker rm "$aside" >/dev/null
      phase commit
      record ok
      prune
      unlock
      ev done
      exit 0
    fi
  else
    [ -n "$envfile" ] && rm -f "$envfile"
    unhealthy="docker run failed: $(printf '%s\\n' "$started" | tail -n 5)"
  fi

  # The new container failed: its logs, then the previous one back as it was.
  drop_failed "$name" "$unhealthy"
  [ -n "$previous" ] || end_failed 5 "$unhealthy; there was no previous container to restore (the failed one was removed)."
  restored=
  if docker rename "$aside" "$name"; then
    case $previous in
      running|restarting) docker start "$name" >/dev/null && restored=1 ;;
      *) restored=1 ;;
    esac
  fi
  [ -n "$restored" ] || end_failed 5 "$unhealthy; restoring the previous container failed: it is kept as $aside if it was not restored, and the next deployment to this host puts it back first." "$unhealthy; restoring the previous container failed"
  ev restored
  end_failed 6 "$unhealthy; rolled back to $previous_image."
}

# ---- Proxy mode (proxy-port): one long-lived proxy container (Caddy) owns the host ports and sends
# each request to one of two slots, network aliases slot-a and slot-b on a private network, each
# held by one release container at most. A deploy starts the new release in the idle slot beside
# the old one, switches once it is healthy, lets the old one drain, then stops it.
# The switch is a file, not a config reload: the Caddyfile routes to slot-a while $proxy_dir/live-a
# exists (Caddy's file matcher asks at each request), else to slot-b. A reload would do, but Caddy
# 2.6 binds a new socket on each one (SO_REUSEPORT) and closes the old, and the kernel resets the
# connections still queued on the old socket: measured here, 1 request in a few thousand during
# reloads failed with ECONNRESET. So the Caddyfile changes (and Caddy reloads) only when the ports
# or the domain do. The live file and the containers' slot labels are the host's own state: a
# proxy that restarts (a reboot) reads them and routes to the current release.

proxy_dir="$dir/proxy"
caddyfile="$proxy_dir/Caddyfile"
# Where the proxy container sees $proxy_dir; caddy reads the Caddyfile there on start and on reload.
caddy_reload() { docker exec "$proxy" caddy reload --config /etc/slipway/Caddyfile --adapter caddyfile 2>&1; }

live_slot() { if [ -e "$proxy_dir/live-a" ]; then echo a; else echo b; fi; }
# The release container holding slot $1, if any.
slot_holder() { docker ps --all --filter "label=slipway.release=$name" --filter "label=slipway.slot=$1" --format '{{.Names}}' 2>/dev/null | head -n 1; }

now_ms() {
  now_ns=$(date +%s%N 2>/dev/null)
  case $now_ns in *[!0-9]*|'') echo $(($(date +%s) * 1000)) ;; *) echo $((now_ns / 1000000)) ;; esac
}

# What prepare reports in proxy mode: the release in the live slot, else a container left by
# stop-and-start mode under the deployment's own name (replaced by the first proxy deploy).
proxy_current() {
  serving=
  [ -f "$caddyfile" ] && serving=$(slot_holder "$(live_slot)")
  if [ -n "$serving" ]; then
    current=$(container_state "$serving") && { ev current $current; ev release "$serving"; }
  else
    current=$(container_state "$name") && ev current $current
  fi
}

# The app's port: app-port, else the image's single EXPOSEd TCP port.
find_app_port() {
  [ -n "$app_port" ] && return 0
  exposed=$(docker image inspect --format '{{range $p, $v := .Config.ExposedPorts}}{{$p}} {{end}}' "$run_image") || fail_unlocked "docker image inspect $run_image failed"
  set -- $exposed
  case $# in
    0) fail_unlocked "the image $label EXPOSEs no port, so the proxy does not know where the app listens: give app-port." ;;
    1) case $1 in */tcp) app_port=\${1%/tcp} ;; *) fail_unlocked "the image $label EXPOSEs only $1, not a TCP port: give app-port." ;; esac ;;
    *) fail_unlocked "the image $label EXPOSEs several ports ($*): give app-port to say which one the proxy sends requests to." ;;
  esac
}

# Runs pre-deploy in a one-off container of the new image; its output comes back as events, and
# its failure stops the deploy before anything is started or switched.
pre_deploy_run() {
  phase pre-deploy
  ev pre-deploy
  pre_out=$(mktemp "$dir/pull-XXXXXXXX")
  scratch="$scratch $pre_out"
  eval "set -- $pre_deploy"
  { docker run --rm \${envfile:+--env-file "$envfile"} "$@" 2>&1 || echo "$?" >"$pre_out.status"; } | ev_lines pre-deploy-output
  if [ -f "$pre_out.status" ]; then
    pre_status=$(cat "$pre_out.status")
    rm -f "$pre_out" "$pre_out.status"
    [ -n "$envfile" ] && rm -f "$envfile"
    fail_unlocked "pre-deploy exited with $pre_status; nothing was started or switched" 7
  fi
  rm -f "$pre_out"
}

# The proxy container as "status spec", or nothing.
proxy_state() { docker container inspect --format '{{.State.Status}} {{index .Config.Labels "slipway.proxy"}}' "$proxy" 2>/dev/null; }

# Starts the proxy when it is missing (or was made with other ports or another image) or stopped,
# and waits until it has loaded the Caddyfile: a proxy that just started answers on its admin
# endpoint a moment later, and caddy reload changes nothing when the file is what it runs.
proxy_start() {
  pstate=$(proxy_state)
  if [ -n "$pstate" ] && [ "\${pstate#* }" != "$proxy_spec" ]; then
    ev proxy-replaced "$proxy"
    docker rm --force "$proxy" >/dev/null 2>&1
    pstate=
  fi
  if [ -z "$pstate" ]; then
    # Stop-and-start mode's container may hold the ports the proxy is about to publish.
    if container_state "$name" >/dev/null; then
      docker rm --force "$name" >/dev/null 2>&1 && ev legacy-removed "$name"
    fi
    eval "set -- $proxy_publish"
    proxy_said=$(docker run --detach --name "$proxy" --restart unless-stopped --network "$net" --label "slipway.proxy=$proxy_spec" "$@" \\
      --volume "$proxy_dir:/etc/slipway:ro" --volume "$proxy-data:/data" "$proxy_image" caddy run --config /etc/slipway/Caddyfile --adapter caddyfile 2>&1) ||
      { proxy_error="docker run of the proxy failed: $(printf '%s\\n' "$proxy_said" | tail -n 3)"; return 1; }
    ev proxy-started "$proxy"
  else
    docker start "$proxy" >/dev/null 2>&1 || { proxy_error="could not start the proxy $proxy"; return 1; }
    ev proxy-started "$proxy"
  fi
  proxy_reload
}
proxy_reload() {
  reload_tries=0
  until proxy_said=$(caddy_reload); do
    reload_tries=$((reload_tries + 1))
    if [ "$reload_tries" -ge 60 ] || [ "$(docker container inspect --format '{{.State.Running}}' "$proxy" 2>/dev/null)" != true ]; then
      proxy_error="caddy reload in $proxy failed: $(printf '%s\\n' "$proxy_said" | tail -n 3)$(docker logs --tail 3 "$proxy" 2>&1 | sed 's/^/ /' | tr '\\n' ' ')"
      return 1
    fi
    nap 0.25
  done
}

# The proxy's requests still in flight to release $1 (port $2): its ESTABLISHED TCP connections
# from the proxy, read in the release's network namespace through /proc (readable by any user).
# The proxy opens one connection a request (keepalive off in the Caddyfile), so each is a request.
in_flight() {
  in_pid=$(docker container inspect --format '{{if .State.Running}}{{.State.Pid}}{{else}}0{{end}}' "$1" 2>/dev/null)
  [ -n "$in_pid" ] && [ "$in_pid" != 0 ] || { echo 0; return 0; }
  [ -r "/proc/$in_pid/net/tcp" ] || { echo unknown; return 0; }
  in_port=$(printf '%04X' "$2")
  in_ip=$(docker container inspect --format "{{with index .NetworkSettings.Networks \\"$net\\"}}{{.IPAddress}}{{end}}" "$proxy" 2>/dev/null)
  # /proc/net/tcp writes an IPv4 address as one little-endian word; tcp6 as ::ffff:a.b.c.d.
  in_hex=$(printf '%s\\n' "$in_ip" | awk -F. 'NF == 4 { printf "%02X%02X%02X%02X", $4, $3, $2, $1 }')
  cat "/proc/$in_pid/net/tcp" "/proc/$in_pid/net/tcp6" 2>/dev/null | grep -c ":$in_port [0-9A-F]*$in_hex:[0-9A-F]* 01 "
}

# Lets release $1 (port $2) finish what the proxy sent it, up to drain-timeout, then stops it.
drain() {
  drain_from=$(now_ms)
  while :; do
    left=$(in_flight "$1" "$2")
    [ "$left" = 0 ] && break
    if [ $(($(now_ms) - drain_from)) -ge $((drain_timeout * 1000)) ]; then
      ev drain-timeout "$1" "$left"
      break
    fi
    nap 0.1
  done
  drain_ms=$(($(now_ms) - drain_from))
  ev drained "$1" "$drain_ms"
  docker stop "$1" >/dev/null 2>&1
  docker rm --force "$1" >/dev/null 2>&1
}

# This deployment's release containers other than $1: strays of an interrupted run, and the old one.
other_releases() {
  docker ps --all --filter "label=slipway.release=$name" --format '{{.Names}}' | grep -vxF "$1"
}

# A failed release ($1 says why), which the proxy never sent a request.
proxy_fail() {
  drop_failed "$release_name" "$1"
  [ -n "$old_release" ] || end_failed 5 "$1; nothing was switched (there was no release before)." "$1; nothing was switched."
  end_failed 6 "$1; the proxy still sends every request to $old_release ($previous_image), which kept serving." "$1; $old_release ($previous_image) keeps serving."
}

# Points the proxy at slot $1: the live file made or removed in one step.
set_live() {
  if [ "$1" = a ]; then : >"$proxy_dir/live-a"; else rm -f "$proxy_dir/live-a"; fi
}

proxy_release() {
  release_started=$(date +%s)
  step=release
  target=$release_name
  [ "$(sed -n 1p "$lock/owner" 2>/dev/null)" = "$token" ] || fail "the deploy lock $lock is no longer this run's (it expired and another deployment took it)"
  rollback_pull
  old_slot=$(live_slot)
  old_release=
  [ -f "$caddyfile" ] && old_release=$(slot_holder "$old_slot")
  old_port=
  [ -n "$old_release" ] && old_port=$(docker container inspect --format '{{index .Config.Labels "slipway.port"}}' "$old_release" 2>/dev/null)
  if [ "$old_slot" = a ]; then slot=b; else slot=a; fi
  find_app_port
  mkdir -p "$proxy_dir" || fail_unlocked "could not make $proxy_dir"
  docker network inspect "$net" >/dev/null 2>&1 || docker network create "$net" >/dev/null || fail_unlocked "could not create the network $net"
  envfile=
  if [ -n "$env_content" ]; then
    envfile="$dir/${ENV_FILE_PREFIX}$$"
    scratch="$scratch $envfile"
    printf '%s' "$env_content" >"$envfile"
  fi
  [ -n "$pre_deploy" ] && pre_deploy_run
  phase start
  # Strays (a run stopped before its switch, or a drained release not yet removed) never get a
  # request again, and one would share the new release's slot alias: they go now.
  for stray in $(other_releases "$old_release"); do
    docker rm --force "$stray" >/dev/null 2>&1 && ev stray-removed "$stray"
  done
  ev starting "$release_name"
  eval "set -- $release_args"
  if ! started=$(docker run \${envfile:+--env-file "$envfile"} --network-alias "slot-$slot" --label "slipway.slot=$slot" --label "slipway.port=$app_port" "$@" 2>&1); then
    [ -n "$envfile" ] && rm -f "$envfile"
    proxy_fail "docker run failed: $(printf '%s\\n' "$started" | tail -n 5)"
  fi
  [ -n "$envfile" ] && rm -f "$envfile"
  if [ -n "$user_network" ]; then
    connected=$(docker network connect "$user_network" "$release_name" 2>&1) || proxy_fail "docker network connect $user_network failed: $connected"
  fi
  phase health
  health_wait || proxy_fail "$unhealthy"
  ev healthy "$healthy"

  phase switch
  # The Caddyfile names each slot's port: rewritten (a new file, then mv, so the proxy never reads
  # half of one) only when the new release's port, the ports or the domain changed.
  set -- $(sed -n 's/^# ports: //p' "$caddyfile" 2>/dev/null)
  port_a=\${1:-$app_port} port_b=\${2:-$app_port}
  if [ "$slot" = a ]; then port_a=$app_port; else port_b=$app_port; fi
  next=$(mktemp "$proxy_dir/Caddyfile.XXXXXXXX") || fail_unlocked "could not write in $proxy_dir"
  printf '%s\\n' "$caddy_template" | sed "s/@@PORT_A@@/$port_a/g; s/@@PORT_B@@/$port_b/g" >"$next"
  chmod 644 "$next"
  changed=
  if cmp -s "$next" "$caddyfile"; then rm -f "$next"; else
    [ -f "$caddyfile" ] && cp "$caddyfile" "$caddyfile.previous"
    mv "$next" "$caddyfile"
    changed=1
  fi
  pstate=$(proxy_state)
  if [ -n "$changed" ] && [ "\${pstate%% *}" = running ] && [ "\${pstate#* }" = "$proxy_spec" ] && ! proxy_reload; then
    [ -f "$caddyfile.previous" ] && mv "$caddyfile.previous" "$caddyfile"
    proxy_fail "$proxy_error"
  fi
  set_live "$slot"
  if [ "\${pstate%% *}" != running ] || [ "\${pstate#* }" != "$proxy_spec" ]; then
    if ! proxy_start; then
      set_live "$old_slot"
      [ -f "$caddyfile.previous" ] && mv "$caddyfile.previous" "$caddyfile"
      proxy_fail "$proxy_error"
    fi
  fi
  rm -f "$caddyfile.previous"
  switched_at=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ 2>/dev/null)
  case $switched_at in *N*|'') switched_at=$(date -u +%Y-%m-%dT%H:%M:%SZ) ;; esac
  ev switched "$release_name" "$switched_at"

  phase drain
  drain_ms=0
  [ -n "$old_release" ] && drain "$old_release" "\${old_port:-$app_port}"
  # Stop-and-start mode's container of the same name, if the proxy took over from one.
  container_state "$name" >/dev/null && docker rm --force "$name" >/dev/null 2>&1 && ev legacy-removed "$name"
  phase commit
  record ok
  prune
  unlock
  ev done
  exit 0
}
`;

const PROGRAM_SENT = withoutComments(SETTLE_DEPLOYMENT_DIR + PROGRAM);

export type Stage = 'prepare' | 'release';

/** What a stage needs; all of it ends up as quoted assignments at the top of the program. */
export interface ProgramValues {
  stage: Stage;
  name: string;
  lock: { token: string; ttlSeconds: number; info: string; waitSeconds: number };
  /** What to pull in `prepare` (deploying), or nothing (a rollback). */
  image?: string;
  registry?: { host: string; username: string; password: string };
  /** Proxy mode: the proxy, and (`release`) the release container and how to switch to it. */
  proxy?: ProxyValues;
  /** `release`: what `docker run` runs, the reference to pull it by if it is gone, and its arguments. */
  run?: {
    action: 'deploy' | 'rollback';
    /** The reference the release is known by (recorded, and kept in the container's label). */
    label: string;
    image: string;
    pullRef?: string;
    /** `docker run` arguments after `run`, the image last; the env file is added by the program. */
    args: readonly string[];
    env: string;
    health: { kind: 'auto' | 'cmd' | 'url'; command?: string; url?: string; timeoutSeconds: number; settleSeconds: number };
    /** The release record's JSON up to its result: `{"time":…,…,"result":`. */
    recordHead: string;
    previousImage?: string;
    prune: readonly string[];
    /** Time the deployment took before this stage, for the record's duration. */
    elapsedMs: number;
  };
}

export interface ProxyValues {
  /** The proxy container's name, and the private network it shares with the releases. */
  container: string;
  network: string;
  image: string;
  /** The proxy image is in the app image's registry: pulled with the same login. */
  pullWithLogin?: boolean;
  /** `--publish` arguments of the proxy container. */
  publish: readonly string[];
  /** What the proxy was made with (image, ports): a proxy with another is replaced. */
  spec: string;
  /** The Caddyfile, with each slot's port (`@@PORT_A@@`, `@@PORT_B@@`) left to the host, which may learn it from the image. */
  caddyfile: string;
  /** The app's port in its container; empty: the image's single EXPOSEd port, read on the host. */
  appPort?: number;
  drainTimeoutSeconds: number;
  /** `release`: the new release container's name, its `docker run` arguments, and pre-deploy's. */
  release?: string;
  releaseArgs?: readonly string[];
  preDeployArgs?: readonly string[];
  /** A network the release joins beside the private one (`network`). */
  userNetwork?: string;
}

/**
 * The program: quoted values, then the program, in one brace group. Stage `prepare` ends by reading
 * its next part on stdin (`releasePart`, or `unlockPart` when there is nothing to release), ended by
 * the line `partEnd`. A `release` program of its own runs the release part's main at once.
 */
export function programText(values: ProgramValues, partEnd = ''): string {
  const main = values.stage === 'prepare' ? 'prepare\nnext_part prepared' : releaseMain(values);
  return hostProgram([...assignments(values), ['part_end', partEnd]], PROGRAM_SENT, main);
}

/** What the runner sends at `prepared` to release: the release's values, then what runs it. */
export function releasePart(values: ProgramValues, partEnd: string): string {
  return partText(assignments(values), releaseMain(values), partEnd);
}

/** What the runner sends at `prepared` when there is nothing to release (a rollback with no earlier release). */
export function unlockPart(partEnd: string): string {
  return partText([], 'unlock\nexit 0', partEnd);
}

function releaseMain(values: ProgramValues): string {
  return values.proxy ? 'proxy_release' : `set -- ${(values.run?.args ?? []).map(quoteArg).join(' ')}\nrelease "$@"`;
}

function assignments(values: ProgramValues): [string, string][] {
  const run = values.run;
  const proxy = values.proxy;
  const assign: [string, string][] = [
    ['name', values.name],
    ['token', values.lock.token],
    ['ttl', String(values.lock.ttlSeconds)],
    ['info', values.lock.info.replace(/[\r\n]+/g, ' ')],
    ['lock_wait', String(values.lock.waitSeconds)],
    ['image', values.image ?? ''],
    ['reg', values.registry?.host ?? ''],
    ['reg_user', values.registry?.username ?? ''],
    ['reg_pass', values.registry?.password ?? ''],
    ['action', run?.action ?? ''],
    ['run_image', run?.image ?? ''],
    ['label', run?.label ?? ''],
    ['pull_ref', run?.pullRef ?? ''],
    ['env_content', run?.env ?? ''],
    ['health_kind', run?.health.kind ?? 'auto'],
    ['health_cmd', run?.health.command ?? ''],
    ['health_url', run?.health.url ?? ''],
    ['health_timeout', String(run?.health.timeoutSeconds ?? 0)],
    ['settle', String(run?.health.settleSeconds ?? 0)],
    ['record_head', run?.recordHead ?? ''],
    ['previous_image', run?.previousImage ?? ''],
    ['prune', (run?.prune ?? []).join(' ')],
    ['elapsed_ms', String(Math.round(run?.elapsedMs ?? 0))],
    ['proxy', proxy?.container ?? ''],
    ['net', proxy?.network ?? ''],
    ['proxy_image', proxy?.image ?? ''],
    ['proxy_auth', proxy?.pullWithLogin ? '1' : ''],
    [
      'proxy_publish',
      (proxy?.publish ?? [])
        .flatMap((port) => ['--publish', port])
        .map(quoteArg)
        .join(' '),
    ],
    ['proxy_spec', proxy?.spec ?? ''],
    ['caddy_template', proxy?.caddyfile ?? ''],
    ['app_port', proxy?.appPort ? String(proxy.appPort) : ''],
    ['drain_timeout', String(proxy?.drainTimeoutSeconds ?? 0)],
    ['release_name', proxy?.release ?? ''],
    ['release_args', (proxy?.releaseArgs ?? []).map(quoteArg).join(' ')],
    ['pre_deploy', (proxy?.preDeployArgs ?? []).map(quoteArg).join(' ')],
    ['user_network', proxy?.userNetwork ?? ''],
  ];
  return assign;
}
