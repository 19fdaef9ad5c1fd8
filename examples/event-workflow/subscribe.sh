#!/usr/bin/env bash
# Subscribe your receiver in the event-workflow style: POSTs subscribe.json (next to this script)
# to hookkit, its target URL replaced by TARGET_URL.
#
#   KEY=<api key> TARGET_URL=https://… [HOOKKIT_URL=http://127.0.0.1:8000] ./subscribe.sh
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../subscribe.sh" "$here" "https://crm.example/hooks/event-survey"
