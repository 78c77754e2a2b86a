#!/usr/bin/env bash
# bench/factory-eval.sh: does an AI Factory evaluation starve interactive users? An evaluation of
# CASES cases (default 1,000) runs through the gateway at `batch` priority while USERS interactive
# streams keep asking; their p99 time to first token is compared with the same load without it.
#
# One `fabrique serve` on its embedded simulator (bench/factory-eval.toml: one GPU pool of
# `capacity` sequences, fair scheduling on). Entity `factory` owns a use case whose version answers
# in at most 32 tokens and a suite of CASES cases; entity `bench` has the interactive user. Then:
#   1. `quiet`: USERS closed-loop streamed chats (max_tokens 16) for DURATION seconds, alone;
#   2. `evaluating`: the run started (`POST /admin/v1/use-cases/…/evaluations`, as `fabrique eval
#      run` does), and once its first results are stored the same interactive load for DURATION
#      seconds (the run must still be going at the end, or the summary says so); then the run is
#      awaited and its wall time reported.
# Time to first token: from sending the request to the first SSE event carrying content, measured
# by the client (python3, one thread per stream). Prints p50/p99 per phase and the ratio of p99s.
#
# Usage, from anywhere:  bash bench/factory-eval.sh
# Knobs (environment): CASES=1000  USERS=4  DURATION=20  PROFILE=release|debug  BUILD=auto|1|0
#   FABRIQUE_ADDR=127.0.0.1:18480  WORK=/tmp/fabrique-factory-bench
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/tmp/fabrique-factory-bench}
CASES=${CASES:-1000}
USERS=${USERS:-4}
DURATION=${DURATION:-20}
PROFILE=${PROFILE:-release}
BUILD=${BUILD:-auto}
FABRIQUE_ADDR=${FABRIQUE_ADDR:-127.0.0.1:18480}
FABRIQUE_URL=http://$FABRIQUE_ADDR
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
FABRIQUE_BIN=$TARGET_DIR/$PROFILE/fabrique
LOGS=$WORK/logs
# shellcheck source=lib/processes.sh
source "$HERE/lib/processes.sh"
# shellcheck source=lib/interactive.sh
source "$HERE/lib/interactive.sh"

json_field() { python3 -c 'import json, sys; t = sys.stdin.read(); print(json.loads(t[t.index("{"):])[sys.argv[1]])' "$1"; }

[[ $FABRIQUE_ADDR == 127.0.0.1:* ]] || die "FABRIQUE_ADDR must be on loopback"
rm -rf "$WORK"
mkdir -p "$LOGS" "$WORK/data"
build_fabrique

ADMIN_KEY=fabk_$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export FABRIQUE_URL FABRIQUE_ADMIN_KEY=$ADMIN_KEY
log "starting fabrique serve ($PROFILE build) on $FABRIQUE_ADDR"
start_bg fabrique "$FABRIQUE_BIN" serve --config "$HERE/factory-eval.toml" \
    --listen "$FABRIQUE_ADDR" --data-dir "$WORK/data"
wait_ready "$FABRIQUE_URL/readyz" "$LAST_PID" 120 \
    || { tail -n 30 "$LOGS/fabrique.log" >&2; die "fabrique did not answer on /readyz"; }

admin() { "$FABRIQUE_BIN" admin "$@"; }
admin entities create --slug factory --name "AI Factory" > /dev/null
admin entities create --slug bench --name "Benchmark" > /dev/null
user_id=$(admin users create --entity bench --user-name bench-user --email bench@example.org | json_field id)
BEARER=$(admin keys create --user-id "$user_id" | json_field key)

# The use case, its version and its suite.
cat > "$WORK/use-case.json" <<'JSON'
{"slug": "ledger-notes", "name": "Ledger notes", "purpose": "Benchmark: a batch of questions.",
 "owner_entity": "factory", "allowed_entities": ["factory"], "risk_class": "minimal"}
JSON
cat > "$WORK/version.json" <<'JSON'
{"template": "You answer in one short sentence.", "model": "mistral-small",
 "parameters": {"max_tokens": 32, "temperature": 0}}
JSON
python3 - "$CASES" > "$WORK/suite.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": f"c{i}", "messages": [{"role": "user", "content": f"Question {i} about the ledger."}],
                      "expect": [{"grader": "regex", "pattern": "."}]}))
PY
"$FABRIQUE_BIN" usecase create "$WORK/use-case.json" > /dev/null
"$FABRIQUE_BIN" usecase version create ledger-notes "$WORK/version.json" > /dev/null
"$FABRIQUE_BIN" usecase suite put ledger-notes bench "$WORK/suite.jsonl" > /dev/null

api() {                # api METHOD PATH [BODY]: the admin API with the administrator's key
    curl -fsS -X "$1" -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
        ${3:+--data "$3"} "$FABRIQUE_URL$2"
}
run_state() { api GET "/admin/v1/evaluations/$1" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["status"], r["done"])'; }

log "phase quiet: $USERS interactive streams for ${DURATION}s"
interactive "$USERS" "$DURATION" > "$WORK/quiet.txt" 2> "$LOGS/quiet.log"

log "phase evaluating: an evaluation of $CASES cases, started through the admin API"
eval_started=$(date +%s.%N)
run_id=$(api POST /admin/v1/use-cases/ledger-notes/evaluations '{"version": 1, "suite": "bench"}' | json_field id)
done_before=0
for _ in $(seq 1 600); do
    read -r state_now done_before < <(run_state "$run_id")
    (( done_before > 0 )) || [[ $state_now != running ]] && break
    sleep 0.1
done
interactive "$USERS" "$DURATION" > "$WORK/evaluating.txt" 2> "$LOGS/evaluating.log"
read -r state_after done_after < <(run_state "$run_id")
while read -r state_end done_end < <(run_state "$run_id") && [[ $state_end == running ]]; do sleep 0.5; done
eval_secs=$(python3 -c "import time; print(f'{time.time() - $eval_started:.1f}')")

read -r n_quiet p50_quiet p99_quiet < <(percentiles "$WORK/quiet.txt")
read -r n_eval p50_eval p99_eval < <(percentiles "$WORK/evaluating.txt")
ratio=$(python3 -c "print(f'{$p99_eval / $p99_quiet:.3f}')")
overlap="cases $done_before → $done_after during the phase"
[[ $state_after == running ]] || overlap="$overlap (the run ended before the phase: $state_after)"
cat <<EOF

| phase | streams | TTFT p50 ms | TTFT p99 ms | failures |
|---|---:|---:|---:|---|
| quiet | $n_quiet | $p50_quiet | $p99_quiet | $(tail -n 1 "$LOGS/quiet.log") |
| evaluating | $n_eval | $p50_eval | $p99_eval | $(tail -n 1 "$LOGS/evaluating.log") |

p99 evaluating / quiet: **$ratio** (goal: at most 1.10); $overlap.
Evaluation: $CASES cases, $state_end with $done_end stored, ${eval_secs}s wall time ($PROFILE build).
EOF
