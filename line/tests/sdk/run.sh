#!/usr/bin/env bash
# tenpo's LINE signature rule and webhook shapes, checked against LINE's official Python SDK
# (line-bot-sdk, pinned below, from PyPI into a virtualenv: VENV, default target/line-sdk-venv).
# Starts the LINE stand-in and a hub with the Messaging channel's secret on 127.0.0.1, runs
# check.py, stops both.
#
#   bash line/tests/sdk/run.sh      # BIN (default target/debug) must hold the built binaries
set -euo pipefail
cd "$(dirname "$0")/../../.."
BIN=${BIN:-target/debug}
VENV=$(realpath -m "${VENV:-target/line-sdk-venv}")
SDK=3.27.0
SECRET=sdk-check-channel-secret-0123456789
TOKEN=sdk-check-access-token

for b in tenpo-line-standin tenpo-hub; do
  [ -x "$BIN/$b" ] || { echo "line sdk: no $BIN/$b: cargo build -p tenpo-hub -p tenpo-line" >&2; exit 2; }
done
WHO="line sdk"
source tests/scripts/loopback.sh
venv "$VENV" linebot.v3 "line-bot-sdk==$SDK"

SP=$(port) HP=$(port)
echo "$SECRET" >"$WORK/secret"
"$BIN/tenpo-line-standin" --listen "127.0.0.1:$SP" --channel "1234567890:login-secret" \
  --messaging-token "$TOKEN" --messaging-secret "$SECRET" >"$WORK/standin.log" 2>&1 &
PIDS+=($!)
TENPO_HUB_ADMIN_TOKEN=sdk-check-admin-token-0123456789 "$BIN/tenpo-hub" serve \
  --data-dir "$WORK/hub" --listen "127.0.0.1:$HP" --line-api "http://127.0.0.1:$SP" \
  --line-channel-secret-file "$WORK/secret" >"$WORK/hub.log" 2>&1 &
PIDS+=($!)
ready "http://127.0.0.1:$SP/standin/health"
ready "http://127.0.0.1:$HP/v1/health"
"$VENV/bin/python" line/tests/sdk/check.py "http://127.0.0.1:$HP" "http://127.0.0.1:$SP" "$SECRET" "$TOKEN"
