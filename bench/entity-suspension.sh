#!/usr/bin/env bash
# The store's side of suspending a large entity: USERS users (default 20,000), each with a seat and
# a key, are written by the store example `populate_directory`; the example `suspend_entity` then
# times the transaction that suspends the entity and releases every seat with its audit event.
# A measurement, not a test.
#
# Usage: bash bench/entity-suspension.sh [USERS]     (from the repository root)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
USERS=${1:-20000}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -p store --example populate_directory --example suspend_entity
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fabrique-suspension-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"$TARGET_DIR/release/examples/populate_directory" "$WORK/data" "$USERS" "$WORK/secrets"
"$TARGET_DIR/release/examples/suspend_entity" "$WORK/data"
