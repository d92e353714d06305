#!/usr/bin/env bash
# CI for the packages (issue 6), run by .ci/run as root on a fresh clone:
#   1. the .deb files (cargo-deb), their contents and maintainer scripts, the unit files;
#   2. the terminal and hub packages installed on this machine: the hub and the agent started
#      from their installed paths with their installed configs, as their own users (systemd is
#      not PID 1 here, so `runuser` stands in for the units), a real enrolment, a sale synced,
#      `doctor` (and its exit code on a hub that is down or refuses the credentials), /metrics,
#      the kiosk screen's first frame under Xvfb as its own user, a clean stop;
#   3. an upgrade: a database written by the previous release (schema v1) opened by the
#      installed agent: backed up first, every sale still there;
#   4. reinstall keeps a changed config and the data; removal and purge keep the data;
#   5. the Windows agent cross-built and its MSI, checked with msiinfo, then installed and run as
#      a service under wine (packaging/windows/wine-smoke.sh).
# Each binary is built once, in the one target directory.
#
# PROFILE=release (the default) builds the release binaries and packages them. .ci/run passes
# PROFILE=dev PREBUILT=1: it packages the debug binaries its test step has just built (cargo-deb
# strips them). CI checks what the packages hold and do, not the optimiser: a release build of
# the three binaries took 14 of CI's minutes on two cores. Released packages are release builds.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never NO_COLOR=1
PROFILE=${PROFILE:-release}
case "$PROFILE" in
  release) out_dir=target/release ;;
  dev) out_dir=target/debug ;;
  *) echo "packages: PROFILE is release or dev, not $PROFILE" >&2; exit 2 ;;
esac
# Without link-time optimisation when this script builds for release: minutes saved on two cores.
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
t0=$(date +%s)
step() { echo "== packages: $* (+$(($(date +%s) - t0)) s)"; }
fail() { echo "packages: FAILED: $*" >&2; exit 1; }
expect() { # expect FILE PATTERN...: every pattern is a line of FILE (grep -E, whole line)
  local file=$1; shift
  for p in "$@"; do grep -Eqx -- "$p" "$file" || { cat "$file"; fail "no line /$p/ in $file"; }; done
}

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "== packages: skipped (needs root and apt: it installs packages on this machine)"
  exit 0
fi

# Run a program as a package's user, in place, so that `$!` is the program itself: `runuser`
# forks (and, on SIGTERM, kills itself with the signal), and a shell function sent to the
# background runs in a subshell.
as_tenpo=(setpriv --reuid=tenpo --regid=tenpo --init-groups --)
as_tenpo_hub=(setpriv --reuid=tenpo-hub --regid=tenpo-hub --init-groups --)

step "system packages"
# mingw links the Windows build; wixl writes the MSI and msitools reads it back; systemd gives
# systemd-analyze; sqlite3 loads the v1 database; wine64 runs the Windows agent as a service;
# Xvfb shows the installed kiosk's first frame; lintian is Debian's own check of the packages.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  gcc-mingw-w64-x86-64 wixl msitools systemd sqlite3 adduser curl wine64 xvfb xauth lintian >/dev/null
command -v cargo-deb >/dev/null || cargo install --locked --quiet cargo-deb --version 3.8.0

if [ "${PREBUILT:-0}" = 1 ]; then
  step "the $PROFILE binaries already built (tenpo-agent, tenpo-hub, tenpo-kiosk)"
  for b in tenpo-agent tenpo-hub tenpo-kiosk; do
    [ -x "$out_dir/$b" ] || fail "PREBUILT=1 but $out_dir/$b is not there"
  done
else
  step "$PROFILE build (tenpo-agent, tenpo-hub, tenpo-kiosk)"
  cargo build --profile "$PROFILE" --locked -p tenpo-agent -p tenpo-hub -p tenpo-kiosk \
    --bin tenpo-agent --bin tenpo-hub --bin tenpo-kiosk
fi

step "manual pages (from each binary's command-line definition)"
rm -rf target/man
"$out_dir/tenpo-agent" man target/man/terminal
"$out_dir/tenpo-kiosk" --man target/man/terminal
"$out_dir/tenpo-hub" man target/man/hub

step ".deb files"
# cargo-deb reads each binary from the profile's directory (and warns that dev is unusual).
cargo deb --no-build --profile "$PROFILE" -p tenpo-agent >/dev/null
cargo deb --no-build --profile "$PROFILE" -p tenpo-hub >/dev/null
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
arch=$(dpkg --print-architecture)
terminal_deb="target/debian/tenpo-terminal_${version}-1_${arch}.deb"
hub_deb="target/debian/tenpo-hub_${version}-1_${arch}.deb"
[ -f "$terminal_deb" ] && [ -f "$hub_deb" ] || { ls target/debian; fail "the .deb files are not where expected"; }

step "lintian (any error or warning fails)"
lintian --fail-on error,warning --tag-display-limit 0 "$terminal_deb" "$hub_deb" \
  || fail "lintian found problems in the packages (above)"

step "contents (dpkg-deb -c, -I)"
work=$(mktemp -d)
pids=()
installed=0
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
  # Whatever happened, leave no installed terminal or hub behind: an enrolled /var/lib/tenpo
  # would be read by later test runs on this machine (the agent's default data directory).
  if [ "$installed" = 1 ]; then
    apt-get purge -y -qq tenpo-terminal tenpo-hub >/dev/null 2>&1 || true
    rm -rf /var/lib/tenpo /var/lib/tenpo-hub /var/lib/tenpo-kiosk
  fi
}
trap cleanup EXIT
dpkg-deb -c "$terminal_deb" | awk '{print $1, $2, $6}' | tee "$work/terminal.files"
expect "$work/terminal.files" \
  '-rwxr-xr-x (root/root|0/0) \./usr/bin/tenpo-agent' \
  '-rwxr-xr-x (root/root|0/0) \./usr/bin/tenpo-kiosk' \
  '-rw-r--r-- (root/root|0/0) \./etc/tenpo/agent\.toml' \
  '-rw-r--r-- (root/root|0/0) \./usr/share/man/man1/tenpo-agent\.1\.gz' \
  '-rw-r--r-- (root/root|0/0) \./usr/share/man/man1/tenpo-agent-status\.1\.gz' \
  '-rw-r--r-- (root/root|0/0) \./usr/share/man/man1/tenpo-kiosk\.1\.gz' \
  '-rw-r--r-- (root/root|0/0) \./(usr/)?lib/systemd/system/tenpo-agent\.service' \
  '-rw-r--r-- (root/root|0/0) \./(usr/)?lib/systemd/system/tenpo-kiosk\.service' \
  '-rw-r--r-- (root/root|0/0) \./usr/lib/udev/rules\.d/60-tenpo-scanners\.rules' \
  '-rw-r--r-- (root/root|0/0) \./usr/share/doc/tenpo-terminal/examples/demo-rules\.toml'
dpkg-deb -I "$terminal_deb" | tee "$work/terminal.info"
expect "$work/terminal.info" ' Package: tenpo-terminal' " Version: ${version}-1" \
  ' Depends: .*adduser.*' ' Depends: .*libc6.*' ' Depends: .*fonts-ipafont-gothic \| fonts-noto-cjk.*' \
  ' Recommends: cage, xwayland'
dpkg-deb -c "$hub_deb" | awk '{print $1, $2, $6}' | tee "$work/hub.files"
expect "$work/hub.files" '-rwxr-xr-x (root/root|0/0) \./usr/bin/tenpo-hub' \
  '-rw-r--r-- (root/root|0/0) \./usr/share/man/man1/tenpo-hub\.1\.gz' \
  '-rw-r--r-- (root/root|0/0) \./etc/tenpo-hub/hub\.toml' \
  '-rw-r--r-- (root/root|0/0) \./(usr/)?lib/systemd/system/tenpo-hub\.service'
grep -q tenpo-line-standin "$work/hub.files" && fail "the hub package must not ship the LINE stand-in"
dpkg-deb -I "$hub_deb" | tee "$work/hub.info"
expect "$work/hub.info" ' Package: tenpo-hub' ' Depends: .*adduser.*'
for deb in "$terminal_deb" "$hub_deb"; do
  rm -rf "$work/ctl" && dpkg-deb -e "$deb" "$work/ctl"
  grep -Eq '^/etc/tenpo(-hub)?/(agent|hub)\.toml$' "$work/ctl/conffiles" || fail "$deb: the config is not a conffile"
  grep -q 'adduser --system' "$work/ctl/postinst" || fail "$deb: postinst makes no system user"
  grep -q 'deb-systemd-helper' "$work/ctl/postinst" || fail "$deb: postinst does not enable the unit"
  grep -q '#DEBHELPER#' "$work/ctl/postinst" && fail "$deb: #DEBHELPER# left in postinst"
done

step "install both packages on this machine"
# A clean slate: what an earlier run of this script left (its packages, their data).
apt-get purge -y -qq tenpo-terminal tenpo-hub >/dev/null 2>&1 || true
rm -rf /var/lib/tenpo /var/lib/tenpo-hub
# With its recommends (cage, xwayland), as a store's kiosk machine gets it.
installed=1
apt-get install -y -qq "./$terminal_deb" "./$hub_deb" >/dev/null
id tenpo | grep -q '(dialout)' && id tenpo | grep -q '(input)' || fail "tenpo is not in dialout and input: $(id tenpo)"
[ "$(stat -c '%U:%G %a' /var/lib/tenpo)" = "tenpo:tenpo 750" ] || fail "/var/lib/tenpo: $(stat -c '%U:%G %a' /var/lib/tenpo)"
[ "$(stat -c '%U %a' /var/lib/tenpo-hub)" = "tenpo-hub 700" ] || fail "/var/lib/tenpo-hub: $(stat -c '%U %a' /var/lib/tenpo-hub)"
id tenpo-kiosk >/dev/null || fail "no tenpo-kiosk user"
id -nG tenpo-kiosk | tr ' ' '\n' | grep -qx tenpo && fail "the kiosk's user must not read the agent's data"

step "unit files (systemd-analyze verify, security)"
units=(/usr/lib/systemd/system/tenpo-agent.service /usr/lib/systemd/system/tenpo-hub.service
  /usr/lib/systemd/system/tenpo-kiosk.service)
out=$(systemd-analyze verify "${units[@]}" 2>&1) || true
[ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify complained"; }
for u in "${units[@]:0:2}"; do   # (the kiosk's compositor needs a seat and a tty)
  systemd-analyze security --offline=true --threshold=25 "$u" | tail -1 \
    || fail "$u: exposure above 2.5"
done
[ -L /etc/systemd/system/multi-user.target.wants/tenpo-agent.service ] || fail "tenpo-agent is not enabled"
[ ! -e /etc/systemd/system/graphical.target.wants/tenpo-kiosk.service ] || fail "tenpo-kiosk must not be enabled by the package"

step "the hub, from its package"
export TENPO_HUB_URL=http://127.0.0.1:7400
"${as_tenpo_hub[@]}" /usr/bin/tenpo-hub serve --config /etc/tenpo-hub/hub.toml 2>"$work/hub.log" &
hub_pid=$!; pids+=("$hub_pid")
wait_http() { for _ in $(seq 1 100); do curl -fsS -m 1 "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; cat "$work"/*.log; fail "$1 did not answer"; }
wait_http http://127.0.0.1:7400/v1/health
# The installed hub checks itself, as its own user: everything ok while it serves.
"${as_tenpo_hub[@]}" /usr/bin/tenpo-hub doctor --config /etc/tenpo-hub/hub.toml > "$work/hub-doctor.out" \
  || { cat "$work/hub-doctor.out"; fail "tenpo-hub doctor found problems in a fresh install"; }
expect "$work/hub-doctor.out" 'ok   hub answering at http://127\.0\.0\.1:7400/v1/health' \
  'ok   database integrity \(quick_check\)' 'no problems found'
TENPO_HUB_ADMIN_TOKEN=$(cat /var/lib/tenpo-hub/admin-token); export TENPO_HUB_ADMIN_TOKEN
tenpo-hub load-rules /usr/share/doc/tenpo-terminal/examples/demo-rules.toml
enrolment=$(tenpo-hub enroll-code --store ci-store-01 | sed -n 's/^enrolment code for store ci-store-01: //p')
[ -n "$enrolment" ] || fail "no enrolment code"

step "enrol the installed terminal (as root), then validate its installed config"
if tenpo-agent validate /etc/tenpo/agent.toml >"$work/validate.out" 2>&1; then
  fail "a fresh, unenrolled install must not validate"
fi
grep -q 'tenpo-agent enroll' "$work/validate.out" || { cat "$work/validate.out"; fail "validate does not say to enrol"; }
tenpo-agent enroll --hub http://127.0.0.1:7400 --code "$enrolment" --name ci-till
[ "$(stat -c '%U %a' /var/lib/tenpo/hub.json)" = "tenpo 600" ] || fail "hub.json: $(stat -c '%U %a' /var/lib/tenpo/hub.json)"
tenpo-agent validate /etc/tenpo/agent.toml

step "the agent, from its package, as tenpo"
"${as_tenpo[@]}" /usr/bin/tenpo-agent run --config /etc/tenpo/agent.toml 2>"$work/agent.log" &
agent_pid=$!; pids+=("$agent_pid")
wait_http http://127.0.0.1:7480/v1/health
token=$(cat /var/lib/tenpo/api-token)
code=$(curl -s -o "$work/sale.json" -w '%{http_code}' -X POST http://127.0.0.1:7480/v1/sales \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"sale_id":"ci-0001","member_code":"2000000000046","lines":[{"sku":"bento","quantity":1,"amount_yen":1080}]}')
[ "$code" = 201 ] || { cat "$work/sale.json"; fail "sale answered $code"; }
for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:7480/metrics > "$work/agent.metrics"
  grep -qx 'tenpo_agent_events_pending 0' "$work/agent.metrics" && break; sleep 0.2
done
expect "$work/agent.metrics" 'tenpo_agent_events_pending 0' 'tenpo_agent_sales_total 1' \
  'tenpo_agent_hub_online 1' 'tenpo_agent_events_recorded_total 2' \
  'tenpo_agent_info\{version="'"$version"'",store_id="ci-store-01",terminal_id="[^"]+",mode="enrolled"\} 1'
code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:7400/metrics)
[ "$code" = 401 ] || fail "the hub's /metrics answered $code without a token"
curl -fsS -H "Authorization: Bearer $TENPO_HUB_ADMIN_TOKEN" http://127.0.0.1:7400/metrics > "$work/hub.metrics"
expect "$work/hub.metrics" 'tenpo_hub_terminals 1' 'tenpo_hub_events_stored_total 2' \
  'tenpo_hub_events_waiting 0' 'tenpo_hub_rule_set_version 1' '# TYPE tenpo_hub_conflicts_total counter'

step "doctor against the running agent"
for who in root tenpo; do
  runuser -u "$who" -- tenpo-agent doctor --config /etc/tenpo/agent.toml | tee "$work/doctor.out" \
    || fail "doctor as $who found a problem"
  expect "$work/doctor.out" 'ok   running agent: store ci-store-01, .*' 'ok   database integrity \(quick_check\)' \
    'ok   agent running at 127\.0\.0\.1:7480 .*' 'ok   hub http://127\.0\.0\.1:7400 reachable .*' \
    "ok   the hub accepts this terminal's credentials .*" 'ok   clock agrees with the hub.s' \
    'ok   no events waiting for the hub' 'ok   free disk: .*' 'no problems found'
done
cp -p /var/lib/tenpo/hub.json "$work/hub.json"
sed -i 's/"secret": "[^"]*"/"secret": "not-the-secret"/' /var/lib/tenpo/hub.json
if tenpo-agent doctor --config /etc/tenpo/agent.toml > "$work/doctor.out"; then fail "doctor passed with a wrong secret"; fi
expect "$work/doctor.out" "FAIL the hub refuses this terminal's credentials .*" '     fix: enrol again .*'
cp -p "$work/hub.json" /var/lib/tenpo/hub.json

step "the kiosk, from its package, as tenpo-kiosk: its first frame under Xvfb"
# The token handed over as the unit's LoadCredential= does: a copy only the kiosk's user reads.
install -o tenpo-kiosk -g tenpo-kiosk -m 0400 /var/lib/tenpo/api-token "$work/kiosk-token"
chmod 755 "$work"
HOME=/var/lib/tenpo-kiosk TENPO_API_TOKEN_FILE="$work/kiosk-token" timeout 120 \
  xvfb-run -a -s "-screen 0 1280x800x24 -ac" \
  setpriv --reuid=tenpo-kiosk --regid=tenpo-kiosk --init-groups -- \
  /usr/bin/tenpo-kiosk --windowed --exit-after-first-frame > "$work/kiosk.out" 2>&1 \
  || { cat "$work/kiosk.out"; fail "the installed kiosk did not show its first frame"; }
cat "$work/kiosk.out"

step "stop the agent (SIGTERM) and the hub; doctor says the hub is down"
kill -TERM "$agent_pid"; wait "$agent_pid" || fail "the agent did not stop cleanly"
grep -q 'tenpo-agent stopped' "$work/agent.log" || fail "no clean stop in the agent's log"
kill -TERM "$hub_pid"; wait "$hub_pid" || fail "the hub did not stop cleanly"
if tenpo-agent doctor --config /etc/tenpo/agent.toml > "$work/doctor.out"; then fail "doctor passed with the hub down"; fi
expect "$work/doctor.out" 'FAIL hub http://127\.0\.0\.1:7400 not reachable: .*' '     fix: check the network.*' \
  'FAIL agent not running \(not answering at 127\.0\.0\.1:7480\)' '2 problem\(s\) found'

step "upgrade: a database written by the previous release (schema v1)"
fixture=packaging/tests/upgrade-v1
old=/var/lib/tenpo/upgrade-check
install -d -o tenpo -g tenpo -m 0750 "$old"
runuser -u tenpo -- sqlite3 "$old/tenpo.db" < "$fixture/tenpo-v1.sql"
[ "$(sqlite3 "$old/tenpo.db" 'PRAGMA user_version')" = 1 ] || fail "the fixture is not schema v1"
"${as_tenpo[@]}" /usr/bin/tenpo-agent run --data-dir "$old" --listen 127.0.0.1:17482 \
  --store-id demo-store --terminal-id demo-till-1 \
  --rules /usr/share/doc/tenpo-terminal/examples/demo-rules.toml 2>"$work/upgrade.log" &
upgrade_pid=$!; pids+=("$upgrade_pid")
wait_http http://127.0.0.1:17482/v1/health
backup=$(ls "$old"/backups/tenpo-v1-*.db)
[ "$(stat -c %U "$backup")" = tenpo ] || fail "the backup is not the agent's"
[ "$(sqlite3 "$backup" 'PRAGMA user_version; SELECT COUNT(*) FROM sales' | tr '\n' ' ')" = "1 7 " ] \
  || fail "the backup is not the v1 database"
token=$(cat "$old/api-token")
n=0
while IFS=$'\t' read -r path body; do
  n=$((n + 1))
  code=$(curl -s -o "$work/replay.json" -w '%{http_code}' -X POST "http://127.0.0.1:17482$path" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$body")
  [ "$code" = 200 ] || fail "v1 request $n ($path) answered $code after the upgrade"
  cmp -s "$work/replay.json" "$fixture/answer-$n.json" || fail "v1 request $n: not the v1 answer"
done < "$fixture/requests.tsv"
[ "$n" = 8 ] || fail "replayed $n v1 requests, not 8"
curl -fsS http://127.0.0.1:17482/metrics > "$work/upgrade.metrics"
expect "$work/upgrade.metrics" 'tenpo_agent_events_pending 9' 'tenpo_agent_sales_total 7' 'tenpo_agent_refunds_total 1'
kill -TERM "$upgrade_pid"; wait "$upgrade_pid" || fail "the upgraded agent did not stop cleanly"
# The schema this release writes, as its own database (made fresh by the install above) has it.
current=$(sqlite3 /var/lib/tenpo/tenpo.db 'PRAGMA user_version')
[ "$current" -gt 1 ] || fail "the installed agent's database is at schema $current"
[ "$(sqlite3 "$old/tenpo.db" 'PRAGMA user_version')" = "$current" ] \
  || fail "not migrated to this release's schema ($current)"
# The four v1 members were each sold to at the till: their local states moved with them.
[ "$(sqlite3 "$old/tenpo.db" 'SELECT COUNT(*) FROM member_states')" = 4 ] \
  || fail "the v1 members' local states were not carried over"
rm -rf "$old"

step "reinstall keeps a changed config and the data; remove and purge keep the data"
echo "# changed by CI" >> /etc/tenpo/agent.toml
dpkg -i --force-confold "$terminal_deb" >/dev/null
tail -1 /etc/tenpo/agent.toml | grep -qx '# changed by CI' || fail "reinstall replaced the changed config"
[ -f /var/lib/tenpo/hub.json ] && [ -f /var/lib/tenpo/tenpo.db ] || fail "reinstall lost data"
apt-get remove -y -qq tenpo-terminal tenpo-hub >/dev/null
[ ! -e /usr/bin/tenpo-agent ] || fail "remove left the program"
[ -f /etc/tenpo/agent.toml ] && [ -f /var/lib/tenpo/tenpo.db ] || fail "remove must keep the config and the data"
apt-get purge -y -qq tenpo-terminal tenpo-hub >/dev/null
[ ! -e /etc/tenpo/agent.toml ] || fail "purge left the config"
[ -f /var/lib/tenpo/tenpo.db ] && [ -f /var/lib/tenpo-hub/hub.db ] || fail "purge must keep the data"
rm -rf /var/lib/tenpo /var/lib/tenpo-hub   # this machine's copy, made by this run

step "Windows: the agent cross-built, its MSI"
if ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu \
  && ! rustup target add x86_64-pc-windows-gnu; then
  echo "== packages: WINDOWS SKIPPED: the Rust target x86_64-pc-windows-gnu cannot be installed here"
  exit 0
fi
msi=$(bash packaging/windows/build-msi.sh target/windows | tail -1)
msi_table() { msiinfo export "$msi" "$1" | tr -d '\r'; }   # msiinfo writes CRLF
msi_table File | tee "$work/msi.files"
expect "$work/msi.files" 'AgentExe	Agent	tenpo-agent\.exe	[0-9]+			512	1' \
  'ExampleConfig	Agent	agent\.example\.toml	[0-9]+			512	2'
msi_table ServiceInstall | tee "$work/msi.service"
expect "$work/msi.service" 'AgentService	tenpo-agent	tenpo terminal agent	16	2	1			LocalSystem		service --config "\[CommonAppDataFolder\]tenpo\\agent\.toml"	Agent	.*'
msi_table ServiceControl | tee "$work/msi.control"
# 162: stop on install (an upgrade) and on removal, delete on removal.
expect "$work/msi.control" 'AgentServiceControl	tenpo-agent	162		1	Agent'
msi_table CustomAction | tee "$work/msi.actions"
# 3090: run an installed program (18), deferred (1024), as SYSTEM (2048), failing the install.
expect "$work/msi.actions" 'WindowsSetup	3090	AgentExe	windows-setup	'
msi_table InstallExecuteSequence > "$work/msi.sequence"
expect "$work/msi.sequence" 'InstallServices	VersionNT	5800' 'WindowsSetup	NOT REMOVE	5850' 'StartServices	VersionNT	5900'

step "Windows: the MSI installed and run as a service under wine"
bash packaging/windows/wine-smoke.sh "$msi"

step "done"
