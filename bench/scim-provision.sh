#!/usr/bin/env bash
# Provisioning at scale: 100,000 users through POST /scim/v2/Users with 32 concurrent clients
# against a release build on SQLite, then the latency of `GET /Users?filter=userName eq "…"`.
# Bars: provisioning under 2 minutes, the filtered lookup under 20 ms. A measurement, not a test.
#
# Usage: bash bench/scim-provision.sh [USERS] [CLIENTS]     (from the repository root)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
USERS=${1:-100000}
CLIENTS=${2:-32}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --bin fabrique
BIN=$TARGET_DIR/release/fabrique
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fabrique-scim-bench.XXXXXX")
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
URL=http://127.0.0.1:$PORT
ADMIN_KEY=fabk_$(python3 -c 'import secrets; print(secrets.token_hex(32))')
FABRIQUE_ADMIN_KEY=$ADMIN_KEY "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" > "$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 60); do
    curl -fs -o /dev/null "$URL/readyz" && break
    sleep 0.5
done
"$BIN" admin --url "$URL" --key "$ADMIN_KEY" entities create --slug bench --name Bench > /dev/null
TOKEN=$("$BIN" admin --url "$URL" --key "$ADMIN_KEY" scim-tokens create --entity bench \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
python3 bench/scim-provision.py "$URL" "$TOKEN" "$USERS" "$CLIENTS"
