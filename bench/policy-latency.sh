#!/usr/bin/env bash
# bench/policy-latency.sh: what the gateway's inspect stage adds per request, in process.
#
# Builds the `policy_latency` example in release mode and runs it: a 2 KB chat body without and
# with personal data goes through the stage's steps (texts read, every detector, rewrite and
# re-serialization when something is found, pseudonyms put back into an answer). Prints the
# median µs per request of each, against the body parse every request already pays, and the ratio
# with / without personal data. Not the end-to-end p99: see bench/gateway.sh for the hop itself.
#
# Usage, from anywhere:  bash bench/policy-latency.sh
# Knobs (environment):  BATCHES=400 (batches of 200 requests)   CPU=0 (taskset core; empty: none)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
BATCHES=${BATCHES:-400}
CPU=${CPU-0}

cd "$REPO_ROOT"
cargo build --release -p policy --example policy_latency
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
BIN="$TARGET_DIR/release/examples/policy_latency"

PIN=()
if [[ -n "$CPU" ]] && command -v taskset >/dev/null; then
  PIN=(taskset -c "$CPU")
fi
"${PIN[@]}" "$BIN" "$BATCHES"
