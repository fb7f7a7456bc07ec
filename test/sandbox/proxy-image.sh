#!/usr/bin/env bash
# Writes the build context of the test proxy image into DIR: Debian's caddy (2.6, installed by
# scripts/setup.sh) with exactly the libraries `ldd` lists and the loader, FROM scratch. No image can
# be pulled here, and the official caddy:2 image is what users give as `proxy-image`: this one takes
# its place with the same command (`caddy` on PATH) and the same XDG directories (/config, /data).
# Usage: test/sandbox/proxy-image.sh DIR   (then `docker build DIR`; test/e2e/support/proxy.ts pushes it)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

dir=${1:?usage: proxy-image.sh DIR}
caddy=$(command -v caddy) || fail "" "caddy is not installed: apt-get install -y caddy (scripts/setup.sh does)"
mkdir -p "$dir/root/usr/bin" "$dir/root/config" "$dir/root/data" "$dir/root/tmp"
cp "$caddy" "$dir/root/usr/bin/caddy"
# `ldd` prints "name => /path (addr)" for libraries and "/path (addr)" for the loader; the vdso has no file.
ldd "$caddy" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
  mkdir -p "$dir/root$(dirname "$lib")"
  cp -L "$lib" "$dir/root$lib"
done
chmod 1777 "$dir/root/tmp"
cat >"$dir/Dockerfile" <<'EOF'
FROM scratch
COPY root/ /
ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data PATH=/usr/bin
EXPOSE 80 443 2019
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
EOF
log "$dir"
