#!/usr/bin/env bash
# bench/policy-overhead.sh: what every data-policy detector adds to a request's p99, end to end.
#
# Two release servers (bench/fabrique-bench.toml) in front of the static nginx upstream of
# bench/nginx-upstream.conf: `plain` as is, `policy` with the same file plus a `[policy]` turning
# every personal-data type to `redact` on input and output, blocked terms and the prompt-injection
# heuristic on. Both get the same 4 KB chat prompt of French business prose (no personal data, so
# every detector reads every byte and the body passes unchanged), one connection at a time (wrk
# -c 1, --latency), in ROUNDS alternating rounds. Prints each round's p50 and p99 and the
# difference of the medians of p99, policy − plain (the bar: under 100 µs).
#
# Usage, from anywhere:  bash bench/policy-overhead.sh
# Knobs (environment): DURATION=8s  WARMUP=2s  ROUNDS=3  WORK=/tmp/fabrique-policy-bench
#   BUILD=auto|1|0 (auto: build when missing)  INSTALL=1 (0: never apt-get wrk, nginx)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/tmp/fabrique-policy-bench}
DURATION=${DURATION:-8s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
BUILD=${BUILD:-auto}
INSTALL=${INSTALL:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
FABRIQUE_BIN=$TARGET_DIR/release/fabrique
LOGS=$WORK/logs
# shellcheck source=lib/processes.sh
source "$HERE/lib/processes.sh"

json_field() { python3 -c 'import json, sys; t = sys.stdin.read(); print(json.loads(t[t.index("{"):])[sys.argv[1]])' "$1"; }

mkdir -p "$LOGS" "$WORK/upstream/logs" "$WORK/upstream/tmp"
rm -rf "$WORK/data-plain" "$WORK/data-policy"
need_tools wrk nginx
if [[ $BUILD == 1 || ( $BUILD == auto && ! -x $FABRIQUE_BIN ) ]]; then
    (cd "$REPO_ROOT" && cargo build --release --bin fabrique)
fi
[[ -x $FABRIQUE_BIN ]] || die "no Fabrique binary at $FABRIQUE_BIN"

# The policy server's configuration: the bench file and a policy with every detector acting.
cp "$HERE/fabrique-bench.toml" "$WORK/plain.toml"
cat "$HERE/fabrique-bench.toml" - > "$WORK/policy.toml" <<'TOML'

[policy]
blocked_terms = ["Projet Orion", "Opération Minerve"]
blocked_terms_action = "block"
prompt_injection = "block"

[policy.actions]
EMAIL = "redact"
PHONE_FR = "redact"
IBAN = "redact"
NIR = "redact"
SIREN = "redact"
SIRET = "redact"
CREDIT_CARD = "redact"
IPV4 = "redact"
IPV6 = "redact"

[policy.output]
EMAIL = "redact"
IBAN = "redact"
CREDIT_CARD = "redact"
TOML

# A 4 KB prompt of business prose without personal data.
python3 - "$WORK/body.json" <<'PY'
import json, sys
sentence = ("Le comité de direction a examiné le budget du troisième trimestre et demande une "
            "analyse des écarts par agence, avec les hypothèses de croissance retenues. ")
text = ""
while len(text.encode()) < 4096:
    text += sentence
text = text.encode()[:4096].decode("utf-8", "ignore")
body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], "max_tokens": 64}
json.dump(body, open(sys.argv[1], "w"), ensure_ascii=False)
PY

log "starting the upstream (nginx, 127.0.0.1:18080)"
start_bg upstream nginx -p "$WORK/upstream/" -c "$HERE/nginx-upstream.conf" -g 'daemon off;'
wait_ready http://127.0.0.1:18080/health "$LAST_PID" 20 || die "the upstream did not start"

ADMIN_KEY=fabk_$(python3 -c 'import secrets; print(secrets.token_hex(32))')
declare -A PORT=([plain]=9200 [policy]=9201) BEARER
for name in plain policy; do
    FABRIQUE_ADMIN_KEY=$ADMIN_KEY start_bg "fabrique-$name" "$FABRIQUE_BIN" serve --config "$WORK/$name.toml" \
        --listen "127.0.0.1:${PORT[$name]}" --data-dir "$WORK/data-$name"
    wait_ready "http://127.0.0.1:${PORT[$name]}/readyz" "$LAST_PID" 60 || die "fabrique ($name) did not become ready"
    admin=("$FABRIQUE_BIN" admin --url "http://127.0.0.1:${PORT[$name]}" --key "$ADMIN_KEY")
    "${admin[@]}" entities create --slug bench --name Benchmark > /dev/null
    user=$("${admin[@]}" users create --entity bench --user-name bench-user --email bench-user@example.org | json_field id)
    BEARER[$name]=$("${admin[@]}" keys create --user-id "$user" | json_field key)
    cat > "$LOGS/$name.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${BEARER[$name]}"
local f = io.open("$WORK/body.json", "r")
wrk.body = f:read("*a")
f:close()
LUA
    code=$(curl -s -o "$LOGS/$name-precheck.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -H "Authorization: Bearer ${BEARER[$name]}" --data-binary @"$WORK/body.json" "http://127.0.0.1:${PORT[$name]}/v1/chat/completions")
    [[ $code == 200 ]] || die "$name precheck answered $code, see $LOGS/$name-precheck.json"
done

# p50 and p99 in µs of one wrk run.
run() {
    local name=$1 out=$LOGS/wrk-$1-$2.txt url="http://127.0.0.1:${PORT[$1]}/v1/chat/completions"
    timeout 120 wrk -t 1 -c 1 -d "$WARMUP" -s "$LOGS/$name.lua" "$url" > /dev/null
    timeout 120 wrk -t 1 -c 1 -d "$DURATION" --latency -s "$LOGS/$name.lua" "$url" > "$out"
    grep -q 'Non-2xx' "$out" && die "$name: some answers were not 2xx, see $out"
    awk '
        function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; return v * 1000000 }
        $1 == "50%" { p50 = us($2) } $1 == "99%" { p99 = us($2) }
        END { printf "%.0f %.0f\n", p50, p99 }' "$out"
}

RUNS=()
for (( round = 1; round <= ROUNDS; round++ )); do
    for name in plain policy; do
        read -r p50 p99 < <(run "$name" "$round")
        log "round $round, $name: p50 $p50 µs, p99 $p99 µs"
        RUNS+=("$round $name $p50 $p99")
    done
done

echo
echo "date: $(date -u +%FT%TZ)  host: $(nproc) cores  repo at $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
printf '%s\n' "${RUNS[@]}" | python3 -c '
import statistics, sys
rows = [line.split() for line in sys.stdin if line.strip()]
print("| round | plain p50 µs | plain p99 µs | all detectors p50 µs | all detectors p99 µs |")
print("|---|---:|---:|---:|---:|")
by = {}
for r, name, p50, p99 in rows:
    by.setdefault(r, {})[name] = (int(p50), int(p99))
for r in sorted(by, key=int):
    (a50, a99), (b50, b99) = by[r]["plain"], by[r]["policy"]
    print(f"| {r} | {a50} | {a99} | {b50} | {b99} |")
plain = statistics.median(v["plain"][1] for v in by.values())
policy = statistics.median(v["policy"][1] for v in by.values())
print(f"p99 added by every detector on a 4 KB prompt (medians): {policy - plain:+.0f} µs (bar: under 100 µs); ratio {policy / plain:.3f}")
'
log "wrk outputs and logs in $LOGS"
