#!/usr/bin/env bash
# make bench-ui: the timeline with a million frames, in the real app under a private Xvfb.
# Writes a temporary database (the store's timeline_db example), opens it through
# tauri-driver + WebKitWebDriver (tests/gui/bench_ui.py) and prints a table.
# FRAMES=N overrides the size; RATE=N the frames/s a local server pushes to a live connection
# for the ingest figures (default 20000; 0 = as fast as it can), INGEST_SECONDS how long they
# are taken (default 10), FLOOD=N how many frames it pushes (default RATE x INGEST_SECONDS);
# INGEST_ONLY=1 skips the million-frame part (no database to write: a quick ingest run);
# BENCH_ARGS adds options of tests/gui/bench_ui.py (e.g. "--stats", "--view still", "--perf DIR");
# BENCH_DB=FILE reuses a database an earlier run of timeline_db wrote (session 1).
# Everything it starts is stopped on exit, and the database is deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${FRAMES:-1000000}
FLOOD=${FLOOD:-0}
RATE=${RATE:-20000}
INGEST_SECONDS=${INGEST_SECONDS:-10}

cargo build -q -p sockscope-store --example timeline_db
for bin in target/debug/sockscope-app target/debug/examples/timeline_db; do
  [ -x "$bin" ] || { echo "bench-ui: $bin is missing; run 'make app' first" >&2; exit 1; }
done
command -v Xvfb >/dev/null || { echo "bench-ui: Xvfb is missing; run 'make deps-test'" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sockscope-bench-ui.XXXXXX")
xvfb_pid=""
cleanup() {
  [ -n "$xvfb_pid" ] && { kill "$xvfb_pid" 2>/dev/null || true; wait "$xvfb_pid" 2>/dev/null || true; }
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ -n "${INGEST_ONLY:-}" ]; then
  session=0
elif [ -n "${BENCH_DB:-}" ]; then
  cp "$BENCH_DB" "$tmp/bench.db"
  session=1
else
  echo "bench-ui: writing $FRAMES frames into $tmp/bench.db"
  session=$(target/debug/examples/timeline_db "$tmp/bench.db" "$FRAMES" | awk '/^session /{print $2}')
fi

num=""
for d in $(seq 99 160); do
  if [ ! -e "/tmp/.X11-unix/X$d" ] && [ ! -e "/tmp/.X$d-lock" ]; then num=$d; break; fi
done
[ -n "$num" ] || { echo "bench-ui: no free X display" >&2; exit 1; }
Xvfb ":$num" -screen 0 1440x900x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
for _ in $(seq 1 50); do
  [ -e "/tmp/.X11-unix/X$num" ] && break
  sleep 0.1
done
export DISPLAY=":$num"
export PATH="$HOME/.cargo/bin:$PATH"
args=(--db "$tmp/bench.db" --flood "$FLOOD" --rate "$RATE" --seconds "$INGEST_SECONDS")
if [ -n "${INGEST_ONLY:-}" ]; then args+=(--ingest-only); else args+=(--session "$session" --frames "$FRAMES"); fi
# shellcheck disable=SC2206
extra=(${BENCH_ARGS:-})
.venv/bin/python tests/gui/bench_ui.py "${args[@]}" "${extra[@]}"
