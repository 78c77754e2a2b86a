#!/usr/bin/env bash
# bench/profile.sh: where one request's CPU goes in `fabrique serve`, in counts that do not depend on
# how busy the machine is: instructions (callgrind), context switches per thread and system calls,
# all divided by the number of requests. Wall-clock figures are left to bench/gateway.sh.
#
# The static upstream of bench/nginx-upstream.conf is started, then Fabrique with
# bench/fabrique-bench.toml (usage recording on, as by default) and an inference key made with
# `fabrique admin`. A keep-alive client sends REQUESTS sequential json chat requests (c=1) after
# WARMUP unmeasured ones, three times, each pass against one measuring tool:
#   switches  native run: voluntary/involuntary context switches of every thread
#             (/proc/PID/task/*/status, before and after) and `perf stat -e context-switches,...`
#   syscalls  `strace -f -c -p PID` around the requests: system calls per request, by name
#   callgrind `valgrind --tool=callgrind --instr-atstart=no`, instrumentation switched on with
#             `callgrind_control -i on` around the requests only; then `callgrind_annotate`
#             inclusive and exclusive, and the exclusive cost grouped by crate, per request
#   nginx     the switches and syscalls counts for the worker of bench/nginx-proxy.conf, the floor
#
# Usage, from anywhere:  bash bench/profile.sh
# Knobs (environment):
#   REQUESTS=2000 WARMUP=200   PASSES="switches syscalls callgrind nginx"
#   WORK=/tmp/fabrique-profile (logs, data dir, results/<timestamp>/)
#   FABRIQUE_BIN=<target dir>/release/fabrique   FABRIQUE_CONFIG=bench/fabrique-bench.toml
#   FABRIQUE_ADDR=127.0.0.1:9000
#   GOVERNANCE=on  appends bench/governance.toml (data policy, blocked terms, seat pool) and gives the
#             bench key a rate limit and its user a budget, as bench/peers.sh does (default off)
# Needs python3 and curl; installs nginx, valgrind and strace with apt-get if missing (INSTALL=0: never);
# perf is optional. The binary must exist
# (`cargo build --release --bin fabrique`). Everything started is stopped by PID on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/tmp/fabrique-profile}
REQUESTS=${REQUESTS:-2000}
WARMUP=${WARMUP:-200}
PASSES=${PASSES:-switches syscalls callgrind nginx}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
FABRIQUE_BIN=${FABRIQUE_BIN:-$TARGET_DIR/release/fabrique}
GOVERNANCE=${GOVERNANCE:-off}
FABRIQUE_CONFIG=${FABRIQUE_CONFIG:-$HERE/fabrique-bench.toml}
FABRIQUE_ADDR=${FABRIQUE_ADDR:-127.0.0.1:9000}
FABRIQUE_URL=http://$FABRIQUE_ADDR
LOGS=$WORK/logs
RESULTS=$WORK/results/$(date +%Y%m%d-%H%M%S)-governance-$GOVERNANCE
DATA=$WORK/fabrique-data
STOP_GRACE_SECONDS=10
# shellcheck source=lib/processes.sh
source "$HERE/lib/processes.sh"
# shellcheck source=lib/fabrique.sh
source "$HERE/lib/fabrique.sh"

case $FABRIQUE_ADDR in 127.*:*) ;; *) die "FABRIQUE_ADDR must be a loopback address" ;; esac
mkdir -p "$LOGS" "$RESULTS" "$WORK/upstream/logs" "$WORK/upstream/tmp"
case $GOVERNANCE in
    on) cat "$FABRIQUE_CONFIG" "$HERE/governance.toml" > "$RESULTS/fabrique.toml"
        FABRIQUE_CONFIG=$RESULTS/fabrique.toml ;;
    off) ;;
    *) die "GOVERNANCE must be on or off, not '$GOVERNANCE'" ;;
esac
[[ -x $FABRIQUE_BIN ]] || die "no Fabrique binary at $FABRIQUE_BIN (cargo build --release --bin fabrique)"
need_tools nginx valgrind strace
for tool in python3 curl callgrind_control callgrind_annotate; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done

drive() {              # drive COUNT [ADDR] : COUNT sequential json chat requests on one keep-alive connection
    python3 - "${2:-$FABRIQUE_ADDR}" "$BEARER" "$HERE/request-json.json" "$1" <<'PY'
import http.client, sys
addr, bearer, body_path, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
host, port = addr.rsplit(":", 1)
body = open(body_path, "rb").read()
headers = {"Content-Type": "application/json", "Authorization": "Bearer " + bearer}
conn = http.client.HTTPConnection(host, int(port), timeout=120)
failed = 0
for _ in range(count):
    conn.request("POST", "/v1/chat/completions", body, headers)
    response = conn.getresponse()
    response.read()
    failed += response.status != 200
if failed:
    sys.exit(f"{failed} of {count} requests were not 200")
PY
}

thread_switches() {    # one line per thread: tid name voluntary nonvoluntary
    local task
    for task in /proc/"$1"/task/*; do
        printf '%s %s %s %s\n' "${task##*/}" "$(tr ' ' '_' < "$task/comm")" \
            "$(awk '/^voluntary_ctxt_switches/ { print $2 }' "$task/status")" \
            "$(awk '/^nonvoluntary_ctxt_switches/ { print $2 }' "$task/status")"
    done
}

serve_fabrique() {     # serve_fabrique NAME [WRAPPER...] : serve on the shared data dir, PID in FABRIQUE_PID
    local name=$1; shift
    FABRIQUE_ADMIN_KEY=$ADMIN_KEY start_bg "$name" "$@" "$FABRIQUE_BIN" serve --config "$FABRIQUE_CONFIG" \
        --listen "$FABRIQUE_ADDR" --data-dir "$DATA"
    FABRIQUE_PID=$LAST_PID
    wait_ready "$FABRIQUE_URL/readyz" "$FABRIQUE_PID" 600 \
        || { tail -n 20 "$LOGS/$name.log" >&2; die "fabrique ($name) did not become ready"; }
}


count_switches() {     # count_switches PID ADDR TAG : context switches of PID's threads over REQUESTS requests
    local pid=$1 addr=$2 tag=$3 perf_pid=""
    drive "$WARMUP" "$addr"
    thread_switches "$pid" > "$RESULTS/$tag-threads-before.txt"
    if command -v perf >/dev/null; then
        perf stat -e context-switches,cpu-migrations,task-clock -p "$pid" -o "$RESULTS/$tag-perf-stat.txt" 2>/dev/null &
        perf_pid=$!
        sleep 1
    fi
    drive "$REQUESTS" "$addr"
    [[ -z $perf_pid ]] || { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
    thread_switches "$pid" > "$RESULTS/$tag-threads-after.txt"
    python3 - "$RESULTS/$tag" "$REQUESTS" <<'PY' | tee "$RESULTS/$tag-switches.txt"
import collections, sys
results, requests = sys.argv[1], int(sys.argv[2])
def read(name):
    rows = {}
    for line in open(f"{results}-{name}"):
        tid, comm, vol, invol = line.split()
        rows[tid] = (comm, int(vol), int(invol))
    return rows
before, after = read("threads-before.txt"), read("threads-after.txt")
by_name = collections.defaultdict(lambda: [0, 0, 0])
for tid, (comm, vol, invol) in after.items():
    comm0, vol0, invol0 = before.get(tid, (comm, 0, 0))
    if vol - vol0 or invol - invol0:
        entry = by_name[comm]
        entry[0] += 1; entry[1] += vol - vol0; entry[2] += invol - invol0
print(f"context switches per request over {requests} requests, by thread name (threads that switched)")
print("| thread | threads | voluntary / request | involuntary / request |")
print("|---|---:|---:|---:|")
total = [0, 0]
for comm, (threads, vol, invol) in sorted(by_name.items(), key=lambda kv: -kv[1][1]):
    print(f"| {comm} | {threads} | {vol / requests:.2f} | {invol / requests:.2f} |")
    total[0] += vol; total[1] += invol
print(f"| all | | {total[0] / requests:.2f} | {total[1] / requests:.2f} |")
PY
    [[ ! -s $RESULTS/$tag-perf-stat.txt ]] || grep -E 'context-switches|cpu-migrations|task-clock' "$RESULTS/$tag-perf-stat.txt"
}

count_syscalls() {     # count_syscalls PID ADDR TAG : system calls of PID's threads over REQUESTS requests
    local pid=$1 addr=$2 tag=$3 strace_pid
    drive "$WARMUP" "$addr"
    strace -f -c -q -p "$pid" -o "$RESULTS/$tag-strace.txt" &
    strace_pid=$!
    sleep 1
    drive "$REQUESTS" "$addr"
    kill -INT "$strace_pid"; wait "$strace_pid" || true
    echo "system calls per request over $REQUESTS requests (strace -f -c)"
    awk -v n="$REQUESTS" '$1 ~ /^[0-9.]+$/ && NF >= 5 { printf "%-16s %8.2f\n", $NF, $4 / n }' "$RESULTS/$tag-strace.txt" \
        | sort -k2 -nr | head -15 | tee "$RESULTS/$tag-syscalls.txt"
}

pass_switches() {
    serve_fabrique serve
    count_switches "$FABRIQUE_PID" "$FABRIQUE_ADDR" fabrique
    stop_pid "$FABRIQUE_PID"
}

pass_syscalls() {
    serve_fabrique serve-strace
    count_syscalls "$FABRIQUE_PID" "$FABRIQUE_ADDR" fabrique
    stop_pid "$FABRIQUE_PID"
}

pass_nginx() {         # the same counts for the floor of one hop: the worker of bench/nginx-proxy.conf
    local worker
    mkdir -p "$WORK/proxy/logs" "$WORK/proxy/tmp"
    start_bg nginx-proxy nginx -p "$WORK/proxy/" -c "$HERE/nginx-proxy.conf" -g 'daemon off;'
    wait_ready http://127.0.0.1:18082/health "$LAST_PID" 20 || die "nginx-proxy did not start"
    worker=$(cat /proc/"$LAST_PID"/task/*/children | awk '{ print $1 }')
    [[ -n $worker ]] || die "no nginx-proxy worker"
    count_switches "$worker" 127.0.0.1:18082 nginx-proxy
    count_syscalls "$worker" 127.0.0.1:18082 nginx-proxy
    stop_pid "$LAST_PID"
}

pass_callgrind() {
    local out=$RESULTS/callgrind.out
    serve_fabrique serve-callgrind valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out"
    drive "$WARMUP"
    callgrind_control -i on "$FABRIQUE_PID" > /dev/null
    drive "$REQUESTS"
    callgrind_control -i off "$FABRIQUE_PID" > /dev/null
    stop_pid "$FABRIQUE_PID"
    callgrind_annotate --auto=no --inclusive=yes --threshold=99 "$out" > "$RESULTS/inclusive.txt" 2>/dev/null
    callgrind_annotate --auto=no --inclusive=no --threshold=100 "$out" > "$RESULTS/exclusive.txt" 2>/dev/null
    python3 - "$RESULTS/exclusive.txt" "$REQUESTS" <<'PY' | tee "$RESULTS/groups.txt"
import collections, re, sys
path, requests = sys.argv[1], int(sys.argv[2])
# The group of a function is that of the crate (or C library) its name starts with.
GROUPS = {
    "HTTP server and client (hyper, http, httparse, axum, tower)":
        "hyper hyper_util http http_body http_body_util httparse h2 axum axum_core tower tower_http tower_layer tower_service",
    "JSON (serde, serde_json)": "serde serde_json serde_core",
    "async runtime (tokio, mio, futures)": "tokio mio futures_util futures_core futures_channel pin_project_lite",
    "usage writer storage (sqlx, SQLite)": "sqlx sqlx_core sqlx_sqlite libsqlite3_sys flume",
    "logging and metrics (tracing)": "tracing tracing_core tracing_subscriber metrics",
    "hashing (sha2, hash maps)": "sha2 digest generic_array block_buffer hashbrown foldhash ahash fnv",
    "std, core, alloc (incl. drop glue)": "std core alloc __rustc",
    "bytes, uuid, time": "bytes uuid time chrono smallvec",
}
CRATE_GROUP = {c: g for g, crates in GROUPS.items() for c in crates.split()}
WORKSPACE = ("gateway usage policy admission access identity routing scheduler seats store wire domain "
             "upstream telemetry fabrique evidence prefix vault configuration reports retention").split()
def group_of(function, library):
    if "libc.so" in library or "ld-linux" in library:
        return "C library (memcpy, malloc, locks)"
    if re.match(r"(sqlite3|wal|pager|btree|vdbe)", function, re.I) or re.match(r"^[a-z]+[A-Z]", function):
        return "usage writer storage (sqlx, SQLite)"
    if re.match(r"_?mi_|mimalloc", function):
        return "allocation (mimalloc)"
    crate = re.match(r"[<&\s]*(?:dyn |mut )?(\w+)", function)
    crate = crate.group(1) if crate else "?"
    if crate in WORKSPACE:
        return "Fabrique's own crates"
    return CRATE_GROUP.get(crate, "other")
totals, own, total = collections.Counter(), collections.Counter(), 0
section = False
for line in open(path):
    if re.match(r"Ir\s+file:function", line):
        section = True
        continue
    m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*?):(.+?)(?: \[(.*)\])?$", line)
    if not section or not m:
        continue
    ir, function, library = int(m.group(1).replace(",", "")), m.group(3), m.group(4) or ""
    group = group_of(function, library)
    totals[group] += ir
    total += ir
    if group == "Fabrique's own crates":
        own[re.match(r"[<&\s]*(\w+)", function).group(1)] += ir
print(f"exclusive instructions per request over {requests} requests (callgrind), by where they are spent")
print("| group | instructions / request | share |")
print("|---|---:|---:|")
for group, ir in totals.most_common():
    print(f"| {group} | {ir / requests:,.0f} | {100 * ir / total:.1f} % |")
print(f"| all | {total / requests:,.0f} | 100 % |")
print("Fabrique's own crates: " + ", ".join(f"{c} {ir / requests:,.0f}" for c, ir in own.most_common(12)))
PY
    echo "top inclusive functions: $RESULTS/inclusive.txt"
}

log "starting the upstream (nginx, 127.0.0.1:18080)"
start_bg upstream nginx -p "$WORK/upstream/" -c "$HERE/nginx-upstream.conf" -g 'daemon off;'
wait_ready http://127.0.0.1:18080/health "$LAST_PID" 20 || die "the upstream did not start"

rm -rf "$DATA"; mkdir -p "$DATA"
ADMIN_KEY=fabk_$(python3 -c 'import secrets; print(secrets.token_hex(32))')
serve_fabrique setup
bench_user "$ADMIN_KEY"
stop_pid "$FABRIQUE_PID"
log "binary $FABRIQUE_BIN, $REQUESTS requests after $WARMUP warm-up, results in $RESULTS"
for pass in $PASSES; do
    case $pass in
        switches|syscalls|callgrind|nginx) log "pass $pass"; "pass_$pass" ;;
        *) die "unknown pass $pass (switches, syscalls, callgrind, nginx)" ;;
    esac
done
