#!/usr/bin/env bash
# Installs what Sockscope needs on Debian/Ubuntu, idempotently.
#   scripts/deps.sh build   -> system packages to build and run the app
#   scripts/deps.sh test    -> plus Xvfb, WebKitWebDriver, tauri-driver, Python/Node peers
set -euo pipefail
cd "$(dirname "$0")/.."
want="${1:-build}"

# Fuzzing (fuzz/, scripts/fuzz.sh): a pinned nightly (minimal profile, ~12 s to install) and
# cargo-fuzz. Pinned so that a new nightly cannot break `make test` overnight; move the date
# forward by hand (any nightly that builds fuzz/ will do).
FUZZ_TOOLCHAIN="${FUZZ_TOOLCHAIN:-nightly-2026-05-20}"
CARGO_FUZZ_VERSION="0.13.2"
install_fuzz() {
  if ! command -v rustup >/dev/null 2>&1; then
    echo "deps: rustup is missing (https://rustup.rs); the fuzz targets need a nightly toolchain" >&2
    exit 1
  fi
  if ! rustup run "$FUZZ_TOOLCHAIN" rustc -V >/dev/null 2>&1; then
    echo "deps: installing Rust $FUZZ_TOOLCHAIN (minimal profile) for the fuzz targets"
    rustup toolchain install "$FUZZ_TOOLCHAIN" --profile minimal
  fi
  if ! cargo fuzz --version 2>/dev/null | grep -q "cargo-fuzz"; then
    echo "deps: installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
  fi
}
case "$want" in
  fuzz-toolchain) echo "$FUZZ_TOOLCHAIN"; exit 0 ;;
  fuzz) install_fuzz; exit 0 ;;
esac

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

BUILD_PKGS="libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev build-essential pkg-config libssl-dev curl file nodejs npm"
TEST_PKGS="xvfb xauth imagemagick webkit2gtk-driver python3-venv chromium openssl"

missing=()
pkgs="$BUILD_PKGS"
[ "$want" = test ] && pkgs="$pkgs $TEST_PKGS"
for p in $pkgs; do
  # nodejs/npm may come from elsewhere (nvm, nodesource): accept any working binary
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "deps: Rust is missing; install it with rustup (https://rustup.rs) and run again" >&2
  exit 1
fi

# UI packages
if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  (cd ui && npm ci --no-audit --no-fund)
fi

if [ "$want" = test ]; then
  # tauri-driver: pinned to 2.x (an unpinned install may pick a 3.0 alpha)
  if ! command -v tauri-driver >/dev/null 2>&1; then
    cargo install tauri-driver --locked --version '^2'
  fi
  install_fuzz
  # Python peers and the WebDriver client live in a project-local venv
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import selenium, pytest, pytest_rerunfailures, websockets, cryptography, mitmproxy' 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install -q -r tests/requirements.txt
  fi
  # Node peers of the capture-proxy tests (tests/peers: the `ws` library)
  if [ ! -d tests/peers/node_modules ] || [ tests/peers/package-lock.json -nt tests/peers/node_modules/.package-lock.json ]; then
    (cd tests/peers && npm ci --no-audit --no-fund)
  fi
fi
