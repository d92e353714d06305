#!/usr/bin/env bash
# The API contract, checked by tools tenpo did not write: openapi-spec-validator on both
# servers' OpenAPI documents, then Schemathesis (property-based requests from the documents, with
# auth) against a standalone agent, an enrolled agent, and the hub (its sync and signup contract
# with a terminal's credentials, its admin API with the admin token, its catalogue feed with the
# feed's token, and all without any).
# Any failure fails the run. Everything listens on 127.0.0.1 and lives in a temporary directory;
# every process started here is stopped by its id.
#
#   bash tests/contract/run.sh        # BIN (default target/debug) must hold the built binaries
#
# Schemathesis and the validator come from PyPI into a virtualenv (VENV, default
# target/contract-venv), pinned below. Bounded: MAX_EXAMPLES cases per operation (default 50) and
# a time limit per run.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/debug}
VENV=$(realpath -m "${VENV:-target/contract-venv}")
MAX_EXAMPLES=${MAX_EXAMPLES:-50}
# Each run's whole report (failures with a curl to reproduce them) is kept here.
OUT=$(realpath -m "${OUT:-target/contract}")
SCHEMATHESIS=4.32.5
VALIDATOR=0.9.0
ADMIN_TOKEN=contract-admin-token-0123456789abcdef
CATALOG_TOKEN=contract-catalog-token-0123456789abcdef
CHANNEL=1234567890 LIFF_ID=1234567890-AbCdEfGh

for b in tenpo-line-standin tenpo-hub tenpo-agent; do
  [ -x "$BIN/$b" ] || { echo "contract: no $BIN/$b: cargo build -p tenpo-hub -p tenpo-agent" >&2; exit 2; }
done
command -v curl >/dev/null || { echo "contract: curl is missing (Debian: curl)" >&2; exit 2; }
WHO=contract
source tests/scripts/loopback.sh
venv "$VENV" schemathesis,openapi_spec_validator \
  "schemathesis==$SCHEMATHESIS" "openapi-spec-validator==$VALIDATOR"

SP=$(port) HP=$(port) AP=$(port) EP=$(port)
HUB=http://127.0.0.1:$HP
"$BIN/tenpo-line-standin" --listen "127.0.0.1:$SP" --channel "$CHANNEL:demo-channel-secret" \
  >"$WORK/standin.log" 2>&1 &
PIDS+=($!)
echo "contract-line-channel-secret" >"$WORK/line-secret"
echo "$CATALOG_TOKEN" >"$WORK/catalog-token"
TENPO_HUB_ADMIN_TOKEN=$ADMIN_TOKEN "$BIN/tenpo-hub" serve --data-dir "$WORK/hub" --listen "127.0.0.1:$HP" \
  --line-channel-id "$CHANNEL" --liff-id "$LIFF_ID" --line-api "http://127.0.0.1:$SP" \
  --line-channel-secret-file "$WORK/line-secret" --catalog-token-file "$WORK/catalog-token" \
  >"$WORK/hub.log" 2>&1 &
PIDS+=($!)
"$BIN/tenpo-agent" run --demo --data-dir "$WORK/agent" --listen "127.0.0.1:$AP" >"$WORK/agent.log" 2>&1 &
PIDS+=($!)
ready "http://127.0.0.1:$SP/standin/health"
ready "$HUB/v1/health"
ready "http://127.0.0.1:$AP/v1/health"

export TENPO_HUB_ADMIN_TOKEN=$ADMIN_TOKEN
"$BIN/tenpo-hub" load-rules --hub "$HUB" loyalty/examples/demo-rules.toml >/dev/null
code() { "$BIN/tenpo-hub" enroll-code --hub "$HUB" --store s1 --json |
         python3 -c 'import json, sys; print(json.load(sys.stdin)["code"])'; }
"$BIN/tenpo-agent" enroll --hub "$HUB" --code "$(code)" --data-dir "$WORK/enrolled" >/dev/null
"$BIN/tenpo-agent" run --data-dir "$WORK/enrolled" --listen "127.0.0.1:$EP" --liff-id "$LIFF_ID" \
  >"$WORK/enrolled.log" 2>&1 &
PIDS+=($!)
ready "http://127.0.0.1:$EP/v1/health"
# A terminal of its own for the hub's run, so fuzzed pushes touch no agent's terminal.
TERMINAL=$(curl -fsS -X POST "$HUB/v1/enroll" -H 'content-type: application/json' \
  -d "{\"code\":\"$(code)\",\"terminal_name\":\"contract\"}" |
  python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["terminal_id"] + "." + d["secret"])')

# ---- the documents, checked by an OpenAPI validator
curl -fsS "http://127.0.0.1:$AP/v1/openapi.json" >"$WORK/agent-openapi.json"
curl -fsS "$HUB/v1/openapi.json" >"$WORK/hub-openapi.json"
rc=0
echo "== contract: openapi-spec-validator"
"$VENV/bin/openapi-spec-validator" "$WORK/agent-openapi.json" "$WORK/hub-openapi.json" || rc=1

# ---- Schemathesis. Its settings are passed explicitly (it would also read a schemathesis.toml
# from the working directory or above, so it runs in the empty work directory). On the enrolled
# agent a signup status long-polls up to 30 s: `wait` is pinned to 0 there.
cp tests/contract/schemathesis.toml "$WORK/common.toml"
{ cat tests/contract/schemathesis.toml; printf '\n[[operations]]\ninclude-name = "GET /v1/signups/{token}"\nparameters = { wait = 0 }\n'; } \
  >"$WORK/enrolled.toml"
mkdir -p "$WORK/run" "$OUT"
st() { # name url config [schemathesis run options…]
  local name=$1 url=$2 config=$3; shift 3
  local t0=$SECONDS
  set +e
  (cd "$WORK/run" && timeout 600 "$VENV/bin/schemathesis" --config-file "$config" run \
    "$url/v1/openapi.json" --url "$url" "$@" \
    --checks all --max-examples "$MAX_EXAMPLES" --seed 1 --workers 1 --continue-on-failure \
    --request-timeout 10 --max-response-time 5 --no-color) >"$OUT/$name.txt" 2>&1
  local r=$?
  set -e
  echo "== contract: schemathesis $name: exit $r in $((SECONDS - t0)) s"
  if [ $r -ne 0 ]; then
    rc=1
    # The failing operations and checks, each on a line; the whole report stays in $OUT.
    grep -E '^_{3,} .* _{3,}$|^- [A-Z]|^\[[0-9]{3}\]' "$OUT/$name.txt" | cut -c1-200 | head -n 60
    sed -n '/^=* SUMMARY =*$/,$p' "$OUT/$name.txt" | grep -E '❌|🚫|⚠️' | head -n 12
    echo "   (the whole report: $OUT/$name.txt)"
  else
    grep -E 'generated|passed' "$OUT/$name.txt" | tail -n 2
  fi
}
A="http://127.0.0.1:$AP" E="http://127.0.0.1:$EP"
st agent           "$A" "$WORK/common.toml" -H "Authorization: Bearer $(cat "$WORK/agent/api-token")"
st agent-enrolled  "$E" "$WORK/enrolled.toml" -H "Authorization: Bearer $(cat "$WORK/enrolled/api-token")"
# Without credentials every secured operation is refused (401), whatever the data: the check that
# schema-valid data is accepted does not apply there.
st agent-no-auth   "$A" "$WORK/common.toml" --exclude-checks positive_data_acceptance
# The rule-set upload is TOML, which Schemathesis cannot generate: tests/tests and hub/tests
# drive it (valid, invalid, older versions).
st hub             "$HUB" "$WORK/common.toml" --exclude-tag admin --exclude-tag catalog \
  -H "Authorization: Bearer $TERMINAL"
st hub-admin       "$HUB" "$WORK/common.toml" --include-tag admin \
  --exclude-name "POST /v1/admin/rule-sets" -H "Authorization: Bearer $ADMIN_TOKEN"
st hub-catalog     "$HUB" "$WORK/common.toml" --include-tag catalog \
  -H "Authorization: Bearer $CATALOG_TOKEN"
st hub-no-auth     "$HUB" "$WORK/common.toml" --exclude-name "POST /v1/admin/rule-sets" \
  --exclude-checks positive_data_acceptance
exit $rc
