#!/usr/bin/env bash
# Shared by every example's subscribe.sh: POSTs STYLE_DIR/subscribe.json to hookkit with its
# example target URL (PLACEHOLDER_URL) replaced by TARGET_URL, and a "<your own secret>"
# placeholder, where the style has one, by WEBHOOK_SECRET (unset: hookkit makes a secret).
#
#   KEY=<api key> TARGET_URL=https://… [HOOKKIT_URL=http://127.0.0.1:8000] \
#     examples/subscribe.sh STYLE_DIR PLACEHOLDER_URL
#
# The answer is the hook as JSON, with its secret (shown this once: store it).
set -euo pipefail
style_dir=$1 placeholder=$2
: "${KEY:?set KEY to an API key: python -m connector keys create ACCOUNT}"
: "${TARGET_URL:?set TARGET_URL to the URL of your receiver}"
body=$(<"$style_dir/subscribe.json")
body=${body//"$placeholder"/"$TARGET_URL"}
body=${body//"<your own secret>"/"${WEBHOOK_SECRET:-}"}
curl -sS -X POST "${HOOKKIT_URL:-http://127.0.0.1:8000}/v1/hooks" \
  -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary "$body"
echo
