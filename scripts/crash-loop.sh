#!/usr/bin/env bash
# The long form of the crash loop (tests/api/crash_loop.rs): 16 concurrent
# senders push at least 20,000 distinct pushes while the server is killed
# with SIGKILL every 1-3 s (at least 10 times) and restarted; then checks that
# no push answered 200 is missing, none is stored twice, integrity_check was
# ok after every restart, and reprocess rebuilds the live projection.
# `--release` runs it against the release binary. The figures are printed at
# the end ("crash loop (...): N pushes answered 200 ...").
set -euo pipefail
cd "$(dirname "$0")/.."
profile=()
if [ "${1:-}" = "--release" ]; then
  profile=(--release)
fi
UDESK_CALLS_CRASH_LONG=1 exec nice -n 19 cargo test "${profile[@]}" --test api \
  crash_loop:: -- --nocapture
