#!/usr/bin/env bash
# bench/peers.sh: Fabrique as one more row of the peer-comparison harness (`run-peers.sh`, which
# loads nginx as a proxy, litellm-rs and others against one mock upstream, one after another, and
# prints one Markdown table; it is kept outside this repository and installs its peers itself).
#
# This script starts a release Fabrique on bench/fabrique-bench.toml (plus bench/governance.toml
# with GOVERNANCE=on), creates a bench user whose key the harness sends (with GOVERNANCE=on that key
# has a rate limit and the user a monthly budget, far above what a run spends), and hands the
# running gateway to the harness as its EXTRA row (EXTRA_PID gives its CPU columns).
#
# Usage:  PEERS_HARNESS=<path to run-peers.sh> GOVERNANCE=on bash bench/peers.sh
# Knobs (environment): GOVERNANCE=on|off (default on); PEERS="nginx-proxy litellm-rs" (the
# harness's peers); CONNS, MODES, DURATION and the harness's other knobs pass through;
# FABRIQUE_BIN (default <target dir>/release/fabrique, built when missing); WORK=/tmp/fabrique-peers.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
PEERS_HARNESS=${PEERS_HARNESS:?set PEERS_HARNESS to the path of run-peers.sh}
GOVERNANCE=${GOVERNANCE:-on}
WORK=${WORK:-/tmp/fabrique-peers}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
FABRIQUE_BIN=${FABRIQUE_BIN:-$TARGET_DIR/release/fabrique}
FABRIQUE_ADDR=${FABRIQUE_ADDR:-127.0.0.1:9000}
FABRIQUE_URL=http://$FABRIQUE_ADDR
LOGS=$WORK/logs
RESULTS=$WORK/results/$(date +%Y%m%d-%H%M%S)-governance-$GOVERNANCE
mkdir -p "$LOGS" "$RESULTS"
# shellcheck source=lib/processes.sh
source "$HERE/lib/processes.sh"
# shellcheck source=lib/fabrique.sh
source "$HERE/lib/fabrique.sh"

case $GOVERNANCE in
    on) FABRIQUE_CONFIG=$RESULTS/fabrique.toml
        cat "$HERE/fabrique-bench.toml" "$HERE/governance.toml" > "$FABRIQUE_CONFIG" ;;
    off) FABRIQUE_CONFIG=$HERE/fabrique-bench.toml ;;
    *) die "GOVERNANCE must be on or off, not '$GOVERNANCE'" ;;
esac
[[ -x $FABRIQUE_BIN ]] || (cd "$REPO_ROOT" && cargo build --release --bin fabrique)

start_fabrique
EXTRA_NAME="fabrique-governance-$GOVERNANCE" \
EXTRA_URL=$FABRIQUE_URL/v1/chat/completions \
EXTRA_STREAM_URL=$FABRIQUE_URL/v1/chat/completions \
EXTRA_HEADERS="Authorization: Bearer $BEARER" \
EXTRA_PID=$TARGET_PID \
PEERS=${PEERS-nginx-proxy litellm-rs} \
    bash "$PEERS_HARNESS" | tee "$RESULTS/table.md"
