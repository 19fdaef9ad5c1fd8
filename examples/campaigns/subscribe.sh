#!/usr/bin/env bash
# Subscribe your receiver in the campaigns style: POSTs subscribe.json (next to this script)
# to hookkit, its target URL replaced by TARGET_URL and its secret by WEBHOOK_SECRET
# (your own, 24 characters or more; unset: hookkit makes one).
#
#   KEY=<api key> TARGET_URL=https://… [HOOKKIT_URL=http://127.0.0.1:8000] ./subscribe.sh
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../subscribe.sh" "$here" "https://api.example.com/webhooks/campaign-events"
