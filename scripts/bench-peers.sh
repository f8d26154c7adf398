#!/usr/bin/env bash
# Installs the relays `make bench` compares Sockscope with, each into the project, idempotently.
# A peer that cannot be installed is skipped (the bench says so in its table).
#   websocat   cargo install --locked (1.x) into target/bench-tools
#   mitmdump   mitmproxy in .venv (pip)
#   node `ws`  npm ci in tests/peers
set -uo pipefail
cd "$(dirname "$0")/.."
TOOLS=target/bench-tools

if [ ! -x "$TOOLS/bin/websocat" ] && ! command -v websocat >/dev/null 2>&1; then
  echo "bench: installing websocat into $TOOLS (cargo install --locked, a few minutes)"
  mkdir -p "$TOOLS"
  cargo install --locked websocat --version '^1' --root "$TOOLS" >"$TOOLS/install.log" 2>&1 \
    || echo "bench: could not install websocat (see $TOOLS/install.log); its column is skipped"
fi

if [ ! -x .venv/bin/mitmdump ]; then
  echo "bench: installing mitmproxy into .venv"
  { [ -x .venv/bin/python ] || python3 -m venv .venv; } \
    && .venv/bin/pip install -q "$(grep -i '^mitmproxy' tests/requirements.txt || echo mitmproxy)" \
    || echo "bench: could not install mitmproxy; the mitmdump column is skipped"
fi

if [ ! -d tests/peers/node_modules/ws ]; then
  if command -v npm >/dev/null 2>&1; then
    (cd tests/peers && npm ci --no-audit --no-fund) \
      || echo "bench: could not install ws; the node relay column is skipped"
  else
    echo "bench: npm is missing; the node relay column is skipped"
  fi
fi
exit 0
