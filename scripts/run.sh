#!/usr/bin/env bash
# `make run`: the default profile (created on first use; provider `local`, so it answers with no
# API key), then the supervisor in the foreground. The URL, the key and a curl line are printed
# once the default profile answers (its gateway is `running` only when the bundled model server
# is ready too), so the banner's curl works at once. Ctrl-C stops everything.
set -euo pipefail
HERMES="${HERMES:-.venv/bin/hermes}"
PY="${PY:-.venv/bin/python}"
"$HERMES" profile list >/dev/null          # creates the default profile on first use
url=$("$HERMES" -p default profile show --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["url"])')
key=$("$HERMES" -p default config get API_SERVER_KEY --reveal)
model=$("$HERMES" -p default config get model.provider)

"$HERMES" up &
up=$!
trap 'kill -TERM "$up" 2>/dev/null; wait "$up"; exit 130' INT TERM
trap 'kill -TERM "$up" 2>/dev/null || true' EXIT  # never leave the supervisor behind

state() {  # the default profile's state; exit 3 (no supervisor yet) is an answer too
  { "$HERMES" -p default status --json 2>/dev/null || true; } |
    "$PY" -c 'import json,sys; g=json.load(sys.stdin)["gateways"]; print(g[0]["state"] if g else "")' 2>/dev/null ||
    true
}
while :; do
  now=$(state)
  [ "$now" = running ] && break
  if [ "$now" = fatal ]; then
    echo "hermes: the default profile failed to start; see \`$HERMES status\`" >&2
    wait "$up"; exit $?
  fi
  kill -0 "$up" 2>/dev/null || { wait "$up"; exit $?; }
  sleep 0.2
done
cat <<INFO
hermes: the default profile (provider: $model) answers at $url
  API key: $key
  try:     curl -s $url/chat/completions -H "Authorization: Bearer $key" \\
             -H 'Content-Type: application/json' \\
             -d '{"model": "hermes-agent", "messages": [{"role": "user", "content": "Hello!"}]}'
  status:  $HERMES status      (Ctrl-C here stops everything)
INFO
wait "$up"
