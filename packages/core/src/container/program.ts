/**
 * The host side of a container deployment, as one POSIX sh program fed to `sh -s` on stdin: every
 * step that used to be an exec of its own (lock, leftovers, pull, inspect, start, health, history,
 * prune, unlock) runs on the host, so a deployment costs one or two exchanges instead of dozens of
 * round trips. It uses only what a bare EC2 image has: sh, coreutils, grep, sed, find, xargs and docker
 * (flock, timeout and curl or wget used when there).
 *
 * - Values reach it as assignments at the top of the program (`programText`), quoted as single
 *   words: secrets (a registry password, env values) travel on stdin, never in argv.
 * - It reports on stdout in lines `@@slipway<TAB>event<TAB>field...` (`progress.ts` reads them), so
 *   the runner logs step by step, times the phases and names the step of an error; anything else
 *   it prints (docker pull's progress) is shown as it comes.
 * - It ends with its SSH session: a watcher reads the stdin the runner keeps open (Command.holdStdin)
 *   and, when it closes (the run was cancelled or killed and the connection went), stops the program
 *   and the docker commands it started. Secret files are removed on the way out, whatever happened.
 * - Stage `prepare` takes the lock, repairs what an interrupted deployment left, reports the running
 *   container and the release history, and (deploying) pulls the image. Stage `release` replaces the
 *   container, waits for health on the host, puts the previous one back if the new one fails,
 *   appends the release record, prunes and releases the lock. Between them the runner decides what
 *   to release (a rollback's target) and writes the record's JSON, so no JSON is parsed in sh.
 *
 * The whole program is one brace group: sh reads all of it before running any of it, and it exits
 * from inside, so sh never reads on into the stdin the watcher is waiting on.
 */
import { REGISTRY_CONFIG_PREFIX } from '../docker.js';
import { LOCK_FUNCTIONS } from '../host/deploy-lock.js';
import { quoteArg } from '../shell.js';

/** The marker a progress line starts with. */
export const EVENT_MARK = '@@slipway';

/** Name of a deployment's previous container while the new one proves itself. */
export const PREVIOUS_SUFFIX = '-slipway-previous';
/** The env file of `docker run`, which lives only until the container exists. */
export const ENV_FILE_PREFIX = 'env-';
/** The label that keeps the reference a container was deployed as. */
export const IMAGE_LABEL = 'slipway.image';

const PROGRAM = `
T=$(printf '\\t')
ev() {
  printf '%s' '${EVENT_MARK}'
  for ev_field in "$@"; do printf '\\t%s' "$(printf '%s' "$ev_field" | tr '\\t\\r\\n' '   ')"; done
  printf '\\n'
}
# Each line of stdin (or of a file) as an event of its own.
ev_lines() { sed "s/^/${EVENT_MARK}$T$1$T/"; }
fail() { ev fail "$step" "$1"; exit "\${2:-1}"; }
phase() { step=$1; ev phase "$1"; }
nap() { sleep "$1" 2>/dev/null || sleep 1; }
# A JSON string's inside: quotes and backslashes escaped, control characters made spaces.
json_text() { printf '%s' "$1" | tr '\\t\\r\\n' '   ' | tr -d '\\000-\\037' | sed 's/\\\\/\\\\\\\\/g; s/"/\\\\"/g'; }

# Files removed on the way out, whatever happened: registry logins, env files, pull output.
scratch=
cleanup() {
  [ -n "$scratch" ] && rm -rf $scratch
  [ -n "\${watcher:-}" ] && kill "$watcher" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# One signal, so there is a narrow gap: a command the shell forks just after it (the shell acts on
# a trap once its foreground command ends) runs to its end before the program stops.
exec 3<&0
( read -r ev_ignored <&3; kill -TERM 0 ) >/dev/null 2>&1 &
watcher=$!

umask 077
step=connect
ev home "$HOME"
dir="$HOME/.slipway/ec2-deploy/$name"
lock="$dir/deploy.lock"
aside="$name${PREVIOUS_SUFFIX}"
history="$dir/releases.jsonl"

unlock() {
  unlock_said=$(lock_release 2>&1) || unlock_said="could not release: $unlock_said"
  ev unlocked "$unlock_said"
}
# Fails the step after giving the lock back: for failures before anything on the host changed.
fail_unlocked() { unlock; fail "$@"; }

transient() {
  grep -Eiq 'unauthorized|denied|forbidden|not found|manifest invalid|name unknown' "$1" && return 1
  grep -Eiq '(50[0234]|429)|too many requests|toomanyrequests|timeout|timed out|connection reset|broken pipe|unexpected EOF|EOF|service unavailable|bad gateway|temporar' "$1"
}

# pull REF: a throwaway DOCKER_CONFIG when there are credentials, removed right after; tried again
# (2 s, then 4 s) on what a busy registry answers.
pull() {
  pull_config=
  if [ -n "$reg_user" ]; then
    pull_config=$(mktemp -d "$dir/${REGISTRY_CONFIG_PREFIX}XXXXXXXX") || fail_unlocked "could not make a directory for the registry login in $dir"
    pull_out="$pull_config.out"
    scratch="$scratch $pull_config $pull_out"
    if ! printf '%s' "$reg_pass" | docker --config "$pull_config" login --username "$reg_user" --password-stdin "$reg" >"$pull_out" 2>&1; then
      ev login-failed "$reg" "$(tail -n 5 "$pull_out")"
      rm -rf "$pull_config" "$pull_out"
      fail_unlocked "docker login to $reg failed"
    fi
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
  lock_started=$(date +%s) told=
  while :; do
    attempt=$(lock_try 2>&1) || fail "could not take the deploy lock $lock: $(printf '%s' "$attempt" | tail -n 3)" 3
    case $attempt in
      acquired*) break ;;
      took-over*) ev took-over "$(printf '%s\\n' "$attempt" | sed -n 4p)"; break ;;
    esac
    holder=$(printf '%s\\n' "$attempt" | sed -n 4p) expires=$(printf '%s\\n' "$attempt" | sed -n 3p)
    waited=$(($(date +%s) - lock_started))
    [ "$waited" -ge "$lock_wait" ] && { ev lock-timeout "$holder" "$expires" "$waited"; exit 4; }
    [ -z "$told" ] && { ev lock-wait "$holder"; told=1; }
    nap 3
  done
  ev locked "$lock"

  for leftover in "$dir/${REGISTRY_CONFIG_PREFIX}"* "$dir/${ENV_FILE_PREFIX}"* "$dir/pull-"*; do
    [ -e "$leftover" ] && rm -rf "$leftover" && ev leftover "$leftover"
  done
  if container_state "$aside" >/dev/null; then
    ev restoring "$aside"
    docker rm --force "$name" >/dev/null 2>&1
    docker rename "$aside" "$name" && docker start "$name" >/dev/null || fail_unlocked "could not put back $aside as $name"
  fi
  current=$(container_state "$name") && ev current $current
  [ -f "$history" ] && ev_lines history <"$history"

  if [ -n "$image" ]; then
    phase pull
    pull "$image"
    pulled=$(docker image inspect --format '{{.Id}}{{range .RepoDigests}} {{.}}{{end}}' "$image") || fail_unlocked "docker image inspect $image failed after the pull"
    ev image "$pulled"
  fi
  ev prepared
}

# Waits until the new container is healthy; prints how that was decided, or fails.
health_wait() {
  health_started=$(date +%s)
  state=$(docker container inspect --format '{{.RestartCount}} {{if .State.Health}}docker{{else}}none{{end}}' "$name") || { unhealthy="container $name is gone"; return 1; }
  restarts0=\${state%% *}
  mode=$health_kind
  case $mode in cmd|url) find_timeout ;; esac
  [ "\${state#* }" = docker ] && mode=docker
  poll=0.25
  [ "$mode" = auto ] && poll=1
  last=
  while :; do
    state=$(docker container inspect --format '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$name" 2>/dev/null) || { unhealthy="container $name is gone"; return 1; }
    set -- $state
    case $1 in exited|dead) unhealthy="container $name exited with code $3"; return 1 ;; esac
    if [ "$2" -gt "$restarts0" ] || [ "$1" = restarting ]; then unhealthy="container $name is restarting (it crashed; $2 restarts)"; return 1; fi
    elapsed=$(($(date +%s) - health_started))
    if [ "$1" = running ]; then
      case $mode in
        docker)
          case $4 in
            healthy) healthy="the image's HEALTHCHECK reports healthy"; return 0 ;;
            unhealthy)
              probe=$(docker container inspect --format '{{range .State.Health.Log}}{{.Output}}{{end}}' "$name" 2>/dev/null | sed '/^[[:space:]]*$/d' | tail -n 5)
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

release() {
  release_started=$(date +%s)
  step=release
  [ "$(sed -n 1p "$lock/owner" 2>/dev/null)" = "$token" ] || fail "the deploy lock $lock is no longer this run's (it expired and another deployment took it)"
  # A rollback's image may have been pruned since: pulled again by digest, its immutable name.
  if [ "$action" = rollback ] && ! docker image inspect "$run_image" >/dev/null 2>&1; then
    [ -n "$pull_ref" ] || fail_unlocked "the image of the release to roll back to ($label) is no longer on the host and has no digest to pull it by."
    phase pull
    pull "$pull_ref"
  fi
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
  ev unhealthy "$unhealthy"
  docker logs --tail 100 "$name" 2>&1 | ev_lines logs
  docker rm --force "$name" >/dev/null 2>&1
  if [ -z "$previous" ]; then
    record failed "$unhealthy; there was no previous container to restore (the failed one was removed)."
    unlock
    fail "$unhealthy; there was no previous container to restore (the failed one was removed)." 5
  fi
  restored=
  if docker rename "$aside" "$name"; then
    case $previous in
      running|restarting) docker start "$name" >/dev/null && restored=1 ;;
      *) restored=1 ;;
    esac
  fi
  if [ -z "$restored" ]; then
    record failed "$unhealthy; restoring the previous container failed"
    unlock
    fail "$unhealthy; restoring the previous container failed: it is kept as $aside if it was not restored, and the next deployment to this host puts it back first." 5
  fi
  ev restored
  record rolled-back "$unhealthy; rolled back to $previous_image."
  unlock
  fail "$unhealthy; rolled back to $previous_image." 6
}

${LOCK_FUNCTIONS}
`;

/** The program as sent: its comment lines are for this file's reader, not worth bytes on every deploy. */
const WITHOUT_COMMENTS = PROGRAM.split('\n')
  .filter((line) => line.trim() && !line.trim().startsWith('#'))
  .join('\n');

export type Stage = 'prepare' | 'release';

/** What a stage needs; all of it ends up as quoted assignments at the top of the program. */
export interface ProgramValues {
  stage: Stage;
  name: string;
  lock: { token: string; ttlSeconds: number; info: string; waitSeconds: number };
  /** What to pull in `prepare` (deploying), or nothing (a rollback). */
  image?: string;
  registry?: { host: string; username: string; password: string };
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

/** The program for one stage: quoted values, then the program, in one brace group. */
export function programText(values: ProgramValues): string {
  const run = values.run;
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
  ];
  const lines = assign.map(([key, value]) => `${key}=${quoteArg(value)}`);
  const main = values.stage === 'prepare' ? 'prepare\nexit 0' : `set -- ${(run?.args ?? []).map(quoteArg).join(' ')}\nrelease "$@"`;
  return `{\nset -u\n${lines.join('\n')}\n${WITHOUT_COMMENTS}\n${main}\n}\n`;
}
