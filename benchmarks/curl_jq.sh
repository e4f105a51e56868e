#!/usr/bin/env bash
# What a user might write instead of `usage export x.jsonl`: a curl + jq cursor loop.
#
# One curl and two jq processes a page; no retries, no validation, no checkpoint,
# no manifest. benchmarks/bench.py times it against `usage export`.
# Usage: benchmarks/curl_jq.sh API_URL TOKEN OUTFILE
set -euo pipefail
url="$1/api/v1/usage/list"
token="$2"
out="$3"
: >"$out"
cursor=""
while :; do
  page=$(curl -sfG -H "Authorization: Bearer $token" --data-urlencode "take=100" \
    ${cursor:+--data-urlencode "cursor=$cursor"} "$url")
  jq -c '.items[]' <<<"$page" >>"$out"
  cursor=$(jq -r 'if (.items | length) > 0 then .cursor // empty else empty end' <<<"$page")
  [ -n "$cursor" ] || break
done
