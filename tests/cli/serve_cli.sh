#!/usr/bin/env bash
# `scanlab serve` as a process: start it on a free port (--port 0; the port is read from its first
# line), ask GET /health and one completion over bash's /dev/tcp (no curl needed), stop it with
# SIGTERM and expect a clean exit. Usage: serve_cli.sh SCANLAB CHECKPOINT
set -uo pipefail
SCANLAB=$1
CHECKPOINT=$2
LOG=$(mktemp)
"$SCANLAB" --threads 1 serve --checkpoint "$CHECKPOINT" --port 0 >"$LOG" 2>&1 &
PID=$!
trap 'kill -9 "$PID" 2>/dev/null; rm -f "$LOG"' EXIT
fail() { echo "FAIL: $*"; echo "--- server log"; cat "$LOG"; exit 1; }

PORT=""
for _ in $(seq 1 600); do  # at most 60 s to load the model and bind
  PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$LOG")
  [[ -n "$PORT" ]] && break
  kill -0 "$PID" 2>/dev/null || fail "the server exited before listening"
  sleep 0.1
done
[[ -n "$PORT" ]] || fail "no 'listening on' line after 60 s"

request() {  # METHOD PATH BODY -> the whole HTTP response
  exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
  printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
    "$1" "$2" "${#3}" "$3" >&3
  timeout 60 cat <&3
  exec 3<&-
}

HEALTH=$(request GET /health "") || fail "GET /health: no connection"
grep -q '"status":"ok"' <<<"$HEALTH" || fail "GET /health: $HEALTH"
REPLY=$(request POST /v1/completions '{"prompt": "The scan", "max_tokens": 5, "temperature": 0}') || fail "POST: no connection"
grep -q '"completion_tokens":5' <<<"$REPLY" || fail "POST /v1/completions: $REPLY"
BAD=$(request POST /v1/completions '{"prompt": "x", "bogus": 1}') || fail "POST: no connection"
grep -q "HTTP/1.1 400" <<<"$BAD" || fail "a bad request was not a 400: $BAD"

kill -TERM "$PID"
wait "$PID"
RC=$?
[[ $RC -eq 0 ]] || fail "exit code $RC after SIGTERM"
grep -q "SIGTERM, stopping" "$LOG" || fail "no 'SIGTERM, stopping' line"
echo "serve: health, completion, 400 and SIGTERM all as expected"
