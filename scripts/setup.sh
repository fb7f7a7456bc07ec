#!/usr/bin/env bash
# Everything a fresh Debian (or Ubuntu) machine needs to run Slipway's pipeline and tests:
# Debian's docker, docker-compose v1, registry, sshd, busybox and debootstrap; pnpm; the workspace's
# dependencies from the lockfile; and the sandbox (test/sandbox/up.sh). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=12.21.0
APT_PACKAGES=(docker.io docker-compose docker-registry openssh-server busybox-static debootstrap apache2-utils iproute2 iptables openssl curl ca-certificates git cmark-gfm caddy)

fail() { echo "setup: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (sudo bash $0): it installs Debian packages and starts dockerd, sshd and a registry."
command -v apt-get >/dev/null || fail "needs a Debian or Ubuntu machine (apt-get); this one has none."
command -v node >/dev/null || fail "needs Node.js 20 or newer on PATH (Debian: apt-get install nodejs npm)."

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm $PNPM_VERSION"
  npm install --global --silent "pnpm@$PNPM_VERSION" >/dev/null
fi

pnpm install --frozen-lockfile --reporter=silent
bash test/sandbox/up.sh "$@"
