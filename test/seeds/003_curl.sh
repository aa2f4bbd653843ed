#!/usr/bin/env bash
# Seed 003 (UContact), "Using Authentication": the document's curl line, as written.
set -euo pipefail # changed: a script, run by the test
: "${BASE_URL:?}" "${ACCESS_TOKEN:?}" # changed: where the service is, and the token its login gave
# changed: -s; the token is the one its login answered, where the document shows
# "eyJ0eXAiOiJKV1QiLCJhbGc..."; the base URL was http://localhost:8000, and /api/contacts (a
# business route of theirs) is /v1/auth/me, a protected route of ours.
curl -s -H "Authorization: Bearer $ACCESS_TOKEN" "$BASE_URL/v1/auth/me"
