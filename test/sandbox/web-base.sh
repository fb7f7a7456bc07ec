#!/usr/bin/env bash
# Builds slipway-sandbox/web-base:1 on the runner engine, once: Debian bookworm (minbase) with
# nginx-light and Node.js, the base of the seeds' stack (nginx in front of a Node app) in
# examples/web and test/fixtures/compose-app. No image can be pulled, so the root filesystem comes
# from debootstrap against the Debian mirror this machine's apt already uses, then `docker import`.
# Usage: sudo test/sandbox/web-base.sh [IMAGE]   (IMAGE: lib.sh's WEB_BASE_IMAGE by default; about
# 2 min the first time, at once when the image exists)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

WEB_BASE_IMAGE=${1:-$WEB_BASE_IMAGE}
SUITE=bookworm
WEB_BASE_DIR=$SANDBOX_DIR/web-base
BUILD_LOG=$WEB_BASE_DIR/build.log

web_base_present() { runner_docker image inspect "$WEB_BASE_IMAGE" >/dev/null 2>&1; }

# The first URI in apt's sources serving $SUITE, else the first Debian archive (a path ending in
# /debian): the mirror this machine can reach, whatever it is, and no host name kept here. The
# security archive is left out: it holds only the updates, not a suite debootstrap can start from.
debian_mirror() {
  local files=() f
  [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
  # In apt's order: the directory's files by name, whichever their style.
  for f in /etc/apt/sources.list.d/*; do
    case $f in *.list | *.sources) [ -f "$f" ] && files+=("$f") ;; esac
  done
  ((${#files[@]})) || return 1
  awk -v suite="$SUITE" '
    function candidate(uri, suites,   n, s, i) {
      if (uri == "" || uri ~ /security/) return
      n = split(suites, s, /[ \t]+/)
      for (i = 1; i <= n; i++) if (s[i] == suite) { print 1, uri; return }
      if (uri ~ /\/debian\/?$/) print 2, uri
    }
    # deb822 (*.sources): one stanza per paragraph; only its first URI is kept.
    function stanza_end() {
      if (deb && enabled) { split(uris, u, /[ \t]+/); candidate(u[1], suites) }
      deb = 0; enabled = 1; uris = ""; suites = ""
    }
    FNR == 1 { stanza_end(); deb822 = FILENAME ~ /\.sources$/ }
    deb822 && /^[ \t]*$/ { stanza_end(); next }
    deb822 && /^[A-Za-z-]+:/ {
      field = tolower(substr($0, 1, index($0, ":"))); value = $0; sub(/^[^:]*:[ \t]*/, "", value)
      if (field == "types:") deb = (" " value " ") ~ /[ \t]deb[ \t]/
      else if (field == "uris:") uris = value
      else if (field == "suites:") suites = value
      else if (field == "enabled:") enabled = tolower(value) != "no"
      next
    }
    # One-line style (*.list): deb [options] uri suite components...
    !deb822 && $1 == "deb" { line = $0; gsub(/\[[^]]*\]/, "", line); split(line, w, /[ \t]+/); candidate(w[2], w[3]) }
    END { stanza_end() }
  ' "${files[@]}" | sort -s -n -k1,1 | awk 'NR == 1 { print $2 }'
}

# debootstrap mounts /proc and /sys in the target while it installs; a failed run can leave them.
rootfs_remove() {
  local root=$1 mnt
  [ -d "$root" ] || return 0
  awk -v root="$root" '$2 == root || index($2, root "/") == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r mnt; do umount -l "$mnt" || true; done
  rm -rf --one-file-system "$root"
}

web_base_present && exit 0
[ "$(id -u)" = 0 ] || fail "" "web-base.sh needs root (debootstrap, apt-get)"
mkdir -p "$WEB_BASE_DIR"
# Test workers may run this at once: one builds, the others wait and find the image.
exec 8>"$WEB_BASE_DIR/lock"
flock -w 600 8 || fail "" "another web-base.sh holds $WEB_BASE_DIR/lock"
web_base_present && exit 0

started=$SECONDS
# A run killed mid-way leaves its tree; the lock says no other run is using one.
for old in "$WEB_BASE_DIR"/rootfs.*; do rootfs_remove "$old"; done
: >"$BUILD_LOG"
if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >>"$BUILD_LOG" 2>&1 ||
    fail "$BUILD_LOG" "apt-get install debootstrap failed"
fi
# SLIPWAY_DEBIAN_MIRROR: for machines whose apt has no Debian archive (an Ubuntu runner).
mirror=${SLIPWAY_DEBIAN_MIRROR:-$(debian_mirror || true)}
[ -n "$mirror" ] ||
  fail "" "no Debian mirror serving $SUITE in /etc/apt/sources.list{,.d/*.list,.d/*.sources}: set SLIPWAY_DEBIAN_MIRROR"

root=$(mktemp -d "$WEB_BASE_DIR/rootfs.XXXXXX")
trap 'rootfs_remove "$root"' EXIT
log "debootstrap $SUITE (minbase, nginx-light, nodejs) from $mirror"
debootstrap --variant=minbase --include=nginx-light,nodejs "$SUITE" "$root" "$mirror" >>"$BUILD_LOG" 2>&1 ||
  fail "$BUILD_LOG" "debootstrap failed (log: $BUILD_LOG)"

# Cheap savings: the downloaded .debs, package lists, docs, man pages, translations (34 MB) and
# the installers' logs.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
  "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/var/cache/debconf/*-old
# Our sites go in conf.d; Debian's default site would also claim port 80 and answer unknown hosts.
rm -f "$root"/etc/nginx/sites-enabled/default
# As the official nginx image does: requests and errors reach `docker logs` and compose's logs.
ln -sf /dev/stdout "$root"/var/log/nginx/access.log
ln -sf /dev/stderr "$root"/var/log/nginx/error.log

tar --numeric-owner -C "$root" -c . |
  runner_docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    - "$WEB_BASE_IMAGE" >>"$BUILD_LOG" 2>&1 ||
  fail "$BUILD_LOG" "docker import $WEB_BASE_IMAGE failed"

size=$(runner_docker image inspect -f '{{.Size}}' "$WEB_BASE_IMAGE")
log "$WEB_BASE_IMAGE built in $((SECONDS - started))s, $((size / 1000000)) MB"
