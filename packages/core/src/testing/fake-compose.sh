#!/bin/sh
# A fake `docker-compose` (v1, the standalone binary) for tests of compose/program.ts, beside
# fake-docker.sh and sharing its state directory $S: `up` makes the project's containers there as
# `docker run` would, so the fake docker's `ps` and `container inspect` find them by their labels.
# Each service's image comes from the override file (the `images` input), else `<service>-built`;
# how its container turns out (status, health, exit code) is $S/compose-health/<image>, else
# running and healthy. The services are those of $S/compose-services, a line each.
S=__STATE__
printf '%s\n' "$*" >>"$S/compose-argv.log"
project= files= envfile=
while :; do
  case ${1:-} in
    --project-name) project=$2; shift 2 ;;
    --file) files="$files $2"; shift 2 ;;
    --env-file) envfile=$2; shift 2 ;;
    *) break ;;
  esac
done
enc() { printf '%s' "$1" | tr '/:@' '___'; }
# The image the override gives SERVICE, if any.
override_image() {
  for f in $files; do
    case $f in *override.yml) sed -n "/^  $1:/,/^  [^ ]/s/^    image: \"\\(.*\\)\"/\\1/p" "$f" ;; esac
  done | tail -n 1
}
cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  version) cat "$S/compose-version" 2>/dev/null || echo 1.29.2 ;;
  config)
    [ -f "$S/compose-config-fails" ] && { echo "ERROR: The Compose file is invalid because: services.app.ports is invalid" >&2; exit 1; }
    [ -n "$envfile" ] && cp "$envfile" "$S/compose-env-seen"
    # Not merged: the first file stands for the project's services, which is what the runner reads.
    set -- $files
    cat "$1" ;;
  pull)
    printf '%s\n' "${DOCKER_CONFIG:-}" >"$S/compose-pull-config"
    [ -n "${DOCKER_CONFIG:-}" ] && [ -f "$DOCKER_CONFIG/config.json" ] || { echo "ERROR: pull access denied" >&2; exit 1; }
    for svc; do echo "Pulling $svc ... done"; done ;;
  up)
    while [ "${1:-}" ] && [ "${1#-}" != "$1" ]; do shift; done
    while read -r svc; do
      [ -n "$svc" ] || continue
      image=$(override_image "$svc")
      [ -n "$image" ] || image="$svc-built"
      c="$S/containers/${project}_${svc}_1"
      rm -rf "$c"
      mkdir -p "$c"
      printf 'com.docker.compose.project=%s\ncom.docker.compose.service=%s\ncom.docker.compose.oneoff=False\n' "$project" "$svc" >"$c/labels"
      echo "$image" >"$c/config"; echo "sha256:$(enc "$image")" >"$c/image"; echo 0 >"$c/restarts"; : >"$c/envfile"
      set -- running healthy 0
      [ -f "$S/compose-health/$(enc "$image")" ] && set -- $(cat "$S/compose-health/$(enc "$image")")
      echo "$1" >"$c/status"; echo "$3" >"$c/exitcode"
      [ "$2" = none ] || echo "$2" >"$c/health"
      echo "$svc from $image" >"$c/logs"
      echo "Creating ${project}_${svc}_1 ... done"
    done <"$S/compose-services"
    [ -f "$S/compose-up-fails" ] && { echo "ERROR: for app  Cannot start service app: port is already allocated" >&2; exit 1; }
    exit 0 ;;
  logs)
    while [ "${1:-}" ] && [ "${1#-}" != "$1" ]; do case $1 in --tail) shift 2 ;; *) shift ;; esac; done
    for svc; do cat "$S/containers/${project}_${svc}_1/logs" 2>/dev/null; done ;;
  *) echo "fake docker-compose: $cmd not known" >&2; exit 2 ;;
esac
