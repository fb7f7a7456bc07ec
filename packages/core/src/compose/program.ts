/**
 * The host side of a compose deployment, as a POSIX sh program on host/host-program.ts's base: what
 * used to be an exec of its own (the lock, compose's detection, leftovers, the current release, the
 * release directory and its files, `config`, the login, pull, `up`, the health poll, `current`,
 * pruning, the unlock) runs on the host, so a re-deploy costs two exchanges.
 *
 * - Stage `prepare` takes the lock, removes what an interrupted deployment left, says which compose
 *   the host has and which release is current (its manifest), makes the new release directory from
 *   the archive and files in the program itself, and prints the release's `config`. The runner reads
 *   that YAML (js-yaml) to choose the services to pull and wait for: no YAML is parsed in sh.
 * - Stage `apply` logs in (a throwaway DOCKER_CONFIG), pulls, runs `up`, waits on the host for the
 *   services (the rules of compose's `up --wait`, as compose/health.ts states them for the runner),
 *   then (a new release) points `current` at it and prunes, and releases the lock. A failure after
 *   `up` exits 5 and keeps the lock when there is a release to go back to: the runner then asks for
 *   that release's `config` (stage `config`) and applies it again (stage `apply`, which unlocks).
 * - Swarm mode uses `prepare`, deploys the stack from the runner (the convergence rules in swarm.ts
 *   need its state), then stage `commit` (current, prune, unlock) or `unlock`.
 *
 * Exit statuses: 0 done; 1 failed with nothing changed (lock released); 3, 4 the lock could not be
 * taken, or not in time; 5 failed after `up` changed the services.
 */
import { REGISTRY_CONFIG_PREFIX } from '../docker.js';
import { hostProgram, withoutComments } from '../host/host-program.js';
import { LOCK_NAME } from '../host/layout.js';
import { quoteArgs } from '../shell.js';
import { OVERRIDE_FILE_NAME } from './override.js';
import { RELEASE_MANIFEST, RELEASE_META_DIR } from './release.js';

/**
 * Temporary files beside the releases: `config` output, which holds the env values, and the output
 * of pull and up. Removed on the way out; a run killed outright leaves them to its post step.
 */
export const SCRATCH_PREFIX = 'config-';

/** Where a release's env file is, relative to its directory. */
export const RELEASE_ENV_FILE = `${RELEASE_META_DIR}/compose.env`;

const PROGRAM = `
if [ -n "$base_abs" ]; then base=$base_abs; else base="$HOME\${base_rel:+/$base_rel}"; fi
ev base "$base"
lock="$base/${LOCK_NAME}"
releases="$base/releases"

# The compose the host has: the v2 plugin first, then docker-compose (v1, or v2 under that name).
version_of() { printf '%s\\n' "$1" | sed -n 's/^[^0-9]*\\([0-9][0-9]*\\.[0-9][0-9]*\\(\\.[0-9][0-9]*\\)\\{0,1\\}\\).*/\\1/p' | head -n 1; }
detect_compose() {
  compose_said=
  if out=$(docker compose version --short 2>&1) && compose_version=$(version_of "$out") && [ -n "$compose_version" ]; then
    compose_kind=plugin compose_bin='docker compose'
    return 0
  fi
  compose_said=$(printf '%s\\n' "$out" | tail -n 1)
  if out=$(docker-compose version --short 2>&1) && compose_version=$(version_of "$out") && [ -n "$compose_version" ]; then
    compose_kind=standalone compose_bin=docker-compose
    return 0
  fi
  compose_said="$compose_said; $(printf '%s\\n' "$out" | tail -n 1)"
  return 1
}

# Runs a command, its output shown as it comes and kept in the file $1; its status is the command's.
run_shown() {
  rs_out=$1
  shift
  { "$@" 2>&1 || echo "$?" >"$rs_out.status"; } | tee "$rs_out"
  [ -f "$rs_out.status" ] || return 0
  rs_status=$(cat "$rs_out.status")
  rm -f "$rs_out.status"
  return "$rs_status"
}

nl=$(printf '\nx')
nl=\${nl%x}
# The release DIR's merged, interpolated configuration, as config lines: its files
# ($config_files, a line each, and $config_env) relative to DIR.
config_of() {
  config_out=$(mktemp "$base/${SCRATCH_PREFIX}XXXXXXXX") || fail_unlocked "could not make a file in $base"
  scratch="$scratch $config_out"
  co_dir=$1
  set -- --project-name "$project"
  co_ifs=$IFS IFS=$nl
  for co_file in $config_files; do set -- "$@" --file "$co_dir/$co_file"; done
  IFS=$co_ifs
  [ -n "$config_env" ] && set -- "$@" --env-file "$co_dir/$config_env"
  if $compose_bin "$@" config >"$config_out" 2>"$config_out.err"; then
    ev_lines config <"$config_out"
    rm -f "$config_out" "$config_out.err"
  else
    config_err=$(tail -n 10 "$config_out.err")
    rm -f "$config_out" "$config_out.err"
    fail_unlocked "$compose_bin config failed for the release in $co_dir: $config_err"
  fi
}

prepare() {
  phase lock
  take_lock
  for leftover in "$base/${REGISTRY_CONFIG_PREFIX}"* "$base/${SCRATCH_PREFIX}"*; do
    [ -e "$leftover" ] && rm -rf "$leftover" && ev leftover "$leftover"
  done
  phase detect
  detect_compose || { ev no-compose "$compose_said"; unlock; exit 1; }
  ev compose "$compose_kind" "$compose_version"
  if current=$(readlink "$base/current" 2>/dev/null) && current=\${current##*/} && [ -f "$releases/$current/${RELEASE_META_DIR}/${RELEASE_MANIFEST}" ]; then
    ev current "$current"
    ev_lines manifest <"$releases/$current/${RELEASE_META_DIR}/${RELEASE_MANIFEST}"
  fi
  if [ "$mode" = swarm ]; then
    swarm=$(docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null)
    [ "$swarm" = "active true" ] || { ev not-a-manager "\${swarm%% *}"; unlock; exit 1; }
  fi

  phase upload
  rdir="$releases/$release"
  mkdir -p -m 0700 "$base" "$releases" && mkdir -m 0700 "$rdir" "$rdir/${RELEASE_META_DIR}" || fail_unlocked "could not make the release directory $rdir"
  # --no-same-owner: a root deploy user would otherwise keep the runner's uids on the files.
  if ! untar=$(printf '%s' "$archive" | base64 -d | tar -x -f - --no-same-owner -C "$rdir" 2>&1); then
    fail_unlocked "could not unpack the release into $rdir: $untar"
  fi
  [ -n "$override" ] && printf '%s' "$override" >"$rdir/${RELEASE_META_DIR}/${OVERRIDE_FILE_NAME}"
  if [ -n "$has_env" ]; then
    # The two compose versions read an env file by different rules (env-file.ts): the runner wrote both.
    case $compose_version in 0.*|1.*) env_text=$env_v1 ;; *) env_text=$env_v2 ;; esac
    printf '%s' "$env_text" >"$rdir/${RELEASE_ENV_FILE}"
  fi
  printf '%s\\n' "$manifest" >"$rdir/${RELEASE_META_DIR}/${RELEASE_MANIFEST}"
  config_of "$rdir"
  ev prepared "$rdir"
}

lock_check() {
  [ "$(sed -n 1p "$lock/owner" 2>/dev/null)" = "$token" ] || fail "the deploy lock $lock is no longer this run's (it expired and another deployment took it)"
}

# A failure after up changed the services: the lock is kept when the runner will re-apply the
# previous release (which unlocks), released otherwise.
fail_changed() {
  [ -n "$hold_on_change" ] || unlock
  fail "$1" 5
}

# The project's service containers (not one-offs), a line each: service name state health exit image id.
# The template must hold for docker's typed container (.ID, not the JSON's .Id): on an error docker
# falls back to the raw JSON, where a container without a healthcheck has no .State.Health to test.
project_containers() {
  pc_ids=$(docker ps --all --quiet --no-trunc --filter "label=com.docker.compose.project=$project" --filter label=com.docker.compose.oneoff=False) || return 1
  [ -n "$pc_ids" ] || return 0
  docker container inspect --format '{{index .Config.Labels "com.docker.compose.service"}} {{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}} {{.Config.Image}} {{.ID}}' $pc_ids 2>/dev/null
  return 0
}

# One poll of $wait_services: ready (status 0), failing (1, $failing and $verdict say which) or not
# yet (2, $report says why). The rules of compose's up --wait, as compose/health.ts's readiness():
# healthy, or running without a healthcheck, or exited 0 is ready; unhealthy, dead or exited non-zero
# fails; anything else is waited for.
poll_services() {
  listed=$(project_containers)
  failing= failed= not_ready= report=
  for svc in $wait_services; do
    own=0 waiting=
    while read -r c_svc c_name c_state c_health c_exit c_rest; do
      [ "$c_svc" = "$svc" ] || continue
      own=$((own + 1))
      c_name=\${c_name#/}
      if [ "$c_state" = exited ]; then c_desc="$c_name exited with code $c_exit"
      elif [ "$c_health" = none ]; then c_desc="$c_name $c_state"
      else c_desc="$c_name $c_state, $c_health"; fi
      case $c_state in
        running) case $c_health in healthy|none) verdict=ready ;; unhealthy) verdict=failed ;; *) verdict=waiting ;; esac ;;
        exited) if [ "$c_exit" = 0 ]; then verdict=ready; else verdict=failed; fi ;;
        dead) verdict=failed ;;
        *) verdict=waiting ;;
      esac
      case $verdict in
        failed) failed="\${failed:+$failed; }$c_desc"; case " $failing " in *" $svc "*) ;; *) failing="\${failing:+$failing, }$svc" ;; esac ;;
        waiting) waiting="\${waiting:+$waiting; }$c_desc" ;;
      esac
    done <<LISTED
$listed
LISTED
    if [ "$own" = 0 ]; then not_ready="\${not_ready:+$not_ready, }$svc" report="\${report:+$report; }$svc (no container)"
    elif [ -n "$waiting" ]; then not_ready="\${not_ready:+$not_ready, }$svc" report="\${report:+$report; }$svc ($waiting)"; fi
  done
  if [ -n "$failing" ]; then verdict="Service(s) $failing failed: $failed."; return 1; fi
  [ -z "$not_ready" ] && return 0
  return 2
}

wait_services() {
  wait_started=$(date +%s) said=
  while :; do
    poll_services && return 0
    [ -n "$failing" ] && return 1
    if [ "$(($(date +%s) - wait_started))" -ge "$wait_timeout" ]; then
      failing=$not_ready verdict="Service(s) $not_ready not ready after $wait_timeout_text: $report."
      return 1
    fi
    [ "$report" != "$said" ] && { ev waiting "$report"; said=$report; }
    nap 0.25
  done
}

# The last logs of SERVICES..., as log lines.
logs_of() {
  eval "set -- $logs_args \\"\\$@\\""
  "$@" 2>&1 | ev_lines logs
}

report_containers() {
  project_containers | while read -r c_svc c_name c_state c_health c_exit c_image c_id; do
    case " $selected " in *" $c_svc "*) ev container "$c_svc" "\${c_name#/}" "$c_image" "$c_state" "$c_health" "$c_exit" "$c_id" ;; esac
  done
}

# Points current at the release (a new link renamed over the old, so it is never missing), then
# removes the oldest releases beyond $keep, never current's.
commit_release() {
  phase commit
  ln -sfn "releases/$release" "$base/current.new" && mv -T -f "$base/current.new" "$base/current" || fail_changed "could not point $base/current at releases/$release"
  count=$(ls -1 "$releases" | wc -l)
  [ "$count" -gt "$keep" ] || return 0
  removed=
  for old in $(ls -1 "$releases" | sort | head -n "$((count - keep))"); do
    [ "$old" = "$release" ] && continue
    rm -rf "\${releases:?}/$old" && removed="\${removed:+$removed, }$old"
  done
  [ -n "$removed" ] && ev pruned "$removed"
  return 0
}

apply() {
  step=release
  lock_check
  if [ -n "$reg_user" ]; then
    phase pull
    ev login "$reg" "$reg_user"
    registry_login "$base"
    DOCKER_CONFIG=$login_dir
    export DOCKER_CONFIG
  fi
  out=$(mktemp "$base/${SCRATCH_PREFIX}XXXXXXXX") || fail_unlocked "could not make a file in $base"
  scratch="$scratch $out"
  if [ -n "$pull_args" ]; then
    [ "$step" = pull ] || phase pull
    ev pull "$pull_services"
    eval "run_shown \\"\\$out\\" $pull_args" || fail_unlocked "$compose_name pull failed (exit code $?): $(tail -n 10 "$out")"
  fi
  printf '%s' "$never_images" | while read -r n_svc n_image; do
    [ -n "$n_svc" ] || continue
    docker image inspect --format '{{.Id}}' "$n_image" >/dev/null 2>&1 || { echo "$n_svc $n_image"; break; }
  done >"$out"
  if [ -s "$out" ]; then
    read -r n_svc n_image <"$out"
    fail_unlocked "pull is never, and $target has no image $n_image for service $n_svc."
  fi

  phase start
  ev up
  up_status=0
  eval "run_shown \\"\\$out\\" $up_args" || up_status=$?
  if [ "$up_status" != 0 ]; then
    ev up-failed "$up_status"
    tail -n 30 "$out" | ev_lines up-output
    set -- $selected
    logs_of "$@"
    fail_changed "$compose_name up failed on $target (exit code $up_status)"
  fi
  if [ -n "$wait" ]; then
    phase health
    ev wait "$wait_services"
    if ! wait_services; then
      set -- $(printf '%s' "$failing" | tr ',' ' ')
      logs_of "$@"
      fail_changed "$verdict"
    fi
  fi
  [ -n "$login_dir" ] && rm -rf "$login_dir" && unset DOCKER_CONFIG
  report_containers
  [ -n "$commit" ] && commit_release
  unlock
  ev done
  exit 0
}
`;

const PROGRAM_SENT = withoutComments(PROGRAM);

export type ComposeStage = 'prepare' | 'config' | 'apply' | 'commit' | 'unlock';

/** What a stage needs; all of it ends up as quoted assignments at the top of the program. */
export interface ComposeProgramValues {
  stage: ComposeStage;
  project: string;
  /** The release directory's base: absolute, or relative to the home (`~/x` given as `x`). */
  base: { absolute: string } | { fromHome: string };
  mode: 'compose' | 'swarm';
  lock: { token: string; ttlSeconds: number; info: string; waitSeconds: number };
  /** The host's name in messages. */
  target: string;
  /** The release a stage is about (prepare: the new one; config, apply: the one applied). */
  release: string;
  /** `prepare`: the release's files: the tar archive, our override, the env file for each compose version, the manifest. */
  files?: { archive: Buffer; override?: string; env?: { v1: string; v2: string }; manifest: string };
  /** `prepare`, `config`: the release's compose files and env file, relative to its directory. */
  releaseFiles?: { files: readonly string[]; envFile?: string };
  /** `apply`. */
  apply?: {
    composeName: string;
    registry?: { host: string; username: string; password: string };
    /** Full argv of the pull (none: no pull), of `up`, and of `logs` up to its services. */
    pull?: readonly string[];
    pullServices?: readonly string[];
    up: readonly string[];
    logs: readonly string[];
    /** pull `never`: the images that must be on the host, by service. */
    mustHave: readonly (readonly [string, string])[];
    /** The services the deployment starts: waited for (when `wait`), and reported. */
    selected: readonly string[];
    wait?: { timeoutSeconds: number; timeoutText: string };
    /** A new release: point `current` at it and keep `keep` releases. */
    commit?: { keep: number };
    /** Keep the lock when a failure changed the services (the runner re-applies the previous release). */
    holdOnChange: boolean;
  };
  /** `commit`: how many releases to keep. */
  keep?: number;
}

export function composeProgramText(values: ComposeProgramValues): string {
  const apply = values.apply;
  const files = values.files;
  const assign: [string, string][] = [
    ['project', values.project],
    ['base_abs', 'absolute' in values.base ? values.base.absolute : ''],
    ['base_rel', 'fromHome' in values.base ? values.base.fromHome : ''],
    ['mode', values.mode],
    ['token', values.lock.token],
    ['ttl', String(values.lock.ttlSeconds)],
    ['info', values.lock.info.replace(/[\r\n]+/g, ' ')],
    ['lock_wait', String(values.lock.waitSeconds)],
    ['target', values.target],
    ['release', values.release],
    ['archive', files ? files.archive.toString('base64') : ''],
    ['override', files?.override ?? ''],
    ['has_env', files?.env ? '1' : ''],
    ['env_v1', files?.env?.v1 ?? ''],
    ['env_v2', files?.env?.v2 ?? ''],
    ['manifest', files?.manifest ?? ''],
    ['config_files', (values.releaseFiles?.files ?? []).join('\n')],
    ['config_env', values.releaseFiles?.envFile ?? ''],
    ['compose_name', apply?.composeName ?? ''],
    ['reg', apply?.registry?.host ?? ''],
    ['reg_user', apply?.registry?.username ?? ''],
    ['reg_pass', apply?.registry?.password ?? ''],
    ['pull_args', apply?.pull ? quoteArgs(apply.pull) : ''],
    ['pull_services', (apply?.pullServices ?? []).join(', ')],
    ['up_args', quoteArgs(apply?.up ?? [])],
    ['logs_args', quoteArgs(apply?.logs ?? [])],
    ['never_images', (apply?.mustHave ?? []).map(([service, image]) => `${service} ${image}\n`).join('')],
    ['selected', (apply?.selected ?? []).join(' ')],
    ['wait_services', (apply?.selected ?? []).join(' ')],
    ['wait', apply?.wait ? '1' : ''],
    ['wait_timeout', String(apply?.wait?.timeoutSeconds ?? 0)],
    ['wait_timeout_text', apply?.wait?.timeoutText ?? ''],
    ['commit', apply?.commit ? '1' : ''],
    ['keep', String(apply?.commit?.keep ?? values.keep ?? 0)],
    ['hold_on_change', apply?.holdOnChange ? '1' : ''],
    ['login_dir', ''],
  ];
  return hostProgram(assign, PROGRAM_SENT, STAGE_MAIN[values.stage]);
}

const STAGE_MAIN: Record<ComposeStage, string> = {
  prepare: 'prepare\nexit 0',
  // The release applied again: compose was detected by `prepare`, in the same run.
  config: 'lock_check\ndetect_compose || fail "no compose answers any more"\nconfig_of "$releases/$release"\nexit 0',
  apply: 'apply',
  commit: 'lock_check\ncommit_release\nunlock\nev done\nexit 0',
  unlock: 'unlock\nexit 0',
};
