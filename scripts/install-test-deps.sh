#!/usr/bin/env bash
# Installs, from Debian's packages, what the test suite runs against when it is missing:
# PostgreSQL and Redis (started by the tests themselves, ephemeral, on free ports; Redis also as a
# Cluster, with redis-cli creating it, and as a Sentinel group, `redis-server --sentinel`) and
# docker-compose v1 (only to validate docker-compose.yml; no Docker engine is needed), curl (the
# README's and the seed APIs' curl lines are run as written), python3-requests (the seed APIs'
# Python clients are run as written, with Debian's /usr/bin/python3), and python3-grpcio with
# protoc and its gRPC Python plugin (a Python gRPC client generated from proto/ is tested),
# python3-jwt, python3-fastapi, python3-sqlalchemy and python3-uvicorn (VidaPlus's own server code,
# its get_current_user, verifies our legacy tokens in a FastAPI app on SQLite),
# openssl (the TLS tests make their own certificate) and Chromium (the client package's browser
# bundle, CORS and the pages are tested in a real browser, driven by playwright-core; the
# registry's own browser downloads are not reachable from our machines).
# Idempotent and quick when everything is present. Called by test/global-setup.ts.
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v curl >/dev/null || missing+=(curl)
/usr/bin/python3 -c "import requests" 2>/dev/null || missing+=(python3-requests)
/usr/bin/python3 -c "import grpc, google.protobuf" 2>/dev/null || missing+=(python3-grpcio python3-protobuf)
/usr/bin/python3 -c "import jwt, fastapi, sqlalchemy, uvicorn" 2>/dev/null || missing+=(python3-jwt python3-fastapi python3-sqlalchemy python3-uvicorn)
command -v protoc >/dev/null || missing+=(protobuf-compiler)
[ -x /usr/bin/grpc_python_plugin ] || missing+=(protobuf-compiler-grpc)
command -v openssl >/dev/null || missing+=(openssl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-test-deps: need root or sudo to apt-get install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi

# Keep the packages' init scripts from starting system-wide PostgreSQL or Redis services: the
# tests start their own servers, and nothing should be left running on the default ports.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

echo "install-test-deps: installing ${missing[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
