#!/usr/bin/env bash
# The long form of the fuzz targets (tests/api/fuzzing.rs, tests/api/fuzz_nesting.rs),
# on stable Rust.
#
#   scripts/fuzz.sh [SECONDS]              bolero's random engine, the three targets
#                                          at once, SECONDS each (default 1800),
#                                          in the test profile (debug assertions
#                                          and overflow checks on)
#   scripts/fuzz.sh --libfuzzer [SECONDS]  libFuzzer, coverage-guided, the three
#                                          targets at once, SECONDS each
#
# Both run under `nice -n 19`. A failure prints the input; under libFuzzer it
# is also kept under target/fuzz/crashes/, and the corpus under
# target/fuzz/corpus/. A hang aborts with the input.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=random
if [ "${1:-}" = "--libfuzzer" ]; then
  engine=libfuzzer
  shift
fi
seconds=${1:-1800}
targets=(
  fuzzing::the_push_parser_survives_any_body_and_parses_stored_pushes_the_same_again
  fuzzing::the_ingest_path_stores_what_each_body_calls_for_and_reprocess_rebuilds_it
  fuzz_nesting::the_push_parser_survives_any_nesting_and_reads_back_what_it_accepted
)

if [ "$engine" = random ]; then
  UDESK_CALLS_FUZZ_SECONDS=$seconds exec nice -n 19 cargo test --test api \
    -- "${targets[@]}" --exact --nocapture --test-threads 3
fi

# The build `cargo bolero test --sanitizer NONE` makes (the sanitizers need a
# nightly compiler; the coverage instrumentation does not), for the one test
# binary: cargo-bolero would also build and run the unit tests, which do not
# link libFuzzer. The `udesk-calls` binary is built beside tests/api and is
# never run; scripts/fuzz-link.sh lets it link.
triple=$(rustc -vV | sed -n 's/^host: //p')
linker_variable="CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_LINKER"
export "$linker_variable=$PWD/scripts/fuzz-link.sh"
export BOLERO_FUZZER=libfuzzer
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module --cfg fuzzing_libfuzzer \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares \
-Cllvm-args=-sanitizer-coverage-stack-depth"
exe=$(nice -n 19 cargo test --profile fuzz --target "$triple" --target-dir target/fuzz/build \
  --test api --no-run --message-format=json \
  | grep -o '"executable":"[^"]*/api-[^"]*"' | tail -n 1 | cut -d'"' -f4)
echo "fuzzing with $exe for ${seconds}s per target"

pids=()
for target in "${targets[@]}"; do
  corpus=target/fuzz/corpus/${target#*::}
  crashes=target/fuzz/crashes/${target#*::}
  mkdir -p "$corpus" "$crashes"
  # -timeout: an input is a hang after 60 s (it takes milliseconds; generous
  # for a niced process on a busy machine).
  BOLERO_TEST_NAME="$target" BOLERO_LIBTEST_HARNESS=1 \
    BOLERO_LIBFUZZER_ARGS="$corpus $crashes -artifact_prefix=$crashes/ -timeout=60 \
-max_total_time=$seconds -max_len=4096 -len_control=0" \
    nice -n 19 "$exe" "$target" --exact --nocapture --quiet --test-threads 1 \
    > "target/fuzz/${target#*::}.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done
for target in "${targets[@]}"; do
  log="target/fuzz/${target#*::}.log"
  echo "== $target ($log)"
  grep -E '^(#[0-9]+[[:space:]]+DONE|Done|==[0-9]+== ERROR|SUMMARY)' "$log" || true
  tail -n 3 "$log"
done
exit "$status"
