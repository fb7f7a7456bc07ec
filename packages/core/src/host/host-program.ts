/**
 * What every program Slipway runs on a host shares (container/program.ts, compose/program.ts): the
 * progress protocol, the clean-up of secret files, the watcher that ends the program with its SSH
 * session, the deploy lock and the registry login, plus the runner's side of running one and reading its progress.
 *
 * - A program is POSIX sh fed to `sh -s` on stdin, with only what a bare EC2 image has (sh,
 *   coreutils, grep, sed, find and docker). Values reach it as quoted assignments at its top
 *   (`hostProgram`): secrets travel on stdin, never in argv.
 * - It reports on stdout in lines `@@slipway<TAB>event<TAB>field...`; anything else it prints
 *   (docker's own output) is passed on as it comes.
 * - It ends with its SSH session: a watcher reads the stdin the runner keeps open
 *   (Command.holdStdin) and, when it closes (the run was cancelled or killed and the connection
 *   went), stops the program and the docker commands it started. Files named in `$scratch` are
 *   removed on the way out, whatever happened.
 * - The whole program is one brace group: sh reads all of it before running any of it, and it exits
 *   from inside, so sh never reads on into the stdin the watcher is waiting on.
 * - A program may read a next part on the same stdin (`next_part`, `partText`): what the runner
 *   decides from the first part's report reaches the host without a second exchange.
 */
import { REGISTRY_CONFIG_PREFIX } from '../docker.js';
import { LOCK_FUNCTIONS } from './deploy-lock.js';
import { quoteArg, type CommandResult, type Shell } from '../shell.js';

/** The marker a progress line starts with. */
export const EVENT_MARK = '@@slipway';

const PRELUDE = `
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
  [ -n "\${watcher:-}" ] && kill -KILL "$watcher" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# One signal, so there is a narrow gap: a command the shell forks just after it (the shell acts on
# a trap once its foreground command ends) runs to its end before the program stops.
exec 3<&0
watch_stdin() {
  ( read -r ev_ignored <&3; kill -TERM 0 ) >/dev/null 2>&1 &
  watcher=$!
}
watch_stdin

# Runs the next part of the program, which the runner writes on stdin once it has read this part's
# report ($1, the event that says so): lines up to one equal to $part_end (a nonce of this run), run
# with eval. The watcher reads stdin too, so it is stopped before the event: no byte of the next part
# is sent before it, and this read alone gets them. Meanwhile the read itself sees the session end
# (end of file before $part_end) and stops the program; a watcher watches again for the next part.
# KILL, not TERM: a watcher forked a moment ago may still have the program's TERM trap (dash resets
# it in the child after the fork); a TERM caught then is lost, and the wait would last until the
# session ends.
next_part() {
  kill -KILL "$watcher" 2>/dev/null
  wait "$watcher" 2>/dev/null
  watcher=
  ev "$1"
  part= part_ended=
  while IFS= read -r part_line <&3; do
    [ "$part_line" = "$part_end" ] && { part_ended=1; break; }
    part="$part$part_line
"
  done
  [ -n "$part_ended" ] || exit 143
  watch_stdin
  eval "$part"
}

umask 077
step=connect
# Takes the deploy lock $lock, waiting up to $lock_wait seconds for another run's: exit 3 when the
# host cannot keep a lock there, 4 when the wait ran out.
take_lock() {
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
}
unlock() {
  unlock_said=$(lock_release 2>&1) || unlock_said="could not release: $unlock_said"
  ev unlocked "$unlock_said"
}
# Fails the step after giving the lock back: for failures before anything on the host changed.
fail_unlocked() { unlock; fail "$@"; }

# Logs in to $reg as $reg_user, the password on stdin (never in argv), into a new DOCKER_CONFIG
# directory in $1, named in $login_dir and removed on the way out; a refusal fails the step, unlocked.
registry_login() {
  login_dir=$(mktemp -d "$1/${REGISTRY_CONFIG_PREFIX}XXXXXXXX") || fail_unlocked "could not make a directory for the registry login in $1"
  scratch="$scratch $login_dir"
  if ! login_out=$(printf '%s' "$reg_pass" | docker --config "$login_dir" login --username "$reg_user" --password-stdin "$reg" 2>&1); then
    rm -rf "$login_dir"
    ev login-failed "$reg" "$(printf '%s\\n' "$login_out" | tail -n 5)"
    fail_unlocked "docker login to $reg failed"
  fi
}

${LOCK_FUNCTIONS}
`;

/** A program's comment lines are for this file's reader, not worth bytes on every deployment. */
export function withoutComments(program: string): string {
  return program
    .split('\n')
    .filter((line) => line.trim() && !line.trim().startsWith('#'))
    .join('\n');
}

const PRELUDE_SENT = withoutComments(PRELUDE);

/**
 * The text fed to `sh -s`: the values as quoted assignments, the shared functions, the program's
 * own functions (`body`), then `main`, the commands that run them; all in one brace group.
 */
export function hostProgram(values: readonly (readonly [string, string])[], body: string, main: string): string {
  const lines = values.map(([key, value]) => `${key}=${quoteArg(value)}`);
  return `{\nset -u\n${lines.join('\n')}\n${PRELUDE_SENT}\n${body}\n${main}\n}\n`;
}

/**
 * A next part for \`next_part\`: the values as quoted assignments, then \`main\`, then the line that
 * ends the part (\`end\`, the program's \`part_end\`: a nonce, so no value can end it early).
 */
export function partText(values: readonly (readonly [string, string])[], main: string, end: string): string {
  const lines = values.map(([key, value]) => `${key}=${quoteArg(value)}\n`);
  return `${lines.join('')}${main}\n${end}\n`;
}

export interface HostProgramRun {
  timeoutMs: number;
  /** For a program that reads a next part (`next_part`): called with the function that writes it. */
  feed?: (write: (text: string) => void) => void;
  /** A progress line: its event and fields. */
  onEvent(event: string, fields: string[]): void;
  /** Any other non-blank line the program printed. */
  onOutput(line: string): void;
}

/** Runs a program on the host, handing each line of its output to `onEvent` or `onOutput` as it comes. */
export function runHostProgram(shell: Shell, text: string, run: HostProgramRun): Promise<CommandResult> {
  const prefix = `${EVENT_MARK}\t`;
  return shell.run({
    args: ['sh', '-s'],
    stdin: text,
    holdStdin: true,
    feed: run.feed,
    allowFailure: true,
    timeoutMs: run.timeoutMs,
    onLine: (line) => {
      if (line.startsWith(prefix)) {
        const [event, ...fields] = line.slice(prefix.length).split('\t');
        run.onEvent(event, fields);
      } else if (line.trim()) {
        run.onOutput(line);
      }
    },
  });
}
