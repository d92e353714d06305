#!/usr/bin/env bash
# The whole signup stack on this machine: the LINE stand-in, a hub with signup on, an enrolled
# agent, and the kiosk screen.
#
#   bash kiosk-ui/scripts/kiosk-demo.sh                      # the kiosk in a window on your display
#   bash kiosk-ui/scripts/kiosk-demo.sh --screenshot out.png # under Xvfb: a screenshot of the real
#                                                            # kiosk window, its QR read back by zbarimg
#
# It builds the binaries it runs (debug profile); with $BIN set it runs those in $BIN instead
# (CI, after its own build). Everything listens on 127.0.0.1 and lives in a temporary directory
# that is removed at the end; every process started here is stopped by its id.
set -euo pipefail
cd "$(dirname "$0")/../.."

SHOT=""
if [ "${1:-}" = "--screenshot" ]; then
  SHOT=${2:?"--screenshot needs a file name"}
fi

# The tools it calls, checked before anything starts; each missing one is named with its package.
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1 (Debian/Ubuntu package: $2)"); }
need curl curl
if [ -n "$SHOT" ]; then
  need xvfb-run xvfb
  need xauth xauth
  need import imagemagick
  need zbarimg zbar-tools
fi
[ -n "${BIN:-}" ] || need cargo "rustup, https://rustup.rs"
if [ ${#missing[@]} -gt 0 ]; then
  echo "kiosk-demo: missing tools:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  echo "install them (e.g. sudo apt-get install curl xvfb xauth imagemagick zbar-tools) and run again" >&2
  exit 2
fi

if [ -z "${BIN:-}" ]; then
  echo "kiosk-demo: building tenpo-hub, tenpo-agent and tenpo-kiosk (debug) ..." >&2
  cargo build -q -p tenpo-hub -p tenpo-agent -p tenpo-kiosk
  BIN=target/debug
fi
CHANNEL=1234567890
LIFF_ID=1234567890-AbCdEfGh
ADMIN_TOKEN=kiosk-demo-admin-token-0123456789
SP=${STANDIN_PORT:-17410}
HP=${HUB_PORT:-17400}
AP=${AGENT_PORT:-17480}
WORK=$(mktemp -d)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

for b in tenpo-line-standin tenpo-hub tenpo-agent tenpo-kiosk; do
  [ -x "$BIN/$b" ] || { echo "kiosk-demo: no $BIN/$b (unset BIN and the script builds it)" >&2; exit 1; }
done

# Polls a URL until it answers (at most 30 s).
ready() {
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$1 never answered; logs in $WORK" >&2
  tail -n 20 "$WORK"/*.log >&2 || true
  return 1
}

"$BIN/tenpo-line-standin" --listen "127.0.0.1:$SP" --channel "$CHANNEL:demo-channel-secret" \
  >"$WORK/standin.log" 2>&1 &
PIDS+=($!)
TENPO_HUB_ADMIN_TOKEN=$ADMIN_TOKEN "$BIN/tenpo-hub" serve --data-dir "$WORK/hub" \
  --listen "127.0.0.1:$HP" --line-channel-id "$CHANNEL" --liff-id "$LIFF_ID" \
  --line-api "http://127.0.0.1:$SP" >"$WORK/hub.log" 2>&1 &
PIDS+=($!)
ready "http://127.0.0.1:$SP/standin/health"
ready "http://127.0.0.1:$HP/v1/health"

export TENPO_HUB_ADMIN_TOKEN=$ADMIN_TOKEN
"$BIN/tenpo-hub" load-rules --hub "http://127.0.0.1:$HP" loyalty/examples/demo-rules.toml >/dev/null
CODE=$(curl -fsS -X POST "http://127.0.0.1:$HP/v1/admin/enrollment-codes" \
  -H "Authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \
  -d '{"store_id":"demo-store"}' | sed -n 's/.*"code":"\([^"]*\)".*/\1/p')
"$BIN/tenpo-agent" enroll --hub "http://127.0.0.1:$HP" --code "$CODE" --data-dir "$WORK/agent" >/dev/null
"$BIN/tenpo-agent" run --data-dir "$WORK/agent" --listen "127.0.0.1:$AP" --liff-id "$LIFF_ID" \
  >"$WORK/agent.log" 2>&1 &
PIDS+=($!)
ready "http://127.0.0.1:$AP/v1/health"

KIOSK=("$BIN/tenpo-kiosk" --agent "http://127.0.0.1:$AP" --token-file "$WORK/agent/api-token")

if [ -z "$SHOT" ]; then
  echo "hub http://127.0.0.1:$HP (LIFF page /liff/signup), agent http://127.0.0.1:$AP, LINE stand-in http://127.0.0.1:$SP"
  echo "complete a signup as a phone would: take the token from the QR (t=…), then"
  echo "  ID=\$(curl -s -X POST localhost:$SP/standin/id-tokens -H 'content-type: application/json' -d '{\"channel_id\":\"$CHANNEL\",\"sub\":\"U0123\"}' | sed 's/.*\"id_token\":\"\([^\"]*\)\".*/\1/')"
  echo "  curl -s -X POST localhost:$HP/v1/signups/TOKEN/complete -H 'content-type: application/json' -d \"{\\\"id_token\\\":\\\"\$ID\\\"}\""
  "${KIOSK[@]}" --windowed
  exit 0
fi

# Under Xvfb: the real window, full screen; screenshots until zbarimg reads the QR (30 s at most).
rm -f "$SHOT"
xvfb-run -a -s "-screen 0 1280x800x24" bash -c '
  set -u
  "$@" >"'"$WORK"'/kiosk.log" 2>&1 &
  kiosk=$!
  for _ in $(seq 1 60); do
    sleep 0.5
    kill -0 "$kiosk" 2>/dev/null || { echo exited >"'"$WORK"'/kiosk.exited"; break; }
    import -window root "'"$SHOT"'" 2>>"'"$WORK"'/import.log" || continue
    if zbarimg --raw -q "'"$SHOT"'" >"'"$WORK"'/qr.txt" 2>/dev/null; then break; fi
  done
  kill "$kiosk" 2>/dev/null; wait "$kiosk" 2>/dev/null
  true
' _ "${KIOSK[@]}"

# Say what failed: the kiosk itself, the screenshot, or the QR on it.
if [ -e "$WORK/kiosk.exited" ]; then
  echo "the kiosk exited before its QR could be read; its log:" >&2
  tail -n 20 "$WORK/kiosk.log" >&2 || true
  exit 1
fi
if [ ! -s "$SHOT" ]; then
  echo "no screenshot could be taken of the Xvfb display (ImageMagick's import):" >&2
  tail -n 5 "$WORK/import.log" >&2 || true
  exit 1
fi
TEXT=$(cat "$WORK/qr.txt" 2>/dev/null || true)
case "$TEXT" in
  "https://liff.line.me/$LIFF_ID?t=S1."*)
    echo "zbarimg read the kiosk's QR: $TEXT"
    ;;
  *)
    echo "zbarimg could not read the kiosk's QR in $SHOT (read: '$TEXT')" >&2
    tail -n 20 "$WORK/kiosk.log" "$WORK/agent.log" >&2 || true
    exit 1
    ;;
esac
