#!/usr/bin/env bash
# Subscribe your receiver in the campaigns style: POSTs subscribe.json (next to this
# script) to hookkit, its target URL replaced by TARGET_URL and its secret by
# WEBHOOK_SECRET (your own, 24 characters or more; unset: hookkit makes one).
#
#   KEY=<api key> TARGET_URL=https://… [HOOKKIT_URL=http://127.0.0.1:8000] ./subscribe.sh
#
# The answer is the hook as JSON, with its secret (shown this once: store it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${KEY:?set KEY to an API key: python -m connector keys create ACCOUNT}"
: "${TARGET_URL:?set TARGET_URL to the URL of your receiver}"
body=$(<"$here/subscribe.json")
body=${body//"https://api.example.com/webhooks/campaign-events"/"$TARGET_URL"}
body=${body//"<your own secret>"/"${WEBHOOK_SECRET:-}"}
curl -sS -X POST "${HOOKKIT_URL:-http://127.0.0.1:8000}/v1/hooks" \
  -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary "$body"
echo
