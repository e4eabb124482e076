#!/bin/sh
# The linker `scripts/fuzz.sh --libfuzzer` builds with: cc, letting symbols
# stay undefined. Every crate is instrumented for coverage, and the coverage
# hooks are defined by libFuzzer, which only the test binary that runs it
# (tests/api, through bolero) links in; the `udesk-calls` binary, built
# beside it for the tests, would not link otherwise, and is never run.
exec cc "$@" -Wl,--unresolved-symbols=ignore-all
