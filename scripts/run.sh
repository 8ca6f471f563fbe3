#!/usr/bin/env bash
# `make run`: the default profile (created on first use; provider `local`, so it answers with no
# API key), then the supervisor in the foreground. Prints the URL, the key and a curl line first.
set -euo pipefail
HERMES="${HERMES:-.venv/bin/hermes}"
"$HERMES" profile list >/dev/null          # creates the default profile on first use
url=$("$HERMES" -p default profile show --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["url"])')
key=$("$HERMES" -p default config get API_SERVER_KEY --reveal)
model=$("$HERMES" -p default config get model.provider)
cat <<INFO
hermes: the default profile (provider: $model) will answer at $url
  API key: $key
  try:     curl -s $url/chat/completions -H "Authorization: Bearer $key" \\
             -H 'Content-Type: application/json' \\
             -d '{"model": "hermes-agent", "messages": [{"role": "user", "content": "Hello!"}]}'
  status:  $HERMES status      (Ctrl-C here stops everything)
INFO
exec "$HERMES" up
