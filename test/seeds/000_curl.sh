#!/usr/bin/env bash
# Seed 000 (VidaPlus): the document's curl lines ("Getting an Access Token", "Using the Access
# Token", "Refreshing Tokens"), as written, one after the other, each printing its answer on a line.
set -euo pipefail # changed: a script, run by the test
# changed: the base URLs were https://api.vidaplus.com: BASE_URL is this service, BACKEND_URL
# VidaPlus's own backend (test/seeds/000_backend.py), where its business routes live.
: "${BASE_URL:?}" "${BACKEND_URL:?}"
json() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])"; } # changed: reads the token for the next line

# Getting an Access Token
# changed: -s, and the answer kept for the next line
token_response=$(curl -s -X POST "$BASE_URL/auth/token" \
-H "Content-Type: application/x-www-form-urlencoded" \
-d "username=user@example.com&password=yourpassword")
echo "$token_response" # changed: printed for the test

# Using the Access Token
# changed: -s and -w (the status, for the test); the token is the one just obtained, where the
# document shows "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."
curl -s -w '\n%{http_code}\n' -X GET "$BACKEND_URL/pacientes/" \
-H "Authorization: Bearer $(echo "$token_response" | json)"

# Refreshing Tokens
# changed: -s, and the current token where the document says "your_current_token"
curl -s -X POST "$BASE_URL/auth/refresh_token" \
-H "Authorization: Bearer $(echo "$token_response" | json)"
echo # changed: ends the line
