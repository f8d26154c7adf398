# Sockscope — the two commands a newcomer needs:
#   make run    installs what is missing, builds the UI and the app, opens the window
#   make test   installs what the tests need, then runs every test (the same as CI)
# Other targets: make deps | ui | app | lint | test-rust | test-ui | test-gui | screenshot | bench | bench-ui | soak | fuzz | clean

SHELL := /bin/bash
CARGO ?= cargo
# One shared target/ for builds, tests and the GUI suite.
export CARGO_TERM_COLOR ?= never

.PHONY: run deps deps-test ui app lint test test-rust test-ui test-gui screenshot bench bench-soak bench-ui clean fuzz fuzz-smoke soak soak-ci

# Fuzzing (fuzz/, cargo-fuzz on a pinned nightly; scripts/fuzz.sh, docs/reliability.md): one
# build of all five targets, then each runs FUZZ_SECONDS on its seeds and the local corpus
# (target/fuzz-none/corpus/TARGET). A crash fails the target and leaves the input in
# target/fuzz-none/artifacts/TARGET/ (the message says which file and how to replay it).
# `make fuzz` is the long run, `make fuzz-smoke` what `make test` runs; both build without a
# sanitizer into target/fuzz-none (shared: the smoke's build serves `make fuzz`);
# FUZZ_SANITIZER=address builds an AddressSanitizer variant into target/fuzz-address.
FUZZ_SECONDS ?= 600
FUZZ_SANITIZER ?= none
FUZZ_SMOKE_SECONDS ?= 60
FUZZ_SMOKE_BUILD ?= release
FUZZ_TARGETS ?= observer proxy_head jsonl_import har_import decoders

run: deps ui app
	./target/debug/sockscope-app $(ARGS)

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

ui: deps
	cd ui && npm run build

app: ui
	$(CARGO) build --workspace --bins

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-ui: deps-test
	cd ui && npm run check && npm test && npm run test:ui

test-rust: app
	$(CARGO) test --workspace

test-gui: deps-test app
	tests/gui/run.sh

test: deps-test test-ui app lint test-rust test-gui soak-ci fuzz-smoke
	@echo "make test: all suites passed"

fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_SANITIZER=$(FUZZ_SANITIZER) \
	  scripts/fuzz.sh $(FUZZ_TARGETS)

# The smoke first checks the harness (the selftest target must crash on its planted seed and
# the input must be saved), then runs every target FUZZ_SMOKE_SECONDS.
fuzz-smoke:
	FUZZ_SECONDS=30 FUZZ_EXPECT_CRASH=1 FUZZ_SANITIZER=none FUZZ_BUILD=$(FUZZ_SMOKE_BUILD) \
	  scripts/fuzz.sh selftest
	FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) FUZZ_SANITIZER=none FUZZ_BUILD=$(FUZZ_SMOKE_BUILD) \
	  scripts/fuzz.sh $(FUZZ_TARGETS)

# Runs the GUI suite and copies its screenshot into docs/screenshots/.
screenshot: test-gui
	mkdir -p docs/screenshots
	cp target/gui/*.png docs/screenshots/

# Performance (docs/benchmarks.md): release builds of only what the bench runs, its peers
# (websocat, mitmproxy, Node ws) installed into the project, then one table with the targets.
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--workload latency --relay sockscope".
bench:
	$(CARGO) build --release -p sockscope-cli -p sockscope-bench
	@scripts/bench-peers.sh
	./target/release/sockscope-bench run --out target/bench $(BENCH_ARGS)

# Sockscope's memory over 10 minutes of steady traffic.
# The timeline with a million frames in the real app under Xvfb (docs/benchmarks.md, "Timeline (UI)").
bench-ui: deps-test app
	scripts/bench-ui.sh

# The mixed soak (docs/reliability.md, "Soak"): SOAK_CLIENTS connections of Sockscope's client
# engine and SOAK_PROXIED connections through Sockscope's capture proxy to an echo server,
# SOAK_RATE messages/s each, 16 B-64 KiB, 1 % binary garbage, reconnecting every ~SOAK_RECONNECT
# s; RSS, fds, WAL, DB size and rows every 10 s into target/soak/soak.csv and soak.svg. Every
# finished connection / proxy generation is checked (rows, payload digests) and deleted, so the
# databases stay bounded. Fails on a crash, a lost echo or row, or RSS that keeps growing over
# 1 MiB/h after SOAK_WARMUP s. Runs nice'd (SOAK_NICE): the machine may be shared.
SOAK_MINUTES ?= 30
SOAK_CLIENTS ?= 50
SOAK_PROXIED ?= 50
SOAK_RATE ?= 100
SOAK_RECONNECT ?= 120
SOAK_WARMUP ?= 300
SOAK_NICE ?= 10
SOAK_ARGS ?=
soak:
	$(CARGO) build --release -p sockscope-bench
	nice -n $(SOAK_NICE) ./target/release/sockscope-bench soak-mix --minutes $(SOAK_MINUTES) \
	  --client-conns $(SOAK_CLIENTS) --proxied-conns $(SOAK_PROXIED) --rate $(SOAK_RATE) \
	  --reconnect $(SOAK_RECONNECT) --warmup $(SOAK_WARMUP) --out target/soak $(SOAK_ARGS)

# What `make test` runs: 2 minutes on the debug build, lighter load (10 + 10 connections at
# 20 msg/s, reconnecting every ~30 s, so about four proxy generations and 40 client sessions
# are checked and deleted); growth is reported, not judged (too short a window).
soak-ci: app
	./target/debug/sockscope-bench soak-mix --minutes 2 --client-conns 10 --proxied-conns 10 \
	  --rate 20 --reconnect 30 --min-free-gb 2 --out target/soak-ci

bench-soak:
	$(CARGO) build --release -p sockscope-cli -p sockscope-bench
	./target/release/sockscope-bench soak --minutes 10

clean:
	$(CARGO) clean
	rm -rf ui/dist ui/node_modules .venv
