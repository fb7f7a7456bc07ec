#!/bin/sh
# A fake `docker` for tests of host programs (see fake-docker.ts, which installs it with S set to its
# state directory): images, containers and the registry are files under $S, and each argv is logged.
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
    container "$1"
    health=none
    [ -f "$c/health" ] && health=$(field health)
    case $format in
      *Config.Labels*) echo "$(field image) $(field status) $(field label) $(field config)" ;;
      '{{.RestartCount}} '*) if [ -f "$c/health" ]; then echo "$(field restarts) docker"; else echo "$(field restarts) none"; fi ;;
      '{{.State.Status}} {{.RestartCount}}'*) echo "$(field status) $(field restarts) $(field exitcode) $health" ;;
      '{{.State.Status}}') field status ;;
      '{{.Id}}') echo "id-$1" ;;
      *Health.Log*) echo "probe said no" ;;
      '') echo '[{}]' ;;
      *) echo "fake docker: container inspect format not known: $format" >&2; exit 2 ;;
    esac ;;
  inspect)
    while [ "$1" = --type ] || [ "$1" = --format ]; do shift 2; done
    for n; do container "$n"; field image; done ;;
  ps)
    ls "$S/containers" ;;
  run)
    name= envfile= label=-
    while [ $# -gt 1 ]; do
      case $1 in
        --name) name=$2; shift 2 ;;
        --env-file) envfile=$2; shift 2 ;;
        --label) case $2 in slipway.image=*) label=${2#slipway.image=} ;; esac; shift 2 ;;
        --restart|--publish|--volume|--network) shift 2 ;;
        *) shift ;;
      esac
    done
    h=$(resolve "$1") || { echo "Unable to find image '$1' locally" >&2; echo "docker: Error response from daemon: pull access denied for $1" >&2; exit 125; }
    [ -d "$S/containers/$name" ] && { echo "docker: Error response from daemon: Conflict. The container name \"/$name\" is already in use." >&2; exit 125; }
    c="$S/containers/$name"
    mkdir -p "$c"
    echo "sha256:$h" >"$c/image"; echo running >"$c/status"; echo "$label" >"$c/label"; echo "$1" >"$c/config"
    echo 0 >"$c/restarts"; echo 0 >"$c/exitcode"
    printf '%s\n' "$envfile" >"$c/envfile"
    [ -n "$envfile" ] && cp "$envfile" "$c/env"
    if [ -f "$S/logs/$h" ]; then cp "$S/logs/$h" "$c/logs"; else printf 'started %s\n' "$name" >"$c/logs"; fi
    echo "c0ffee$h" | cut -c1-64 ;;
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
