# Sockscope — the two commands a newcomer needs:
#   make run    installs what is missing, builds the UI and the app, opens the window
#   make test   installs what the tests need, then runs every test (the same as CI)
# Other targets: make deps | ui | app | lint | test-rust | test-ui | test-gui | screenshot | bench | bench-ui | soak | fuzz | clean

SHELL := /bin/bash
CARGO ?= cargo
# One shared target/ for builds, tests and the GUI suite.
export CARGO_TERM_COLOR ?= never

.PHONY: run deps deps-test ui app lint test test-rust test-ui test-gui screenshot bench bench-soak bench-ui clean fuzz fuzz-smoke soak soak-ci

# Fuzzing (fuzz/, cargo-fuzz on nightly; docs/reliability.md): `make fuzz` runs each target
# FUZZ_SECONDS (default 300); `make test` runs a short smoke (FUZZ_SMOKE_SECONDS each) so
# that they keep building.
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_TARGETS := observer proxy_head jsonl_import har_import decoders

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

test: deps-test test-ui app lint test-rust test-gui soak-ci
	@echo "make test: all suites passed"

fuzz: deps-test
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  mkdir -p corpus/$$t && \
	  $(CARGO) +nightly fuzz run $$t corpus/$$t seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 || exit 1; \
	done

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)

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
# engine and SOAK_PROXIED connections through `sockscope proxy` to an echo server, SOAK_RATE
# messages/s each, 16 B-64 KiB, 1 % binary garbage, reconnecting every ~SOAK_RECONNECT s; RSS,
# fds, WAL and rows every 10 s into target/soak/soak.csv and soak.svg. Fails on a crash, a lost
# echo or recorded frame, or RSS growth over 1 MiB/h after warm-up.
SOAK_MINUTES ?= 30
SOAK_CLIENTS ?= 50
SOAK_PROXIED ?= 50
SOAK_RATE ?= 100
SOAK_RECONNECT ?= 180
soak:
	$(CARGO) build --release -p sockscope-cli -p sockscope-bench
	./target/release/sockscope-bench soak-mix --minutes $(SOAK_MINUTES) \
	  --client-conns $(SOAK_CLIENTS) --proxied-conns $(SOAK_PROXIED) --rate $(SOAK_RATE) \
	  --reconnect $(SOAK_RECONNECT) --sockscope target/release/sockscope --out target/soak

# What `make test` runs: 2 minutes on the debug build, lighter load (10 + 10 connections at
# 20 msg/s, reconnecting every ~30 s); the slope is reported, not judged (too short a window).
soak-ci: app
	./target/debug/sockscope-bench soak-mix --minutes 2 --client-conns 10 --proxied-conns 10 \
	  --rate 20 --reconnect 30 --sockscope target/debug/sockscope --out target/soak-ci

bench-soak:
	$(CARGO) build --release -p sockscope-cli -p sockscope-bench
	./target/release/sockscope-bench soak --minutes 10

clean:
	$(CARGO) clean
	rm -rf ui/dist ui/node_modules .venv
