#!/usr/bin/env bash
# bench/batch.sh: does a batch use the GPU pool's idle capacity, and does it leave interactive
# users' time to first token where it was?
#
# One `fabrique serve` on its embedded simulator (bench/batch.toml: one pool of 32 sequences), the
# batch runner sending CONCURRENCY lines at once (`[batches] concurrency`), the scheduler leaving
# `[scheduling] batch_headroom` of the pool to interactive requests. Entity `factory`
# submits batches of LINES chat lines (max_tokens 32) through `/v1/files` and `/v1/batches`, as the
# `openai` SDK does; entity `bench` has the interactive user. Three phases:
#   1. `alone`: a batch with nothing else running. While it runs, the pool's sequences in use
#      (`fabrique_pool_in_flight`, from /metrics) are sampled every 50 ms; use of idle capacity is
#      their mean over the pool's capacity, from its first line answered to its last (the ramp at
#      both ends included), and the lines a second against what the pool could answer at most
#      (capacity ÷ one line's service time, measured by a lone request);
#   2. `quiet`: USERS closed-loop interactive streams (max_tokens 16) for DURATION seconds, alone;
#   3. `during`: a second batch submitted, and once its first lines are answered the same
#      interactive load for DURATION seconds (the batch must still be running at the end, or the
#      summary says so).
# Prints use of idle capacity, and the interactive p50/p99 of each phase and the ratio of p99s,
# beside the interactive requests' wait for a sequence in the scheduler
# (`fabrique_schedule_wait_seconds`): what the batch costs them in the queue, apart from the
# CPU the batch's lines take from the gateway and the client on a shared host.
#
# Usage, from anywhere:  bash bench/batch.sh
# Knobs (environment): LINES=4000  CONCURRENCY=64  HEADROOM (`[scheduling] batch_headroom`; unset:
#   its default)  USERS=4  DURATION=15  PROFILE=release|debug  BUILD=auto|1|0
#   FABRIQUE_ADDR=127.0.0.1:18490  WORK=/tmp/fabrique-batch-bench
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/tmp/fabrique-batch-bench}
LINES=${LINES:-4000}
CONCURRENCY=${CONCURRENCY:-64}
HEADROOM=${HEADROOM:-}
USERS=${USERS:-4}
DURATION=${DURATION:-15}
PROFILE=${PROFILE:-release}
BUILD=${BUILD:-auto}
FABRIQUE_ADDR=${FABRIQUE_ADDR:-127.0.0.1:18490}
FABRIQUE_URL=http://$FABRIQUE_ADDR
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
FABRIQUE_BIN=$TARGET_DIR/$PROFILE/fabrique
LOGS=$WORK/logs
RESULTS=$WORK
CAPACITY=32
# shellcheck source=lib/processes.sh
source "$HERE/lib/processes.sh"
# shellcheck source=lib/fabrique.sh
source "$HERE/lib/fabrique.sh"
# shellcheck source=lib/interactive.sh
source "$HERE/lib/interactive.sh"

[[ $FABRIQUE_ADDR == 127.0.0.1:* ]] || die "FABRIQUE_ADDR must be on loopback"
rm -rf "$WORK"
mkdir -p "$LOGS" "$WORK/data"
build_fabrique
{
    cat "$HERE/batch.toml"
    printf '\n[batches]\nconcurrency = %d\n' "$CONCURRENCY"
    [[ -z $HEADROOM ]] || printf '\n[scheduling]\nbatch_headroom = %s\n' "$HEADROOM"
} > "$WORK/fabrique.toml"

ADMIN_KEY=fabk_$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export FABRIQUE_URL FABRIQUE_ADMIN_KEY=$ADMIN_KEY
log "starting fabrique serve ($PROFILE build, batch concurrency $CONCURRENCY) on $FABRIQUE_ADDR"
start_bg fabrique "$FABRIQUE_BIN" serve --config "$WORK/fabrique.toml" \
    --listen "$FABRIQUE_ADDR" --data-dir "$WORK/data"
wait_ready "$FABRIQUE_URL/readyz" "$LAST_PID" 120 \
    || { tail -n 30 "$LOGS/fabrique.log" >&2; die "fabrique did not answer on /readyz"; }

admin() { "$FABRIQUE_BIN" admin "$@"; }
user_key() {           # user_key ENTITY: a new user of ENTITY and their inference key
    local id
    admin entities create --slug "$1" --name "$1" > /dev/null
    id=$(admin users create --entity "$1" --user-name "$1-user" --email "$1@example.org" | json_field id)
    admin keys create --user-id "$id" | json_field key
}
BATCH_KEY=$(user_key factory)
BEARER=$(user_key bench)

python3 - "$LINES" > "$WORK/input.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"custom_id": f"line-{i}", "method": "POST", "url": "/v1/chat/completions",
                      "body": {"model": "mistral-small", "max_tokens": 32,
                               "messages": [{"role": "user", "content": f"Summarize credit file {i}."}]}}))
PY

batch_api() {          # batch_api METHOD PATH [CURL ARGS...]: the batch submitter's calls
    local method=$1 path=$2
    shift 2
    curl -fsS -X "$method" -H "Authorization: Bearer $BATCH_KEY" "$@" "$FABRIQUE_URL$path"
}
submit_batch() {       # prints the new batch's id
    local file_id
    file_id=$(batch_api POST /v1/files -F purpose=batch -F "file=@$WORK/input.jsonl" | json_field id)
    batch_api POST /v1/batches -H 'Content-Type: application/json' \
        --data "{\"input_file_id\": \"$file_id\", \"endpoint\": \"/v1/chat/completions\", \"completion_window\": \"24h\"}" \
        | json_field id
}
batch_state() {        # batch_state ID: "status completed failed"
    batch_api GET "/v1/batches/$1" | python3 -c 'import json,sys; b=json.load(sys.stdin); c=b["request_counts"]; print(b["status"], c["completed"], c["failed"])'
}

log "phase alone: a batch of $LINES lines, the pool sampled every 50 ms"
batch_id=$(submit_batch)
python3 - "$FABRIQUE_URL" "$BATCH_KEY" "$batch_id" > "$WORK/samples.txt" <<'PY'
import json, re, sys, time, urllib.request
url, key, batch = sys.argv[1], sys.argv[2], sys.argv[3]
in_flight = re.compile(r'^fabrique_pool_in_flight\{[^}]*\} (\S+)$', re.M)
def get(path, auth):
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {key}"} if auth else {})
    return urllib.request.urlopen(request).read().decode()
while True:
    state = json.loads(get(f"/v1/batches/{batch}", True))
    sequences = sum(float(v) for v in in_flight.findall(get("/metrics", False)))
    print(f"{time.monotonic():.3f} {state['request_counts']['completed']} {sequences}", flush=True)
    if state["status"] in ("completed", "failed", "expired", "cancelled"):
        print(f"status {state['status']}", file=sys.stderr)
        break
    time.sleep(0.05)
PY
read -r status_alone _ failed_alone < <(batch_state "$batch_id")
read -r used lines_per_s < <(python3 - "$WORK/samples.txt" <<'PY'
import sys
rows = [tuple(float(x) for x in l.split()) for l in open(sys.argv[1])]
# From the first line answered to the last: the runner's ramp at both ends counts against it.
first = next(i for i, r in enumerate(rows) if r[1] > 0)
last = next(i for i, r in enumerate(rows) if r[1] == rows[-1][1])
window = rows[max(first - 1, 0):last + 1]
mean = sum(r[2] for r in window) / len(window)
seconds = window[-1][0] - window[0][0]
print(f"{mean:.2f}", f"{(window[-1][1] - window[0][1]) / seconds:.1f}")
PY
)
# One line's service time on the idle pool (measured after the batch, not before it: the
# scheduler keeps room for a recent peak of requests other than batches): what the pool's
# capacity is worth in lines a second.
line_ms=$(python3 - "$FABRIQUE_ADDR" "$BATCH_KEY" <<'PY'
import http.client, json, sys, time
host, port = sys.argv[1].split(":")
conn = http.client.HTTPConnection(host, int(port), timeout=60)
body = json.dumps({"model": "mistral-small", "max_tokens": 32,
                   "messages": [{"role": "user", "content": "Summarize credit file 0."}]})
samples = []
for _ in range(10):
    started = time.monotonic()
    conn.request("POST", "/v1/chat/completions", body, {"Authorization": f"Bearer {sys.argv[2]}", "Content-Type": "application/json"})
    conn.getresponse().read()
    samples.append((time.monotonic() - started) * 1000)
print(f"{sorted(samples)[len(samples) // 2]:.1f}")
PY
)

ideal=$(python3 -c "print(f'{$CAPACITY * 1000 / $line_ms:.1f}')")

# The waits in the scheduler of every request but the batches' (the bench user's key asks at its
# default priority, `standard`), from /metrics: a histogram's buckets, as JSON.
waits() {
    curl -fsS "$FABRIQUE_URL/metrics" | python3 -c '
import json, re, sys
pattern = re.compile(r"^fabrique_schedule_wait_seconds_(bucket|sum|count)\{([^}]*)\} (\S+)$")
found = {}
for line in sys.stdin:
    m = pattern.match(line.strip())
    if m and "priority=\"batch\"" not in m.group(2):
        le = re.search(r"le=\"([^\"]+)\"", m.group(2))
        name = m.group(1) + (":" + le.group(1) if le else "")
        found[name] = found.get(name, 0.0) + float(m.group(3))
print(json.dumps(found))'
}
wait_summary() {       # wait_summary BEFORE AFTER: "mean ms, p99 bound ms" of the waits between
    python3 - "$1" "$2" <<'PY2'
import json, sys
before, after = json.loads(sys.argv[1]), json.loads(sys.argv[2])
delta = {k: v - before.get(k, 0.0) for k, v in after.items()}
count = delta.get("count", 0.0)
if not count:
    print("no waits recorded"); sys.exit()
buckets = sorted((float(k.split(":")[1]), v) for k, v in delta.items() if k.startswith("bucket:") and k != "bucket:+Inf")
bound = next((le for le, n in buckets if n >= 0.99 * count), float("inf"))
print(f"mean {1000 * delta['sum'] / count:.2f} ms, p99 at most {1000 * bound:g} ms")
PY2
}

log "phase quiet: $USERS interactive streams for ${DURATION}s"
waits_before=$(waits)
interactive "$USERS" "$DURATION" > "$WORK/quiet.txt" 2> "$LOGS/quiet.log"
waits_quiet=$(wait_summary "$waits_before" "$(waits)")

log "phase during: a second batch, and the same interactive load once its first lines are answered"
batch_id=$(submit_batch)
for _ in $(seq 1 600); do
    read -r state_now done_before _ < <(batch_state "$batch_id")
    (( done_before > 0 )) || [[ $state_now != in_progress && $state_now != validating ]] && break
    sleep 0.1
done
waits_before=$(waits)
interactive "$USERS" "$DURATION" > "$WORK/during.txt" 2> "$LOGS/during.log"
waits_during=$(wait_summary "$waits_before" "$(waits)")
read -r state_after done_after _ < <(batch_state "$batch_id")

read -r n_quiet p50_quiet p99_quiet < <(percentiles "$WORK/quiet.txt")
read -r n_during p50_during p99_during < <(percentiles "$WORK/during.txt")
ratio=$(python3 -c "print(f'{$p99_during / $p99_quiet:.3f}')")
overlap="lines $done_before → $done_after answered during the phase"
[[ $state_after == in_progress ]] || overlap="$overlap (the batch was $state_after at the end of the phase)"
cat <<REPORT

Batch alone ($LINES lines, runner concurrency $CONCURRENCY, pool capacity $CAPACITY, batch headroom ${HEADROOM:-default}): $status_alone, $failed_alone failed;
mean sequences in use **$used of $CAPACITY** ($(python3 -c "print(f'{100 * $used / $CAPACITY:.1f}')") % of idle capacity); $lines_per_s lines/s
against at most $ideal (one line alone: $line_ms ms).

| phase | streams | TTFT p50 ms | TTFT p99 ms | wait for a sequence | failures |
|---|---:|---:|---:|---|---|
| quiet | $n_quiet | $p50_quiet | $p99_quiet | $waits_quiet | $(tail -n 1 "$LOGS/quiet.log") |
| during a batch | $n_during | $p50_during | $p99_during | $waits_during | $(tail -n 1 "$LOGS/during.log") |

p99 during / quiet: **$ratio** (goal: at most 1.10); $overlap ($PROFILE build).
REPORT
