#!/usr/bin/env bash
# bench/console.sh: how fast does the console answer an administrator at the group's size —
# 100,000 users and 10 million usage records in PostgreSQL — and how many database round trips
# does each page cost?
#
# A PostgreSQL database (DATABASE, dropped and made again with FRESH=1 or when it is missing) is
# migrated by a first `fabrique serve`, then filled by SQL: ENTITIES entities, USERS users spread
# over them (names drawn from lists of first and last names, so a search finds a few hundred), a
# seat each, and RECORDS usage records over the last 30 days (chat requests of three models, 1 %
# failing). The users are added as a database upgraded across migration 0033 holds those written
# before it: rows of `users` without their search rows (`user_search_words`). A second server
# starts on it (its time to ready is shown: it writes the search rows of the users SQL added, and
# recomputes budgets from usage; with UPGRADE=1, the search rows are emptied first, so that a
# database kept from an earlier run starts as the upgrade did), the roll-up job catches up with the
# month (waited for: reports read its hourly and daily sums), the bootstrap administrator signs in
# through the one-time link it prints, and every console page is fetched REQUESTS times in a row
# (after WARMUP fetches) on one keep-alive connection: p50, p99 and max of the time to the last
# byte (the page is rendered whole on the server, so this is its render time plus loopback), and
# the SQL statements the server ran per fetch (the server logs each one, `RUST_LOG=sqlx::query=debug`;
# its own background jobs, quiet between their runs, count too).
#
# Usage, from anywhere:  bash bench/console.sh
# Knobs (environment): USERS=100000 RECORDS=10000000 ENTITIES=19 REQUESTS=100 WARMUP=5
#   DATABASE=fabrique_console_bench  POSTGRES=postgres://postgres@127.0.0.1:5432 (its `test`
#   database is used to make DATABASE)  FRESH=0|1  UPGRADE=0|1  PROFILE=release|debug  BUILD=auto|1|0
#   WORK=/tmp/fabrique-console-bench  PORT=18790  FABRIQUE_BIN=(the target directory's binary)
#   READY_WAIT=600 (seconds a start may take)  PAGES="/console …" (the pages fetched; all by default)
# Filling 10 million records takes a few minutes; the database is kept for the next run.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
USERS=${USERS:-100000}
RECORDS=${RECORDS:-10000000}
ENTITIES=${ENTITIES:-19}
REQUESTS=${REQUESTS:-100}
WARMUP=${WARMUP:-5}
DATABASE=${DATABASE:-fabrique_console_bench}
POSTGRES=${POSTGRES:-postgres://postgres@127.0.0.1:5432}
FRESH=${FRESH:-0}
UPGRADE=${UPGRADE:-0}
PROFILE=${PROFILE:-release}
BUILD=${BUILD:-auto}
WORK=${WORK:-/tmp/fabrique-console-bench}
PORT=${PORT:-18790}
READY_WAIT=${READY_WAIT:-600}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
FABRIQUE_BIN=${FABRIQUE_BIN:-$TARGET_DIR/$PROFILE/fabrique}
DATABASE_URL=$POSTGRES/$DATABASE
URL=http://127.0.0.1:$PORT
LOGS=$WORK/logs
# shellcheck source=lib/processes.sh
source "$HERE/lib/processes.sh"

sql() { psql -X -q -v ON_ERROR_STOP=1 -At "$DATABASE_URL" "$@"; }

serve() {              # serve NAME : a server on the database, PID in SERVER_PID, ready
    RUST_LOG=info,sqlx::query=debug \
        FABRIQUE_ADMIN_KEY=fabk_$(python3 -c 'import secrets; print(secrets.token_hex(32))') \
        start_bg "$1" "$FABRIQUE_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
        --database-url "$DATABASE_URL"
    SERVER_PID=$LAST_PID
    wait_ready "$URL/readyz" "$SERVER_PID" "$READY_WAIT" \
        || { tail -n 30 "$LOGS/$1.log" >&2; die "fabrique did not answer 200 on /readyz within $READY_WAIT s"; }
}

# The roll-up job runs at start on the replica that holds the background jobs' lease; until it
# has caught up with the filled month, reports read raw records. Waits for it (at most 30 min).
wait_rolled_up() {
    local started=$SECONDS through
    while (( SECONDS - started < 1800 )); do
        through=$(sql -c "SELECT through FROM usage_rollup_marks WHERE name = 'rolled_up'" 2>/dev/null || true)
        if [[ -n $through ]] && (( through > $(date +%s) * 1000 - 2 * 3600 * 1000 )); then
            log "usage rolled up in $(( SECONDS - started )) s"
            return 0
        fi
        sleep 5
    done
    die "the usage roll-up did not catch up within 30 min"
}

filled() {             # does DATABASE hold the users and records asked for?
    [[ $(sql -c "SELECT (SELECT count(*) FROM users WHERE user_name LIKE 'user%') = $USERS
                    AND (SELECT count(*) FROM usage_records) = $RECORDS" 2>/dev/null) == t ]]
}

fill() {
    log "making database $DATABASE"
    psql -X -q "$POSTGRES/test" -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" -c "CREATE DATABASE $DATABASE"
    rm -rf "$WORK/data"
    serve migrate
    stop_pid "$SERVER_PID"
    local started=$SECONDS
    log "filling: $ENTITIES entities, $USERS users with a seat each, $RECORDS usage records"
    sql -v users="$USERS" -v records="$RECORDS" -v entities="$ENTITIES" -f "$HERE/console-fill.sql"
    log "filled in $(( SECONDS - started )) s"
}

fetch_all() {          # fetch_all PATH COUNT : COUNT fetches on one connection, "status seconds" each
    local path=$1 count=$2 args=() i
    for (( i = 0; i < count; i++ )); do
        args+=(--next -s -o /dev/null -b "$WORK/cookies" -w '%{http_code} %{time_total}\n' "$URL$path")
    done
    curl "${args[@]:1}"
}

statements() { grep -c 'sqlx::query' "$LOGS/fabrique.log" || true; }

measure() {            # measure PATH : one line of the table
    local path=$1 before after
    fetch_all "$path" "$WARMUP" > /dev/null
    before=$(statements)
    fetch_all "$path" "$REQUESTS" > "$LOGS/times.txt"
    after=$(statements)
    awk '$1 != 200 { bad++ } END { exit bad > 0 }' "$LOGS/times.txt" \
        || die "$path: some answers were not 200 ($(sort -u "$LOGS/times.txt" | cut -d' ' -f1 | sort -u | tr '\n' ' '))"
    cut -d' ' -f2 "$LOGS/times.txt" | sort -g | awk -v path="$path" -v sql=$(( after - before )) -v n="$REQUESTS" '
        { t[NR] = $1 * 1000 }
        END { p99 = int(NR * 0.99 + 0.999); if (p99 > NR) p99 = NR
              printf "| `%s` | %.1f | %.1f | %.1f | %.1f |\n", path, t[int((NR + 1) / 2)], t[p99], t[NR], sql / n }'
}

# ------------------------------------------------------------------------------ main
mkdir -p "$LOGS"
need_tools psql curl
build_fabrique
if [[ $FRESH == 1 ]] || ! filled; then fill; else log "database $DATABASE already filled"; fi
if [[ $UPGRADE == 1 ]]; then
    log "search rows emptied, as migration 0033 leaves them"
    sql -c "TRUNCATE user_search_words"
fi

started=$SECONDS
serve fabrique
log "server ready in $(( SECONDS - started )) s on $USERS users and $RECORDS records"
wait_rolled_up
link=$(grep -o 'http://[^ ]*/auth/link/fabl_[A-Za-z0-9_-]*' "$LOGS/fabrique.log" | tail -n 1)
[[ -n $link ]] || die "no sign-in link in $LOGS/fabrique.log"
curl -s -o /dev/null -c "$WORK/cookies" "$link"
grep -qv '^#' "$WORK/cookies" || die "signing in through the link gave no session cookie"
next=$(curl -s -b "$WORK/cookies" "$URL/console/users" | grep -o 'href="/console/users?[^"]*after=[^"]*"' \
    | head -n 1 | sed 's/^href="//; s/"$//; s/&amp;/\&/g')

echo "| page | p50 ms | p99 ms | max ms | SQL statements per page |"
echo "|---|---:|---:|---:|---:|"
if [[ -n ${PAGES:-} ]]; then read -ra pages <<< "$PAGES"; else
    pages=(/console /console/users "/console/users?q=martin" ${next:+"$next"} /console/teams
        /console/keys /console/sessions /console/roles /console/seats /console/pools /console/use-cases
        /console/policies /console/audit /console/content /console/scim-tokens /)
fi
for path in "${pages[@]}"; do
    measure "$path"
done
