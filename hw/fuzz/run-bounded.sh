#!/usr/bin/env bash
# Bounded fuzzing of tenpo-hw's scan pipeline (Framer → parse_frame → classify), for CI.
#
# Installs cargo-fuzz when missing, builds the `scan` target (not counted in the budget), then
# fuzzes for FUZZ_SECONDS (default 45, at most 60). Exits non-zero when libFuzzer finds a crash,
# a panic or a timeout; the input that did it is left in hw/fuzz/artifacts/scan/ (git-ignored),
# and `RUSTC_BOOTSTRAP=1 cargo fuzz run scan artifacts/scan/<file>` replays it.
#
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain take them.
set -euo pipefail
cd "$(dirname "$0")"

budget="${FUZZ_SECONDS:-45}"
if ! [[ "$budget" =~ ^[0-9]+$ ]] || ((budget < 1)); then
    echo "FUZZ_SECONDS must be a positive number of seconds, not '$budget'" >&2
    exit 2
fi
((budget > 60)) && budget=60

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

cargo fuzz build scan

# Seeds, so that the first seconds are not spent finding a line end. Input layout: a config
# byte, a read-length byte, then the stream (see fuzz_targets/scan.rs). Bit 7 of the config byte
# makes the next 23 bytes a card token that the target signs.
seeds="$(mktemp -d)"
trap 'rm -rf "$seeds"' EXIT
printf '\x00\x05]E02000000000015\rA1234B\r4901234567894\r' >"$seeds/codes"
printf '\x13\x01]F0A37859+B\n]C12000000000015\n' >"$seeds/codabar-mod16"
printf '\x07\x40\x02]Q1T1.AQID\x03\x02A1234B\x03' >"$seeds/stx-etx"
printf '\x80\x09\x01\x00\x00\x00\x01\x00\x00\x01\xd1\xa9\x4a\x20\x0f\x00\x00\x00\x00\x00\x00\x00\x01\x2c' >"$seeds/card"

mkdir -p corpus/scan
status=0
cargo fuzz run scan corpus/scan "$seeds" -- \
    -max_total_time="$budget" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 || status=$?
if ((status != 0)); then
    echo "fuzzing found a failure (exit $status): see hw/fuzz/artifacts/scan/" >&2
fi
exit "$status"
