#!/usr/bin/env bash
# Regenerates src/gen (TypeScript, and descriptors.binpb with the proto comments, which the
# OpenAPI document reads) and packages/client/src/gen (the client package's copy) from proto/ and
# fails if that changed anything: generated code is an artifact of the proto, never edited by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent generate
if [ -n "$(git status --porcelain --untracked-files=all -- src/gen packages/client/src/gen)" ]; then
  echo "src/gen or packages/client/src/gen differs from what proto/ generates; run 'npm run generate' and commit:" >&2
  git status --porcelain --untracked-files=all -- src/gen packages/client/src/gen >&2
  exit 1
fi
echo "src/gen and packages/client/src/gen match proto/"
# The Unicode tables of the identifier profile, from the files vendored in third_party/unicode/.
npm run --silent generate:unicode >/dev/null
if [ -n "$(git status --porcelain -- src/domain/unicode-data.ts)" ]; then
  echo "src/domain/unicode-data.ts differs from what third_party/unicode/ generates; run 'npm run generate:unicode' and commit" >&2
  exit 1
fi
echo "src/domain/unicode-data.ts matches third_party/unicode/"
