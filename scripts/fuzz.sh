#!/usr/bin/env bash
# Builds the cargo-fuzz targets (fuzz/) in one cargo invocation and runs each for a set time
# on its seeds and the local corpus. Used by `make fuzz` (long runs) and `make fuzz-smoke`
# (what `make test` runs); see docs/reliability.md, "Fuzzing".
#
#   scripts/fuzz.sh [TARGET...]        (default: every target)
#
# Environment (defaults in brackets):
#   FUZZ_SECONDS      seconds per target [60]
#   FUZZ_SANITIZER    none | address [none]: the smoke builds without a sanitizer (the workspace
#                     forbids unsafe code; libFuzzer still catches panics, failed asserts,
#                     overflows, timeouts and memory blow-ups), `address` for deeper runs
#   FUZZ_BUILD        release | dev [release]: optimised (with debug assertions, cargo-fuzz's
#                     default) or unoptimised (cheaper to build, slower to run)
#   FUZZ_TOOLCHAIN    the pinned nightly [see scripts/deps.sh]
#   FUZZ_OUT          build, corpus, artefacts and logs [target/fuzz-SANITIZER, -dev added
#                     for a dev build]: one per flavour, so that none rebuilds another
#   FUZZ_NICE         nice level for the build and the fuzzing processes [0]
#   FUZZ_EXPECT_CRASH 1: the targets must crash (the `selftest` target checks this script)
#
# Everything lands under $FUZZ_OUT: build/ (cargo target dir), corpus/TARGET/ (grows between
# runs; not committed), artifacts/TARGET/ (crashing inputs), logs/TARGET.log.
# Exit status: 0 when every target built and ran clean; 1 when one crashed (the message says
# where the input is and how to replay it); 2 when the build failed.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

FUZZ_TOOLCHAIN=${FUZZ_TOOLCHAIN:-$(scripts/deps.sh fuzz-toolchain)}
seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-none}
profile=${FUZZ_BUILD:-release}
suffix=""
[ "$profile" = dev ] && suffix="-dev"
out=${FUZZ_OUT:-$root/target/fuzz-$sanitizer$suffix}
nice_level=${FUZZ_NICE:-0}
case "$out" in /*) ;; *) out="$root/$out" ;; esac
all_targets=(observer proxy_head jsonl_import har_import decoders)
expect_crash=${FUZZ_EXPECT_CRASH:-0}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

scripts/deps.sh fuzz || exit 2

mkdir -p "$out/build" "$out/logs"
build_args=(fuzz build -s "$sanitizer" --target-dir "$out/build")
profile_dir=release
case "$profile" in
  release) ;;
  dev) build_args+=(--dev); profile_dir=debug ;;
  *) echo "fuzz: FUZZ_BUILD must be release or dev" >&2; exit 2 ;;
esac
echo "fuzz: building every target (cargo +$FUZZ_TOOLCHAIN ${build_args[*]})"
t0=$(date +%s)
if ! (cd fuzz && nice -n "$nice_level" cargo "+$FUZZ_TOOLCHAIN" "${build_args[@]}"); then
  echo "fuzz: FAILED: the fuzz targets do not build" >&2
  exit 2
fi
echo "fuzz: build took $(($(date +%s) - t0)) s"
bin_dir="$out/build/x86_64-unknown-linux-gnu/$profile_dir"

failed=()
printf '\n| target | s | runs | exec/s | cov | ft | corpus | peak RSS MB | result |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n' >"$out/summary.md"
for t in "${targets[@]}"; do
  bin="$bin_dir/$t"
  if [ ! -x "$bin" ]; then
    echo "fuzz: FAILED: no binary for target '$t' at $bin" >&2
    failed+=("$t")
    continue
  fi
  corpus="$out/corpus/$t"
  art="$out/artifacts/$t"
  log="$out/logs/$t.log"
  mkdir -p "$corpus" "$art"
  marker=$(mktemp)
  echo "fuzz: $t for ${seconds} s (log $log)"
  # The first directory receives new inputs; the seeds (committed) are only read.
  nice -n "$nice_level" "$bin" "$corpus" "fuzz/seeds/$t" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$art/" >"$log" 2>&1
  rc=$?
  fstat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  corp=$(find "$corpus" -type f | wc -l)
  result=clean
  found=""
  if [ $rc -ne 0 ]; then
    found=$(find "$art" -type f -newer "$marker" | head -5)
  fi
  rm -f "$marker"
  if [ "$expect_crash" = 1 ]; then
    # Inverted (the selftest target): the planted crash must stop the run and leave its
    # input behind.
    if [ $rc -ne 0 ] && [ -n "$found" ]; then
      echo "fuzz: selftest: the crash of $t failed the run and its input was saved ($found), as it should"
      result="crashed as expected"
    else
      echo "fuzz: FAILED: $t should have crashed and saved its input (exit $rc, saved: ${found:-nothing})" >&2
      failed+=("$t")
      result="did not crash"
    fi
  elif [ $rc -ne 0 ]; then
    result="CRASH (exit $rc)"
    failed+=("$t")
    echo "fuzz: FAILED: target $t stopped with exit $rc" >&2
    tail -n 40 "$log" >&2
    if [ -n "$found" ]; then
      for f in $found; do
        echo "fuzz: the crashing input is $f" >&2
        echo "fuzz:   replay: (cd fuzz && cargo +$FUZZ_TOOLCHAIN fuzz run ${build_args[*]:2} $t $f)" >&2
        echo "fuzz:   once fixed, keep it as a regression seed: cp $f fuzz/seeds/$t/" >&2
      done
    else
      echo "fuzz: no input was saved under $art (see $log)" >&2
    fi
  fi
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$seconds" "$(fstat number_of_executed_units)" \
    "$(fstat average_exec_per_sec)" "${cov:-?}" "${ft:-?}" "$corp" "$(fstat peak_rss_mb)" "$result" >>"$out/summary.md"
done
cat "$out/summary.md"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs under $out/artifacts/, logs under $out/logs/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s) passed"
