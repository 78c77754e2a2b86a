#!/usr/bin/env bash
# bench/usage-rollups.sh: a month of the group's usage in PostgreSQL, and how long the month's
# chargeback and a 30-day chart per model take, from raw records and from the roll-ups.
#
# The store's `usage_rollups` example fills the database BENCH_DB with RECORDS usage records by SQL
# `generate_series` (100,000 users, 40 entities, 400 teams, 6 models, November 2026 in
# Europe/Paris), times both reports five times each from raw records with the store calls the
# admin API makes, rolls up the hours and the days as the background job does, times them again
# and prints the tables' sizes.
#
# Usage, from anywhere:  bash bench/usage-rollups.sh
# Knobs (environment):
#   RECORDS=10000000 (the group's month is 150000000: about 75 GB of raw records and indexes,
#   check `df -h` first; the script refuses to start with less than 600 bytes a record free)
#   PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres BENCH_DB=fabrique_bench_usage
#   FRESH=1 (fill again even when the database holds RECORDS records)   PROFILE=release|dev
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
RECORDS=${RECORDS:-10000000}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
BENCH_DB=${BENCH_DB:-fabrique_bench_usage}
PROFILE=${PROFILE:-release}
export PGHOST PGPORT PGUSER

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $BENCH_DB =~ ^[a-z_][a-z0-9_]*$ ]] || die "BENCH_DB must be a plain identifier"
data_dir=$(psql -d postgres -Atc 'SHOW data_directory' 2>/dev/null || true)
free_bytes=$(df -B1 --output=avail "${data_dir:-/}" 2>/dev/null | tail -1 || echo 0)
need=$(( RECORDS * 600 ))
if (( free_bytes < need )); then
    die "$RECORDS records need about $(( need / 1000000000 )) GB; $(( free_bytes / 1000000000 )) GB free"
fi
if [[ -z $(psql -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$BENCH_DB'") ]]; then
    log "creating database $BENCH_DB"
    psql -d postgres -qc "CREATE DATABASE $BENCH_DB"
fi
log "$RECORDS records in $BENCH_DB on $PGHOST:$PGPORT (first fill: several minutes per 10 million)"
cd "$REPO_ROOT"
BENCH_POSTGRES_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$BENCH_DB" RECORDS=$RECORDS \
    cargo run --quiet --profile "$PROFILE" -p store --example usage_rollups
