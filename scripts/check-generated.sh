#!/usr/bin/env bash
# Regenerates src/gen from proto/ and fails if that changed anything: generated code is an
# artifact of the proto, never edited by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
npx buf generate
if [ -n "$(git status --porcelain -- src/gen)" ]; then
  echo "src/gen differs from what proto/ generates; run 'npm run generate' and commit:" >&2
  git status --porcelain -- src/gen >&2
  exit 1
fi
echo "src/gen matches proto/"
