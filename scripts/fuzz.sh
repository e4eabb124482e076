#!/usr/bin/env bash
# The long form of the fuzz targets (tests/api/fuzzing.rs), on stable Rust.
#
#   scripts/fuzz.sh [SECONDS]              bolero's random engine, both targets
#                                          at once, SECONDS each (default 1800),
#                                          in the test profile (debug assertions
#                                          and overflow checks on)
#   scripts/fuzz.sh --libfuzzer [SECONDS]  libFuzzer, coverage-guided, through
#                                          cargo-bolero (installed if missing),
#                                          one target after the other
#
# Both run under `nice -n 19`. A failure prints the input (and, under
# libFuzzer, leaves it under target/fuzz); a hang aborts with the input.
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
)

if [ "$engine" = random ]; then
  UDESK_CALLS_FUZZ_SECONDS=$seconds exec nice -n 19 cargo test --test api \
    fuzzing::the_ -- --nocapture --test-threads 2
fi

if ! cargo bolero --version >/dev/null 2>&1; then
  # libFuzzer only: the AFL and honggfuzz engines need more system libraries.
  cargo install cargo-bolero --version 0.13.5 --locked --no-default-features --features libfuzzer
fi
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER="$PWD/scripts/fuzz-link.sh"
for target in "${targets[@]}"; do
  # --sanitizer NONE: the sanitizers need a nightly compiler; libFuzzer's
  # coverage instrumentation does not.
  # -t: an input is a hang after 60 s (it takes milliseconds; generous
  # for a niced process on a busy machine).
  nice -n 19 cargo bolero test "$target" --sanitizer NONE \
    -T "${seconds}s" -t 60s --max-input-length 4096 \
    --corpus-dir "target/fuzz/corpus/$target" --crashes-dir "target/fuzz/crashes/$target"
done
