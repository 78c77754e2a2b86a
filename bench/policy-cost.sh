#!/usr/bin/env bash
# bench/policy-cost.sh: what one scan of a 4 KB prompt without personal data costs, in time and in
# instructions.
#
# Builds the policy crate's `scan_cost` example in release mode, prints its best time per scan for
# two prompts (plain prose; prose full of dates, amounts and references), then — when valgrind is
# installed — the instructions per scan of each, counted by cachegrind as the difference between
# runs of 200 and 100 scans (so start-up is left out). Instruction counts do not move with the
# machine's load, so they compare two builds on a busy host where times cannot.
#
# Usage, from anywhere:  bash bench/policy-cost.sh
# Knobs (environment):  CARGO_TARGET_DIR  honoured as cargo honours it
#   BIN=path  an already built scan_cost to measure (e.g. one built from another commit)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
BIN=${BIN:-}
if [[ -z $BIN ]]; then
    (cd "$REPO_ROOT" && cargo build --release -p policy --example scan_cost)
    BIN=$TARGET_DIR/release/examples/scan_cost
fi

"$BIN"
if ! command -v valgrind > /dev/null; then
    echo "valgrind is not installed: no instruction counts (apt-get install valgrind)"
    exit 0
fi
instructions() {
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$BIN" "$1" "$2" 2>&1 \
        | sed -n 's/.*I *refs: *//p' | tr -d ,
}
for text in prose business; do
    few=$(instructions 100 "$text")
    many=$(instructions 200 "$text")
    echo "$text: $(( (many - few) / 100 )) instructions per scan"
done
