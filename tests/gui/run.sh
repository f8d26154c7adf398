#!/usr/bin/env bash
# Runs the GUI end-to-end suite: the built app (target/debug/sockscope-app) under a private
# Xvfb display, driven by tauri-driver + WebKitWebDriver from pytest/selenium.
# Everything it starts is stopped on exit. Screenshots land in target/gui/.
set -euo pipefail
cd "$(dirname "$0")/../.."

for bin in target/debug/sockscope-app target/debug/sockscope-echo-server; do
  [ -x "$bin" ] || { echo "run.sh: $bin is missing; run 'make app' first" >&2; exit 1; }
done
command -v Xvfb >/dev/null || { echo "run.sh: Xvfb is missing; run 'make deps-test'" >&2; exit 1; }

# A free display number of our own, so a developer's desktop is never used.
num=""
for d in $(seq 99 160); do
  if [ ! -e "/tmp/.X11-unix/X$d" ] && [ ! -e "/tmp/.X$d-lock" ]; then num=$d; break; fi
done
[ -n "$num" ] || { echo "run.sh: no free X display" >&2; exit 1; }

Xvfb ":$num" -screen 0 1440x900x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
trap 'kill "$xvfb_pid" 2>/dev/null || true; wait "$xvfb_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  [ -e "/tmp/.X11-unix/X$num" ] && break
  sleep 0.1
done
export DISPLAY=":$num"
export PATH="$HOME/.cargo/bin:$PATH"
mkdir -p target/gui
# A test whose page WebKitWebDriver lost (its web process crashed or stopped answering: see
# WEBDRIVER_LOST in conftest.py) runs once more; what the processes were doing is kept in
# target/gui/webdriver-lost.log and printed here, so a rerun that passed is still seen.
rm -f target/gui/webdriver-lost.log
status=0
.venv/bin/python -m pytest -v -p no:cacheprovider -rR tests/gui "$@" || status=$?
if [ -s target/gui/webdriver-lost.log ]; then
  echo "run.sh: WebKitWebDriver lost the page during the suite (the test ran again):" >&2
  cat target/gui/webdriver-lost.log >&2
fi
exit "$status"
