#!/usr/bin/env bash
# Installs what `npm run bench` needs beyond the test suite's servers: h2load (Debian's
# nghttp2-client) to load the gRPC port, and wrk to load the HTTP/1.1 port.
set -euo pipefail
bash "$(dirname "$0")/install-test-deps.sh"
missing=()
command -v h2load >/dev/null || missing+=(nghttp2-client)
command -v wrk >/dev/null || missing+=(wrk)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
echo "install-bench-deps: installing ${missing[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
