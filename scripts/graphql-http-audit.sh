#!/usr/bin/env bash
# Runs the graphql-http audit suite (npm) against /graphql of a freshly
# started udesk-calls, on a free loopback port with a temporary database.
# Fails on any MUST failure or SHOULD warning.
#
#   scripts/graphql-http-audit.sh [BINARY]
#
# BINARY defaults to the debug build (built if missing or stale). The npm
# packages are installed once into $CARGO_TARGET_DIR/graphql-http-audit (or
# target/graphql-http-audit). Needs node 18 or later and npm.
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHQL_HTTP_VERSION=1.23.1
GRAPHQL_VERSION=16.15.0

target=${CARGO_TARGET_DIR:-target}
modules="$target/graphql-http-audit"
stamp="$modules/installed-$GRAPHQL_HTTP_VERSION-$GRAPHQL_VERSION"
if [ ! -f "$stamp" ]; then
  echo "== installing graphql-http@$GRAPHQL_HTTP_VERSION into $modules"
  rm -rf "$modules"
  mkdir -p "$modules"
  echo '{"private": true}' >"$modules/package.json"
  npm install --prefix "$modules" --no-audit --no-fund --silent \
    "graphql-http@$GRAPHQL_HTTP_VERSION" "graphql@$GRAPHQL_VERSION"
  touch "$stamp"
fi

if [ $# -ge 1 ]; then
  binary=$1
else
  cargo build --quiet --bin udesk-calls
  binary="$target/debug/udesk-calls"
fi

work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A free port: bound by the kernel, released, then taken by the service.
port=$(node -e '
  const server = require("node:net").createServer();
  server.listen(0, "127.0.0.1", () => { console.log(server.address().port); server.close(); });')

# Open mode (no tokens) on loopback, as a local trial runs it, whatever the
# environment says.
for name in $(compgen -e | grep '^UDESK_CALLS_' || true); do
  unset "$name"
done
RUST_LOG=warn "$binary" serve --listen "127.0.0.1:$port" --db "$work/audit.db" \
  2>"$work/server.log" &
server=$!

status=0
GRAPHQL_HTTP_MODULES="$modules" node scripts/graphql-http-audit.mjs \
  "http://127.0.0.1:$port/graphql" || status=$?
if [ "$status" -ne 0 ] && [ -s "$work/server.log" ]; then
  echo "== the service's log"
  cat "$work/server.log"
fi
exit "$status"
