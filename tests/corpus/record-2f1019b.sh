#!/usr/bin/env bash
# How tests/corpus/pushes-2f1019b.jsonl was recorded: the agent and hub built from commit 2f1019b
# (the fleet's version before events were sent as stored bytes) ran a day of till traffic on
# loopback, and a relay between them wrote every push body byte for byte. The compatibility test
# (tests/tests/fleet_versions.rs) replays these bodies against the hub of today.
#
#   git worktree add /tmp/old 2f1019b && (cd /tmp/old && cargo build -p tenpo-agent -p tenpo-hub)
#   BIN=/tmp/old/target/debug bash tests/corpus/record-2f1019b.sh
set -euo pipefail
BIN=${BIN:?the directory holding tenpo-agent and tenpo-hub of 2f1019b}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
w=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$w"' EXIT
export TENPO_HUB_ADMIN_TOKEN=corpus-admin-token-0123456789abcdef NO_COLOR=1 RUST_LOG=warn
hub=http://127.0.0.1:57401
"$BIN/tenpo-hub" serve --data-dir "$w/hub" --listen 127.0.0.1:57401 >"$w/hub.log" 2>&1 &
python3 "$here/relay.py" 57402 57401 "$w/pushes.jsonl" &
for _ in $(seq 100); do curl -sf "$hub/v1/health" >/dev/null && curl -sf http://127.0.0.1:57402/v1/health >/dev/null && break; sleep 0.1; done
"$BIN/tenpo-hub" load-rules --hub "$hub" "$root/loyalty/examples/demo-rules.toml"
code=$("$BIN/tenpo-hub" enroll-code --hub "$hub" --store s-corpus | sed -n 's/^enrolment code for store s-corpus: //p')
"$BIN/tenpo-agent" enroll --hub http://127.0.0.1:57402 --code "$code" --data-dir "$w/agent"
"$BIN/tenpo-agent" run --data-dir "$w/agent" --listen 127.0.0.1:57403 \
  --rules "$root/loyalty/examples/demo-rules.toml" --sync-interval-ms 1000 >"$w/agent.log" 2>&1 &
agent=http://127.0.0.1:57403
for _ in $(seq 100); do curl -sf "$agent/v1/health" >/dev/null && break; sleep 0.1; done
token=$(cat "$w/agent/api-token")
post() { curl -sf -X POST "$agent$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$2" >/dev/null; }
yesterday=$(date -u -d yesterday +%Y-%m-%dT12:00:00+09:00)
# New cards (provisional members), earning, stamps, a back-dated sale, a sale without a member,
# a redemption, partial and whole refunds, a category excluded from earning.
post /v1/sales '{"sale_id":"c-1","member_code":"2000000000015","lines":[{"sku":"bento","quantity":2,"amount_yen":1580}]}'
post /v1/sales '{"sale_id":"c-2","member_code":"2000000000022","lines":[{"sku":"tea","quantity":1,"amount_yen":12000},{"sku":"gift","category":"gift_card","quantity":1,"amount_yen":5000}]}'
post /v1/sales "{\"sale_id\":\"c-3\",\"member_code\":\"2000000000015\",\"occurred_at\":\"$yesterday\",\"lines\":[{\"sku\":\"tea\",\"quantity\":1,\"amount_yen\":3000}]}"
post /v1/sales '{"sale_id":"c-4","lines":[{"sku":"water","quantity":1,"amount_yen":120}]}'
post /v1/sales '{"sale_id":"c-5","member_code":"2000000000022","redeem_points":100,"lines":[{"sku":"bento","quantity":1,"amount_yen":790}]}'
post /v1/sales/c-2/refunds '{"refund_id":"c-2-r1","lines":[{"sku":"tea","quantity":1,"amount_yen":6000}]}'
post /v1/sales/c-1/refunds '{"refund_id":"c-1-r1","lines":[{"sku":"bento","quantity":2,"amount_yen":1580}]}'
post /v1/sales '{"sale_id":"c-6","member_code":"2000000000039","lines":[{"sku":"tea","quantity":3,"amount_yen":4500}]}'
"$BIN/tenpo-agent" sync --now --data-dir "$w/agent" >/dev/null
post /v1/sales '{"sale_id":"c-7","member_code":"2000000000015","lines":[{"sku":"bento","quantity":1,"amount_yen":1000}]}'
"$BIN/tenpo-agent" sync --now --data-dir "$w/agent" >/dev/null
cp "$w/pushes.jsonl" "$here/pushes-2f1019b.jsonl"
echo "recorded $(wc -l <"$here/pushes-2f1019b.jsonl") pushes"
