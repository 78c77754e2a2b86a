#!/usr/bin/env bash
# bench/plan/backends.sh: what one PostgreSQL and one Redis absorb of the request path's writes,
# the capacities `fabrique plan` reads as `[postgres] max_rows_per_second` and
# `[redis] max_scripts_per_second`.
#
# PostgreSQL: a fresh database gets Fabrique's own schema (crates/store/migrations/postgres, every
# file in order), then pgbench runs transactions of one multi-row INSERT of ROWS usage records
# (the usage writer's statement size: `store::multi_row`, 256 rows at most), users and keys drawn
# among 100,000 so that the indexes' pages spread as a large group's do. Rows a second = TPS × ROWS.
#
# Redis: the admission script itself (crates/counters/src/admit.lua), loaded once and run by its
# digest by redis-benchmark, as the gateway does, for a request with a rate limit (requests and
# tokens) on 4 scopes (key, user, team, entity) and no budget, the keys drawn among 100,000.
#
# Usage:  bash bench/plan/backends.sh
# Knobs (environment):
#   PG_URL=postgres://postgres@127.0.0.1:5432   (a server where the user may create a database)
#   PG_DB=fabrique_plan_bench (dropped and created again)   PG_CLIENTS=4  DURATION=20 (seconds)
#   ROWS=256   REDIS_HOST=127.0.0.1  REDIS_PORT=6379  REDIS_CLIENTS=32  REDIS_REQUESTS=200000
# Redis keys are written under `{fabrique-plan-bench}:` and deleted at the end.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/../.." && pwd)
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-fabrique_plan_bench}
PG_CLIENTS=${PG_CLIENTS:-4}
DURATION=${DURATION:-20}
ROWS=${ROWS:-256}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}
REDIS_CLIENTS=${REDIS_CLIENTS:-32}
REDIS_REQUESTS=${REDIS_REQUESTS:-200000}
PREFIX='{fabrique-plan-bench}'

for tool in psql pgbench redis-cli redis-benchmark; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

echo "== PostgreSQL: usage records in batches of $ROWS, $PG_CLIENTS clients, ${DURATION}s"
psql -q -v ON_ERROR_STOP=1 "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $PG_DB" \
    -c "CREATE DATABASE $PG_DB" >/dev/null
for migration in "$REPO_ROOT"/crates/store/migrations/postgres/*.sql; do
    psql -q -v ON_ERROR_STOP=1 "$PG_URL/$PG_DB" -f "$migration" >/dev/null
done
cat > "$SCRATCH/insert.sql" <<SQL
INSERT INTO usage_records (request_id, started_at, entity_id, user_id, key_id, operation, model,
    endpoint, stream, prompt_tokens, completion_tokens, cost_micros, ttft_ms, duration_ms, status,
    attempts, team_id, use_case, classification, hosting)
SELECT md5(random()::text), (extract(epoch from now()) * 1000)::bigint + i,
    'entity-' || (i % 20), 'user-' || (random() * 100000)::int, 'key-' || (random() * 100000)::int,
    'chat', 'mistral-small', 'gpu-' || (i % 8), 1, 900 + i, 250 + i, 1200, 180, 9000, 200, 1,
    'team-' || (i % 500), NULL, 'internal', 'on_premises'
FROM generate_series(1, $ROWS) AS i;
SQL
pgbench -n -c "$PG_CLIENTS" -j 2 -T "$DURATION" -f "$SCRATCH/insert.sql" "$PG_URL/$PG_DB" \
    > "$SCRATCH/pgbench.txt" 2>&1
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$SCRATCH/pgbench.txt" | head -1)
[ -n "$tps" ] || { cat "$SCRATCH/pgbench.txt" >&2; exit 1; }
rows=$(psql -tA "$PG_URL/$PG_DB" -c "SELECT count(*) FROM usage_records")
bytes=$(psql -tA "$PG_URL/$PG_DB" -c "SELECT pg_total_relation_size('usage_records')")
echo "transactions/s $tps; rows/s $(awk -v t="$tps" -v r="$ROWS" 'BEGIN { printf "%.0f", t * r }')"
echo "bytes a record, indexes included: $(awk -v b="$bytes" -v r="$rows" 'BEGIN { printf "%.0f", b / r }') ($rows records)"
psql -q "$PG_URL/postgres" -c "DROP DATABASE $PG_DB" >/dev/null

echo "== Redis: the admission script on 4 scopes, $REDIS_CLIENTS clients, $REDIS_REQUESTS calls"
redis=(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT")
sha=$("${redis[@]}" SCRIPT LOAD "$(cat "$REPO_ROOT/crates/counters/src/admit.lua")")
# now, mode 0 (whole), estimated tokens and cost, 4 scopes; each scope: 1e9 requests and 1e12
# tokens a minute (never refused), no budget.
scope_args=()
keys=()
for scope in key user team entity; do
    keys+=("$PREFIX:$scope:__rand_int__")
    scope_args+=(1000000000 1000000000000 0)
done
redis-benchmark -h "$REDIS_HOST" -p "$REDIS_PORT" -c "$REDIS_CLIENTS" -n "$REDIS_REQUESTS" \
    -r 100000 -q EVALSHA "$sha" 4 "${keys[@]}" 1700000000000 0 1200 1000 4 "${scope_args[@]}" \
    | tr '\r' '\n' | grep -E 'requests per second' | tail -1
"${redis[@]}" --scan --pattern "$PREFIX:*" | xargs -r -n 500 "${redis[@]}" DEL >/dev/null
