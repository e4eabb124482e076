#!/bin/sh
# The linker `scripts/fuzz.sh --libfuzzer` builds with: cc, letting symbols
# stay undefined. cargo-bolero instruments every crate for coverage, and the
# coverage hooks are defined by libFuzzer, which only the test binary that
# runs it (tests/api) links in; the others (the `udesk-calls` binary, the
# unit tests) would not link, and are never run by the fuzzer.
exec cc "$@" -Wl,--unresolved-symbols=ignore-all
