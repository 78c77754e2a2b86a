#!/usr/bin/env bash
# bench/policy-scan.sh: throughput of the personal-data detectors (crates/policy) on one core.
#
# Builds the `scan_bench` example in release mode and runs it: it generates ~SIZE_MB of typical
# French business prose in memory (contracts, invoices, meetings, amounts, dates, with emails,
# phones, IBANs, SIRETs and IPs sprinkled at a low density), scans it RUNS times with every
# detector on, single-threaded, and prints MB/s (10^6 bytes/s) per run, the best run, and the
# spans found per type. The target the gateway's inspect stage needs is 100 MB/s on one core.
#
# Usage, from anywhere:  bash bench/policy-scan.sh
# Knobs (environment):
#   SIZE_MB=200   corpus size        RUNS=3   scans of the whole corpus
#   CPU=0         core to pin to with taskset when available (empty: no pinning)
#   CARGO_TARGET_DIR   honoured as cargo honours it
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
SIZE_MB=${SIZE_MB:-200}
RUNS=${RUNS:-3}
CPU=${CPU-0}

cd "$REPO_ROOT"
cargo build --release -p policy --example scan_bench
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
BIN="$TARGET_DIR/release/examples/scan_bench"

PIN=()
if [[ -n "$CPU" ]] && command -v taskset >/dev/null; then
  PIN=(taskset -c "$CPU")
fi
"${PIN[@]}" "$BIN" "$SIZE_MB" "$RUNS"
