#!/usr/bin/env bash
# Builds the Windows agent and its MSI on Linux:
#   bash packaging/windows/build-msi.sh [OUT_DIR]    (default target/windows)
# Needs the Rust target x86_64-pc-windows-gnu (`rustup target add x86_64-pc-windows-gnu`),
# Debian's gcc-mingw-w64-x86-64 (the linker) and wixl (Debian package `wixl`).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-target/windows}
target_dir=${CARGO_TARGET_DIR:-target}
# PROFILE=dev (CI's package check) builds faster; what ships is the release build.
profile=${PROFILE:-release}
cargo build --profile "$profile" --locked --target x86_64-pc-windows-gnu -p tenpo-agent --bin tenpo-agent
exe="$target_dir/x86_64-pc-windows-gnu/$([ "$profile" = dev ] && echo debug || echo "$profile")/tenpo-agent.exe"
# The workspace's version (every crate takes it).
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
mkdir -p "$out"
x86_64-w64-mingw32-strip -o "$out/tenpo-agent.exe" "$exe"
msi="$out/tenpo-agent-$version-x64.msi"
# wixl takes sources relative to the working directory only.
wixl -a x64 -D Version="$version" -D Exe="$(realpath --relative-to=. "$out/tenpo-agent.exe")" \
  -D Example=packaging/windows/agent.toml -o "$msi" packaging/windows/tenpo-agent.wxs
echo "$msi"
