#!/usr/bin/env bash
# bench/admission-overhead.sh: what rate limits and budgets cost the gateway's throughput.
#
# Fabrique (release build, bench/fabrique-bench.toml) in front of the static nginx upstream of
# bench/nginx-upstream.conf, loaded with wrk at 32 connections, in ROUNDS rounds of two runs:
#   plain    no rate limit, no budget anywhere
#   limited  on the key, the user, a team of the user and the entity of every request: a rate
#            limit (requests and tokens per minute) and two budgets (tokens per day, money per
#            month, soft threshold 90 %) — all far above what the run consumes, so every request
#            takes the whole admission path (check and charge, then settlement) and none is refused
# and prints each round and the ratio of the medians limited / plain (the bar: at least 0.90).
#
# The team, its membership and the limits are written into the store while Fabrique is stopped
# and loaded at its start, as a restart does (the directory loads a user's teams at start).
#
# Usage, from anywhere:  bash bench/admission-overhead.sh
# Knobs (environment):
#   DURATION=10s  per measured run; WARMUP=3s unrecorded before each; CONNS=32; THREADS=2 (wrk)
#   ROUNDS=3  plain/limited pairs, alternating, each run on a freshly started server
#   WORK=/tmp/fabrique-admission-bench   logs and data directory
#   FABRIQUE_BIN=<target dir>/release/fabrique   BUILD=auto|1|0 (auto: build when missing)
#   FABRIQUE_ADDR=127.0.0.1:9000 (loopback only)  INSTALL=1 (0: never apt-get wrk, nginx, sqlite3)
# Everything it starts is stopped by PID on exit; every wait is bounded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/tmp/fabrique-admission-bench}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
INSTALL=${INSTALL:-1}
BUILD=${BUILD:-auto}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
FABRIQUE_BIN=${FABRIQUE_BIN:-$TARGET_DIR/release/fabrique}
FABRIQUE_ADDR=${FABRIQUE_ADDR:-127.0.0.1:9000}
FABRIQUE_URL=http://$FABRIQUE_ADDR
DATA=$WORK/data
DATA_LIMITED=$WORK/data-limited
ROUNDS=${ROUNDS:-3}
LOGS=$WORK/logs
# shellcheck source=lib/processes.sh
source "$HERE/lib/processes.sh"

case ${FABRIQUE_ADDR%:*} in 127.*|localhost) ;; *) die "FABRIQUE_ADDR must be a loopback address" ;; esac

json_field() {         # json_field NAME < JSON (log lines before it tolerated)
    python3 -c '
import json, sys
text = sys.stdin.read()
print(json.loads(text[text.index("{"):])[sys.argv[1]])' "$1"
}


start_fabrique() {     # start_fabrique NAME DATA_DIR
    FABRIQUE_ADMIN_KEY=$ADMIN_KEY start_bg "$1" "$FABRIQUE_BIN" serve --config "$HERE/fabrique-bench.toml" \
        --listen "$FABRIQUE_ADDR" --data-dir "$2"
    FABRIQUE_PID=$LAST_PID
    wait_ready "$FABRIQUE_URL/readyz" "$FABRIQUE_PID" 60 \
        || { tail -n 20 "$LOGS/$1.log" >&2; die "fabrique did not become ready"; }
}

# Rate limits and budgets on every scope of the bench key, far above what a run consumes.
set_limits() {
    local now scope team_id
    now=$(date +%s%3N)
    team_id=team_$(python3 -c 'import uuid; print(uuid.uuid4().hex)')
    sqlite3 "$DATA_LIMITED/fabrique.db" <<SQL
INSERT INTO teams VALUES ('$team_id', '$ENTITY_ID', 'Bench team', 'bench team', NULL, '{}', $now, $now, 1);
INSERT INTO team_members VALUES ('$team_id', '$USER_ID');
SQL
    for scope in "key $KEY_ID" "user $USER_ID" "team $team_id" "entity $ENTITY_ID"; do
        set -- $scope
        sqlite3 "$DATA_LIMITED/fabrique.db" <<SQL
INSERT INTO rate_limits VALUES ('$1', '$2', 100000000, 100000000000, $now);
INSERT INTO budgets VALUES ('$1', '$2', 'day', 'tokens', 1000000000000000, 90, NULL, $now);
INSERT INTO budgets VALUES ('$1', '$2', 'month', 'money_micros', 1000000000000000, 90, NULL, $now);
SQL
    done
}

run_wrk() {            # run_wrk NAME -> requests/s on stdout
    local name=$1 out=$LOGS/wrk-$1.txt
    timeout 120 wrk -t "$THREADS" -c "$CONNS" -d "$WARMUP" -s "$LOGS/post.lua" "$FABRIQUE_URL/v1/chat/completions" > /dev/null
    timeout 120 wrk -t "$THREADS" -c "$CONNS" -d "$DURATION" --latency -s "$LOGS/post.lua" \
        "$FABRIQUE_URL/v1/chat/completions" > "$out"
    grep -q 'Non-2xx' "$out" && die "$name: some answers were not 2xx, see $out"
    awk '/^Requests\/sec:/ { print $2 }' "$out"
}

check_headers() {      # the limited run really carries the admission headers
    curl -s -D - -o /dev/null -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $BEARER" \
        --data-binary @"$HERE/request-json.json" "$FABRIQUE_URL/v1/chat/completions" \
        | grep -qi '^x-ratelimit-limit-requests: 100000000' || die "limits are not in force"
}

# ------------------------------------------------------------------------------ main
mkdir -p "$LOGS" "$WORK/upstream/logs" "$WORK/upstream/tmp"
rm -rf "$DATA" "$DATA_LIMITED"
need_tools wrk nginx sqlite3
build_fabrique
ADMIN_KEY=fabk_$(python3 -c 'import secrets; print(secrets.token_hex(32))')

log "starting the upstream (nginx, 127.0.0.1:18080)"
start_bg upstream nginx -p "$WORK/upstream/" -c "$HERE/nginx-upstream.conf" -g 'daemon off;'
wait_ready http://127.0.0.1:18080/health "$LAST_PID" 20 || die "the upstream did not start"

start_fabrique fabrique-setup "$DATA"
admin=("$FABRIQUE_BIN" admin --url "$FABRIQUE_URL" --key "$ADMIN_KEY")
ENTITY_ID=$("${admin[@]}" entities create --slug bench --name Benchmark | json_field id)
USER_ID=$("${admin[@]}" users create --entity bench --user-name bench-user --email bench-user@example.org | json_field id)
created=$("${admin[@]}" keys create --user-id "$USER_ID")
KEY_ID=$(json_field id <<< "$created")
BEARER=$(json_field key <<< "$created")
cat > "$LOGS/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $BEARER"
local f = io.open("$HERE/request-json.json", "r")
wrk.body = f:read("*a")
f:close()
LUA

stop_pid "$FABRIQUE_PID"
# The same directory again, then the limits: the only difference between the two servers.
cp -r "$DATA" "$DATA_LIMITED"
set_limits

# Plain and limited alternate, each on a freshly started server, so drift of the shared host and
# the first run's warm-up fall on both; the ratio of the medians is the figure.
PLAIN_RUNS=() LIMITED_RUNS=()
for (( round = 1; round <= ROUNDS; round++ )); do
    start_fabrique "fabrique-plain-$round" "$DATA"
    log "round $round/$ROUNDS plain: c=$CONNS for $DURATION"
    PLAIN_RUNS+=("$(run_wrk "plain-$round")")
    stop_pid "$FABRIQUE_PID"
    start_fabrique "fabrique-limited-$round" "$DATA_LIMITED"
    check_headers
    log "round $round/$ROUNDS limited: c=$CONNS for $DURATION"
    LIMITED_RUNS+=("$(run_wrk "limited-$round")")
    stop_pid "$FABRIQUE_PID"
done

echo
echo "date: $(date -u +%FT%TZ)  host: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "fabrique: $FABRIQUE_BIN, repo at $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "wrk -t $THREADS -c $CONNS -d $DURATION, json chat completions, static nginx upstream, $ROUNDS rounds"
python3 - "${PLAIN_RUNS[*]}" "${LIMITED_RUNS[*]}" <<'PY'
import statistics, sys
plain = [float(x) for x in sys.argv[1].split()]
limited = [float(x) for x in sys.argv[2].split()]
print("| round | plain req/s | limited req/s (key, user, team, entity) | ratio |")
print("|---|---:|---:|---:|")
for i, (p, l) in enumerate(zip(plain, limited), 1):
    print(f"| {i} | {p:,.0f} | {l:,.0f} | {l / p:.3f} |")
ratio = statistics.median(limited) / statistics.median(plain)
print(f"throughput ratio limited/plain (medians): {ratio:.3f} (bar: >= 0.90)")
PY
log "wrk outputs and logs in $LOGS"
