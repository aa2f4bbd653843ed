#!/usr/bin/env bash
# Regenerates src/gen (TypeScript, and descriptors.binpb with the proto comments, which the
# OpenAPI document reads) from proto/ and fails if that changed anything: generated code is an
# artifact of the proto, never edited by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent generate
if [ -n "$(git status --porcelain -- src/gen)" ]; then
  echo "src/gen differs from what proto/ generates; run 'npm run generate' and commit:" >&2
  git status --porcelain -- src/gen >&2
  exit 1
fi
echo "src/gen matches proto/"
