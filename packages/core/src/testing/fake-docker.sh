#!/bin/sh
# A fake `docker` for tests of host programs (see fake-docker.ts, which installs it with S set to its
# state directory): images, containers, networks and the registry are files under $S, and each argv
# is logged. A container is a directory: image, status, config (the image as `docker run` named it),
# labels and volumes (one a line), restarts, exitcode, envfile and env, logs.
S=__STATE__
printf '%s\n' "$*" >>"$S/argv.log"
config=
while [ "${1:-}" = --config ]; do config=$2; shift 2; done
[ "${1:-}" = login ] || exec </dev/null
enc() { printf '%s' "$1" | tr '/:@' '___'; }
resolve() {
  case $1 in
    sha256:*) [ -d "$S/images/${1#sha256:}" ] && { echo "${1#sha256:}"; return 0; }; return 1 ;;
  esac
  for d in "$S"/images/*; do
    [ -d "$d" ] || continue
    grep -qxF "$1" "$d/refs" "$d/digests" 2>/dev/null && { basename "$d"; return 0; }
  done
  return 1
}
in_use() { grep -qxF "sha256:$1" "$S"/containers/*/image 2>/dev/null; }
container() { c="$S/containers/$1"; [ -d "$c" ] || { echo "Error response from daemon: No such container: $1" >&2; exit 1; }; }
field() { cat "$c/$1"; }
# The value of the container's label $1, empty when it has none.
label() { sed -n "s/^$1=//p" "$c/labels" 2>/dev/null | head -n 1; }
# The label a --format string indexes (`{{index .Config.Labels "KEY"}}`).
label_in() { printf '%s' "$1" | sed -n 's/.*index \.Config\.Labels "\([^"]*\)".*/\1/p'; }

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  login)
    user= reg= stdin=
    while [ $# -gt 0 ]; do
      case $1 in --username) user=$2; shift 2 ;; --password-stdin) stdin=1; shift ;; *) reg=$1; shift ;; esac
    done
    [ -n "$stdin" ] || { echo "fake docker: the password must come on stdin" >&2; exit 1; }
    pass=$(cat)
    printf '%s' "$pass" >"$S/login-password"
    printf '%s\n' "$config" >>"$S/login-configs"
    if [ -f "$S/registry-password" ] && [ "$pass" != "$(cat "$S/registry-password")" ]; then
      echo "Error response from daemon: Get \"https://$reg/v2/\": unauthorized: incorrect username or password" >&2
      exit 1
    fi
    [ -n "$config" ] && printf '{"auths":{"%s":{"auth":"x"}}}\n' "$reg" >"$config/config.json"
    echo "Login Succeeded" ;;
  pull)
    ref=$1
    if [ -f "$S/pull-sleep" ]; then : >"$S/pulling"; sleep "$(cat "$S/pull-sleep")"; fi
    f="$S/registry/$(enc "$ref")"
    [ -f "$f" ] || { echo "Error response from daemon: manifest for $ref not found: manifest unknown: manifest unknown" >&2; exit 1; }
    read -r id digest <"$f"
    h=${id#sha256:}
    mkdir -p "$S/images/$h"
    touch "$S/images/$h/refs" "$S/images/$h/digests"
    case $ref in *@*) ;; *) grep -qxF "$ref" "$S/images/$h/refs" || echo "$ref" >>"$S/images/$h/refs" ;; esac
    grep -qxF "$digest" "$S/images/$h/digests" || echo "$digest" >>"$S/images/$h/digests"
    echo "Digest: ${digest#*@}"
    echo "Status: Downloaded newer image for $ref" ;;
  image)
    sub=$1; shift
    case $sub in
      inspect)
        format=
        [ "$1" = --format ] && { format=$2; shift 2; }
        h=$(resolve "$1") || { echo "Error: No such image: $1" >&2; exit 1; }
        case $format in
          '') echo '[{}]' ;;
          *RepoTags*) cat "$S/images/$h/digests" "$S/images/$h/refs" ;;
          *RepoDigests*) printf 'sha256:%s' "$h"; while read -r d; do printf ' %s' "$d"; done <"$S/images/$h/digests"; echo ;;
          *ExposedPorts*) [ -f "$S/exposed/$h" ] && while read -r p; do printf '%s ' "$p"; done <"$S/exposed/$h"; echo ;;
          *) echo "fake docker: image inspect format not known: $format" >&2; exit 2 ;;
        esac ;;
      rm)
        status=0
        for n; do
          h=$(resolve "$n") || { echo "Error response from daemon: No such image: $n" >&2; status=1; continue; }
          if in_use "$h"; then echo "Error response from daemon: conflict: unable to remove $n: image is being used" >&2; status=1; continue; fi
          case $n in
            sha256:*) rm -rf "$S/images/$h"; echo "Deleted: $n" ;;
            *)
              for l in refs digests; do grep -vxF "$n" "$S/images/$h/$l" >"$S/images/$h/$l.new"; mv "$S/images/$h/$l.new" "$S/images/$h/$l"; done
              echo "Untagged: $n"
              [ -s "$S/images/$h/refs" ] || [ -s "$S/images/$h/digests" ] || { rm -rf "$S/images/$h"; echo "Deleted: sha256:$h"; } ;;
          esac
        done
        exit $status ;;
      *) echo "fake docker: image $sub not known" >&2; exit 2 ;;
    esac ;;
  container)
    sub=$1; shift
    [ "$sub" = inspect ] || { echo "fake docker: container $sub not known" >&2; exit 2; }
    format=
    [ "$1" = --format ] && { format=$2; shift 2; }
    case $format in
      # A compose project's containers, any number of them (compose/program.ts).
      '{{index .Config.Labels "com.docker.compose.service"}} {{.Name}} '*)
        for n; do
          container "$n"
          health=none
          [ -f "$c/health" ] && health=$(field health)
          echo "$(label com.docker.compose.service) /$n $(field status) $health $(field exitcode) $(field config) id-$n"
        done
        exit 0 ;;
    esac
    container "$1"
    health=none
    [ -f "$c/health" ] && health=$(field health)
    case $format in
      '{{.Image}} {{.State.Status}} '*) l=$(label slipway.image); echo "$(field image) $(field status) ${l:--} $(field config)" ;;
      '{{.State.Status}} {{index .Config.Labels '*) echo "$(field status) $(label "$(label_in "$format")")" ;;
      '{{index .Config.Labels '*) label "$(label_in "$format")" ;;
      '{{.RestartCount}} '*) if [ -f "$c/health" ]; then echo "$(field restarts) docker"; else echo "$(field restarts) none"; fi ;;
      '{{.State.Status}} {{.RestartCount}}'*) echo "$(field status) $(field restarts) $(field exitcode) $health" ;;
      '{{.State.Status}}') field status ;;
      '{{.State.Running}}') if [ "$(field status)" = running ]; then echo true; else echo false; fi ;;
      # No process runs behind a fake container, so none has connections in flight.
      *'{{.State.Pid}}'*) echo 0 ;;
      *'{{.IPAddress}}'*) echo 172.18.0.9 ;;
      '{{.Id}}') echo "id-$1" ;;
      *Health.Log*) echo "probe said no" ;;
      '') echo '[{}]' ;;
      *) echo "fake docker: container inspect format not known: $format" >&2; exit 2 ;;
    esac ;;
  inspect)
    while [ "$1" = --type ] || [ "$1" = --format ]; do shift 2; done
    for n; do container "$n"; field image; done ;;
  ps)
    # --all, --quiet, --no-trunc and --format '{{.Names}}' all come to names here; --filter label=K=V.
    filters=
    while [ $# -gt 0 ]; do
      case $1 in --filter) filters="$filters ${2#label=}"; shift 2 ;; *) shift ;; esac
    done
    for d in "$S"/containers/*; do
      [ -d "$d" ] || continue
      ok=1
      for f in $filters; do grep -qxF "$f" "$d/labels" 2>/dev/null || ok=; done
      [ -n "$ok" ] && basename "$d"
    done ;;
  network)
    sub=$1; shift
    mkdir -p "$S/networks"
    case $sub in
      inspect) [ -f "$S/networks/$1" ] || { echo "Error response from daemon: network $1 not found" >&2; exit 1; }; echo '[{}]' ;;
      create) : >"$S/networks/$1"; echo "net-$1" ;;
      connect)
        [ -f "$S/networks/$1" ] || { echo "Error response from daemon: network $1 not found" >&2; exit 1; }
        container "$2" ;;
      *) echo "fake docker: network $sub not known" >&2; exit 2 ;;
    esac ;;
  run)
    name= envfile= oneoff= labels= volumes=
    while [ $# -gt 0 ]; do
      case $1 in
        --name) name=$2; shift 2 ;;
        --env-file) envfile=$2; shift 2 ;;
        --label) labels="$labels$2
"; shift 2 ;;
        --volume) volumes="$volumes$2
"; shift 2 ;;
        --restart | --publish | --network | --network-alias | --memory) shift 2 ;;
        --detach | --init) shift ;;
        --rm) oneoff=1; shift ;;
        --*=*) shift ;;
        --*) echo "fake docker: run option $1 not known" >&2; exit 2 ;;
        *) break ;;
      esac
    done
    image=$1; shift
    h=$(resolve "$image") || { echo "Unable to find image '$image' locally" >&2; echo "docker: Error response from daemon: pull access denied for $image" >&2; exit 125; }
    if [ -n "$oneoff" ]; then
      # A one-off container says what it ran and with which env, then exits as the test set.
      echo "$* with env $([ -n "$envfile" ] && tr '\n' ' ' <"$envfile" | sed 's/ $//')"
      exit "$(cat "$S/one-off-exit" 2>/dev/null || echo 0)"
    fi
    [ -d "$S/containers/$name" ] && { echo "docker: Error response from daemon: Conflict. The container name \"/$name\" is already in use." >&2; exit 125; }
    c="$S/containers/$name"
    mkdir -p "$c"
    echo "sha256:$h" >"$c/image"; echo running >"$c/status"; echo "$image" >"$c/config"
    printf '%s' "$labels" >"$c/labels"; printf '%s' "$volumes" >"$c/volumes"
    echo 0 >"$c/restarts"; echo 0 >"$c/exitcode"
    printf '%s\n' "$envfile" >"$c/envfile"
    [ -n "$envfile" ] && cp "$envfile" "$c/env"
    if [ -f "$S/logs/$h" ]; then cp "$S/logs/$h" "$c/logs"; else printf 'started %s\n' "$name" >"$c/logs"; fi
    # An image the test made exit at once: the container stops with its code before any health check.
    [ -f "$S/exits/$h" ] && { echo exited >"$c/status"; cp "$S/exits/$h" "$c/exitcode"; }
    echo "c0ffee$h" | cut -c1-64 ;;
  exec)
    container "$1"
    [ "$(field status)" = running ] || { echo "Error response from daemon: container $1 is not running" >&2; exit 1; }
    shift
    [ "$1 $2 $3" = "caddy reload --config" ] || { echo "fake docker: exec $* not known" >&2; exit 2; }
    # The Caddyfile as the host holds it, through the container's volumes; each reload keeps a copy.
    file=
    while IFS=: read -r source target _; do
      case $4 in "$target"/*) file="$source${4#"$target"}" ;; esac
    done <"$c/volumes"
    [ -f "$file" ] || { echo "Error: reading config file: open $4: no such file or directory" >&2; exit 1; }
    { cat "$file"; echo '----'; } >>"$S/reloads" ;;
  stop) container "$1"; echo exited >"$c/status"; echo "$1" ;;
  start) container "$1"; echo running >"$c/status"; echo "$1" ;;
  rename)
    container "$1"
    [ -d "$S/containers/$2" ] && { echo "Error response from daemon: Conflict. The container name \"/$2\" is already in use." >&2; exit 1; }
    mv "$c" "$S/containers/$2" ;;
  rm)
    force=
    [ "$1" = --force ] && { force=1; shift; }
    container "$1"
    [ -z "$force" ] && [ "$(field status)" = running ] && { echo "Error response from daemon: cannot remove a running container" >&2; exit 1; }
    rm -rf "$c"; echo "$1" ;;
  logs)
    [ "$1" = --tail ] && shift 2
    container "$1"
    cat "$c/logs" ;;
  *) echo "fake docker: $cmd not known" >&2; exit 2 ;;
esac
