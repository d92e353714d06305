# Shared by the scripts that start tenpo's servers on 127.0.0.1 for a checker tenpo did not
# write (tests/contract/run.sh, line/tests/sdk/run.sh). Source it after `set -euo pipefail` with
# WHO set to the name errors start with. It makes WORK, a temporary directory; every process
# whose id is added to PIDS is stopped, and WORK removed, when the script exits.

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# venv DIR MODULES PACKAGE…: a virtualenv in DIR whose python imports MODULES (comma-separated),
# made with PACKAGEs from PyPI if it does not yet.
venv() {
  local dir=$1 modules=$2; shift 2
  command -v python3 >/dev/null || { echo "$WHO: python3 is missing (Debian: python3 python3-venv)" >&2; exit 2; }
  if [ ! -x "$dir/bin/python" ] || ! "$dir/bin/python" -c "import $modules" 2>/dev/null; then
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check "$@"
  fi
}

# A port free now on 127.0.0.1.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ready URL: waits up to 30 s for URL to answer 2xx; else shows the logs in WORK and fails.
ready() {
  for _ in $(seq 1 300); do
    python3 -c "import urllib.request; urllib.request.urlopen('$1', timeout=1)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$WHO: $1 never answered; logs:" >&2; tail -n 20 "$WORK"/*.log >&2; exit 1
}
