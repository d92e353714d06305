#!/usr/bin/env bash
# Installs the MSI under wine and runs the agent as a Windows service:
#   bash packaging/windows/wine-smoke.sh target/windows/tenpo-agent-VERSION-x64.msi
# (the stripped tenpo-agent.exe beside it builds the newer MSI of the upgrade step).
# Checks, with wine's msiexec and service manager (Debian package wine64):
#   - install: the program and the example are in place, %ProgramData%\tenpo\agent.toml is
#     written from the example, and the service is NOT started (the terminal is not set up);
#   - once configured (standalone), `sc start` runs it: the local API answers, a sale is recorded;
#   - `sc stop` stops it through the service's control handler (its log says so);
#   - an upgrade to a newer MSI keeps agent.toml and the data, and starts the service again;
#   - removal deletes the service and the program, and keeps %ProgramData%\tenpo.
# Wine 8 lacks bcryptprimitives.dll (Windows 10+ has it; Rust's std imports ProcessPrng from it):
# a stand-in built here with mingw goes into the wine prefix only.
set -euo pipefail
msi=$(realpath "$1")
exe="$(dirname "$msi")/tenpo-agent.exe"
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
wine=/usr/lib/wine/wine64
port=27480
fail() { echo "wine smoke test: FAILED: $*" >&2; exit 1; }
cleanup() {   # KEEP_WINE=1 keeps the prefix, to look into a failure
  /usr/lib/wine/wineserver -k 2>/dev/null || true
  [ -n "${KEEP_WINE:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

sc() { timeout 60 "$wine" sc "$@" 2>/dev/null | tr -d '\r'; }
# Wine's `sc query` answers nothing now and then: ask again before concluding.
state() {
  local s
  for _ in 1 2 3 4 5; do
    s=$(sc query tenpo-agent | sed -n 's/.*STATE *: *[0-9]* *\([A-Z_]*\).*/\1/p')
    [ -n "$s" ] && break
    sleep 0.2
  done
  echo "$s"
}
wait_state() {
  for _ in $(seq 1 60); do [ "$(state)" = "$1" ] && return 0; sleep 0.5; done
  fail "the service did not reach $1 (it is $(state))"
}
# Asks for a state change until the service is in `want` (wine's sc drops requests now and then).
control() {
  local verb=$1 want=$2
  for _ in 1 2 3 4 5; do
    sc "$verb" tenpo-agent >/dev/null || true
    for _ in $(seq 1 20); do [ "$(state)" = "$want" ] && return 0; sleep 0.5; done
  done
  fail "sc $verb: the service did not reach $want (it is $(state))"
}
health() { curl -fsS -m 2 "127.0.0.1:$port/v1/health" >/dev/null 2>&1; }
wait_health() {
  for _ in $(seq 1 60); do health && return 0; sleep 0.5; done
  fail "the agent's API did not answer on port $port"
}

echo "-- wine prefix"
# One wine session for the whole test (wine ends its services with its last program): a
# persistent server first, then the prefix, then a program that waits.
mkdir -p "$WINEPREFIX"
/usr/lib/wine/wineserver -p 600
timeout 120 "$wine" wineboot --init >/dev/null 2>&1 || true
cat > "$work/bcryptprimitives.c" <<'EOF'
#include <windows.h>
#include <ntsecapi.h>
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, n)) return FALSE;
        data += n; len -= n;
    }
    return TRUE;
}
EOF
printf 'LIBRARY bcryptprimitives.dll\nEXPORTS\nProcessPrng\n' > "$work/bcryptprimitives.def"
x86_64-w64-mingw32-gcc -O2 -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  "$work/bcryptprimitives.c" "$work/bcryptprimitives.def" -ladvapi32
("$wine" cmd /c "choice /t 600 /d y >nul" >/dev/null 2>&1 &)

c="$WINEPREFIX/drive_c"
echo "-- install"
timeout 300 "$wine" msiexec /i "$msi" /qn || fail "msiexec /i"
[ -f "$c/Program Files/tenpo/tenpo-agent.exe" ] || fail "tenpo-agent.exe not installed"
[ -f "$c/Program Files/tenpo/agent.example.toml" ] || fail "agent.example.toml not installed"
[ -f "$c/ProgramData/tenpo/agent.toml" ] || fail "agent.toml not written to ProgramData"
[ -d "$c/ProgramData/tenpo/data" ] || fail "no data folder"
wait_state STOPPED   # installed, and not started: the terminal is not set up
sleep 2
[ "$(state)" = STOPPED ] || fail "a terminal not set up must not be started (state $(state))"

echo "-- configure (standalone) and start"
# A fresh wine session: wine 8's service manager would not start the service in the session
# that installed it (Windows needs nothing of the kind).
/usr/lib/wine/wineserver -k || true
sleep 1
/usr/lib/wine/wineserver -p 600
("$wine" cmd /c "choice /t 600 /d y >nul" >/dev/null 2>&1 &)
sleep 2
conf="$c/ProgramData/tenpo/agent.toml"
cp "$here/../../loyalty/examples/demo-rules.toml" "$c/ProgramData/tenpo/rules.toml"
# Wine gives services another %ProgramData% than programs: name the data folder outright.
sed -i -e "s/^listen = .*/listen = \"127.0.0.1:$port\"/" \
  -e 's/^# store_id = .*/store_id = "wine-store"/' -e 's/^# terminal_id = .*/terminal_id = "till-1"/' \
  -e "s|^# rules = .*|rules = 'C:\\\\ProgramData\\\\tenpo\\\\rules.toml'\ndata_dir = 'C:\\\\ProgramData\\\\tenpo\\\\data'|" "$conf"
timeout 60 "$wine" "C:\\Program Files\\tenpo\\tenpo-agent.exe" validate 'C:\ProgramData\tenpo\agent.toml' \
  || fail "the configured agent.toml does not validate"
control start RUNNING
wait_health
token=$(tr -d '\r\n' < "$c/ProgramData/tenpo/data/api-token")
sale='{"sale_id":"wine-1","lines":[{"sku":"water","quantity":1,"amount_yen":120}]}'
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "127.0.0.1:$port/v1/sales" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$sale")
[ "$code" = 201 ] || fail "sale answered $code"
curl -fsS "127.0.0.1:$port/metrics" | grep -qx 'tenpo_agent_sales_total 1' || fail "metrics"

echo "-- stop through the service manager"
control stop STOPPED
health && fail "the API still answers after the stop"
grep -rq "the service manager asked to stop" "$c/users/Public/tenpo/logs" "$c/ProgramData/tenpo/logs" 2>/dev/null \
  || fail "the service's log does not show the stop request"

echo "-- upgrade (a newer version of the same MSI)"
control start RUNNING
# The same program as a newer version: what an upgrade installs.
newer="$work/newer.msi"
(cd "$here/../.." && wixl -a x64 -D Version=99.0.0 -D Exe="$(realpath --relative-to=. "$exe")" \
  -D Example=packaging/windows/agent.toml -o "$newer" packaging/windows/tenpo-agent.wxs) \
  || fail "cannot build the newer MSI"
# (The install step's own lines come out on msiexec's output.)
timeout 300 "$wine" msiexec /i "$newer" /qn > "$work/upgrade.out" 2>&1 || { cat "$work/upgrade.out"; fail "msiexec upgrade"; }
cat "$work/upgrade.out"
grep -q "keeping C:.ProgramData.tenpo.agent.toml" "$work/upgrade.out" || fail "the upgrade did not keep agent.toml"
grep -q '^store_id = "wine-store"' "$conf" || fail "agent.toml lost its settings"
wait_state RUNNING
wait_health
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "127.0.0.1:$port/v1/sales" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$sale")
[ "$code" = 200 ] || fail "after the upgrade the sale's replay answered $code, not 200"

echo "-- remove"
timeout 300 "$wine" msiexec /x "$newer" /qn || fail "msiexec /x"
[ -z "$(state)" ] || fail "the service is still registered ($(state))"
[ ! -e "$c/Program Files/tenpo/tenpo-agent.exe" ] || fail "the program is still there"
[ -f "$conf" ] && [ -f "$c/ProgramData/tenpo/data/tenpo.db" ] || fail "removal must keep the config and the data"
echo "wine smoke test: install, service start, sale, stop, upgrade and removal all passed"
