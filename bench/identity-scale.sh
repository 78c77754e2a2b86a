#!/usr/bin/env bash
# bench/identity-scale.sh: does the request path's authentication and seat check cost the same with
# 100 and with 100,000 users, and what memory does `fabrique serve` hold with 100,000 users and keys?
#
# Two data directories are filled (`store` example `populate_directory`: an entity of SMALL and of
# LARGE users, each with a seat and a key, written through the store's own functions with their
# audit events). Two release servers start on them, in front of the static nginx upstream of
# bench/nginx-upstream.conf (bench/fabrique-bench.toml), and are loaded one after the other, in
# ROUNDS alternating rounds, by wrk at CONNS connections, every request with a key drawn at random
# among all the server's users — so the large server's lookups really spread over 100,000 users.
# Per run: requests/s and the server's CPU time per request (/proc/PID/stat, user + system), split
# by thread: the store's writer threads (SQLite's `sqlx-sqlite-worker`s, which write usage records
# and last-seen times in batches, off the request path) and every other thread (the runtime's
# workers, where each request is authenticated, seat-checked and relayed). Then the ratios of the
# medians, large / small (the bar: the authentication and seat check, that is the request path,
# ≤ 1.2×; the whole process is shown too), and each server's resident memory (VmRSS after loading,
# VmHWM at the end; the bar: under 300 MB at 100,000).
#
# Usage, from anywhere:  bash bench/identity-scale.sh
# Knobs (environment):
#   SMALL=100 LARGE=100000  users; ROUNDS=5; DURATION=10s WARMUP=3s per run; CONNS=32; THREADS=2
#   WORK=/tmp/fabrique-identity-bench (data directories are kept and reused: FRESH=1 refills them;
#   filling 100,000 users takes a few minutes)   BUILD=auto|1|0   INSTALL=1 (0: never apt-get)
# Everything it starts is stopped by PID on exit; every wait is bounded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/tmp/fabrique-identity-bench}
SMALL=${SMALL:-100}
LARGE=${LARGE:-100000}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
FRESH=${FRESH:-0}
BUILD=${BUILD:-auto}
INSTALL=${INSTALL:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
FABRIQUE_BIN=$TARGET_DIR/release/fabrique
POPULATE_BIN=$TARGET_DIR/release/examples/populate_directory
LOGS=$WORK/logs
# shellcheck source=lib/processes.sh
source "$HERE/lib/processes.sh"


build() {
    if [[ $BUILD == 1 || ( $BUILD == auto && ! ( -x $FABRIQUE_BIN && -x $POPULATE_BIN ) ) ]]; then
        log "cargo build --release --bin fabrique, and the store's populate_directory example"
        (cd "$REPO_ROOT" && cargo build --release --bin fabrique && cargo build --release -p store --example populate_directory)
    fi
    [[ -x $FABRIQUE_BIN && -x $POPULATE_BIN ]] || die "missing release binaries under $TARGET_DIR/release"
}

populate() {           # populate USERS : $WORK/data-USERS with USERS users, secrets in keys-USERS.txt
    local users=$1 dir=$WORK/data-$1
    if [[ $FRESH == 1 || ! -s $WORK/keys-$users.txt ]]; then
        rm -rf "$dir" "$WORK/keys-$users.txt"
        log "filling $dir with $users users, seats and keys"
        local started=$SECONDS
        "$POPULATE_BIN" "$dir" "$users" "$WORK/keys-$users.txt.part" 2> "$LOGS/populate-$users.log" \
            || die "populate failed, see $LOGS/populate-$users.log"
        mv "$WORK/keys-$users.txt.part" "$WORK/keys-$users.txt"
        log "filled in $(( SECONDS - started )) s"
    fi
}

lua_script() {         # lua_script USERS : a wrk script drawing a random key of the server per request
    cat > "$LOGS/keys-$1.lua" <<LUA
local keys = {}
for line in io.lines("$WORK/keys-$1.txt") do keys[#keys + 1] = line end
local f = io.open("$HERE/request-json.json", "r")
local body = f:read("*a")
f:close()
request = function()
    local headers = {}
    headers["Content-Type"] = "application/json"
    headers["Authorization"] = "Bearer " .. keys[math.random(#keys)]
    return wrk.format("POST", "/v1/chat/completions", headers, body)
end
LUA
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# The CPU ticks of the store's writer threads (their names have no space, so fields keep their place).
store_ticks() {
    cat /proc/"$1"/task/*/stat 2>/dev/null | awk '$2 ~ /^\(sqlx-sqlite/ { t += $14 + $15 } END { print t + 0 }'
}
memory_kb() { awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status"; }

run() {                # run USERS PORT PID -> "rps cpu_us store_us request_path_us" per request
    local users=$1 port=$2 pid=$3 out=$LOGS/wrk-$1.txt before after store_before store_after requests hz
    timeout 120 wrk -t "$THREADS" -c "$CONNS" -d "$WARMUP" -s "$LOGS/keys-$users.lua" "http://127.0.0.1:$port" > /dev/null
    before=$(cpu_ticks "$pid")
    store_before=$(store_ticks "$pid")
    timeout 120 wrk -t "$THREADS" -c "$CONNS" -d "$DURATION" -s "$LOGS/keys-$users.lua" "http://127.0.0.1:$port" > "$out"
    after=$(cpu_ticks "$pid")
    store_after=$(store_ticks "$pid")
    grep -q 'Non-2xx' "$out" && die "$users users: some answers were not 2xx, see $out"
    requests=$(awk '/requests in/ { print $1 }' "$out")
    hz=$(getconf CLK_TCK)
    awk -v rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")" -v t=$(( after - before )) \
        -v s=$(( store_after - store_before )) -v hz="$hz" -v n="$requests" \
        'BEGIN { f = 1e6 / hz / n; printf "%.0f %.1f %.1f %.1f\n", rps, t * f, s * f, (t - s) * f }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ------------------------------------------------------------------------------ main
mkdir -p "$LOGS" "$WORK/upstream/logs" "$WORK/upstream/tmp"
need_tools wrk nginx
build
populate "$SMALL"
populate "$LARGE"
lua_script "$SMALL"
lua_script "$LARGE"

log "starting the upstream (nginx, 127.0.0.1:18080)"
start_bg upstream nginx -p "$WORK/upstream/" -c "$HERE/nginx-upstream.conf" -g 'daemon off;'
wait_ready http://127.0.0.1:18080/health "$LAST_PID" 20 || die "the upstream did not start"

declare -A PID PORT
PORT[$SMALL]=9100
PORT[$LARGE]=9101
for users in "$SMALL" "$LARGE"; do
    start_bg "fabrique-$users" "$FABRIQUE_BIN" serve --config "$HERE/fabrique-bench.toml" \
        --listen "127.0.0.1:${PORT[$users]}" --data-dir "$WORK/data-$users"
    PID[$users]=$LAST_PID
    wait_ready "http://127.0.0.1:${PORT[$users]}/readyz" "$LAST_PID" 120 \
        || { tail -n 20 "$LOGS/fabrique-$users.log" >&2; die "fabrique ($users users) did not become ready"; }
done
declare -A LOADED_RSS
for users in "$SMALL" "$LARGE"; do LOADED_RSS[$users]=$(memory_kb "${PID[$users]}" VmRSS); done

: > "$LOGS/runs.tsv"
for round in $(seq 1 "$ROUNDS"); do
    for users in "$SMALL" "$LARGE"; do
        read -r rps cpu store path < <(run "$users" "${PORT[$users]}" "${PID[$users]}")
        log "round $round, $users users: $rps requests/s, $cpu µs of CPU per request ($path on the request path, $store in the store's writers)"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$users" "$rps" "$cpu" "$store" "$path" >> "$LOGS/runs.tsv"
    done
done

echo
echo "| users | median requests/s | median CPU µs/request: request path | store writers | whole process | RSS loaded MB | peak RSS MB |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
declare -A RPS CPU STORE PATH_CPU
for users in "$SMALL" "$LARGE"; do
    RPS[$users]=$(awk -v u="$users" '$2 == u { print $3 }' "$LOGS/runs.tsv" | median)
    CPU[$users]=$(awk -v u="$users" '$2 == u { print $4 }' "$LOGS/runs.tsv" | median)
    STORE[$users]=$(awk -v u="$users" '$2 == u { print $5 }' "$LOGS/runs.tsv" | median)
    PATH_CPU[$users]=$(awk -v u="$users" '$2 == u { print $6 }' "$LOGS/runs.tsv" | median)
    awk -v u="$users" -v r="${RPS[$users]}" -v c="${CPU[$users]}" -v s="${STORE[$users]}" -v q="${PATH_CPU[$users]}" \
        -v l="${LOADED_RSS[$users]}" -v p="$(memory_kb "${PID[$users]}" VmHWM)" \
        'BEGIN { printf "| %d | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", u, r, q, s, c, l / 1024, p / 1024 }'
done
awk -v q="${PATH_CPU[$LARGE]}" -v p="${PATH_CPU[$SMALL]}" -v a="${CPU[$LARGE]}" -v b="${CPU[$SMALL]}" \
    -v x="${STORE[$LARGE]}" -v y="${STORE[$SMALL]}" -v r="${RPS[$LARGE]}" -v s="${RPS[$SMALL]}" \
    'BEGIN {
        printf "\nCPU per request, large / small: request path (authentication, seat check, relay) %.3f (bar ≤ 1.2);\n", q / p
        printf "store writers %.3f; whole process %.3f. Requests/s, large / small: %.3f\n", x / y, a / b, r / s
    }'
