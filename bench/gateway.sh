#!/usr/bin/env bash
# bench/gateway.sh: how much a Fabrique hop costs, against the floor of one proxy hop.
#
# A static OpenAI-compatible upstream (nginx, bench/nginx-upstream.conf: a fixed chat.completion on
# 127.0.0.1:18080, a static SSE stream on 127.0.0.1:18081) is loaded three ways, one after another,
# with the same request body, the same headers, the same concurrency and the same duration:
#   direct       oha -> upstream
#   nginx-proxy  oha -> nginx as a plain keep-alive reverse proxy (bench/nginx-proxy.conf) -> upstream
#   fabrique     oha -> fabrique serve --config bench/fabrique-bench.toml -> upstream
#                (an admin key is bootstrapped, an entity, a user and an inference key are created
#                with `fabrique admin`; usage recording stays on, as it is by default)
# and prints a Markdown table with, per target, mode and concurrency: requests/s, p50, p99, TTFB p50,
# the target's CPU per request (from /proc/<pid>/stat, its whole process tree), and Fabrique's added
# latency over direct and its throughput relative to nginx-proxy. See bench/README.md.
#
# Usage, from anywhere:  bash bench/gateway.sh
# Knobs (environment):
#   DURATION=10s          per measured run (oha -z); WARMUP=2s unrecorded per target and mode; PAUSE=1 s between runs
#   CONNS="1 32 128"      concurrency levels            MODES="json stream"
#   TARGETS="direct nginx-proxy fabrique"               which rows (direct always makes sense first)
#   OHA_THREADS=1         load-generator threads (the reference box has 2 cores)
#   WORK=/tmp/fabrique-bench   logs, data dir and results (results/<timestamp>/)
#   FABRIQUE_BIN=<target dir>/release/fabrique          FABRIQUE_CONFIG=bench/fabrique-bench.toml
#   FABRIQUE_ADDR=127.0.0.1:9000                        loopback only
#   BUILD=auto|1|0        auto: `cargo build --release --bin fabrique` if the binary is missing; 1: always; 0: never
#   INSTALL=1             0: never install nginx (apt) or oha (cargo install), fail instead
# Everything it starts is stopped by PID on exit (trap); it never kills anything by name. Every wait
# is bounded. Targets must be loopback: it refuses any other address.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/tmp/fabrique-bench}
TARGETS=${TARGETS-direct nginx-proxy fabrique}
MODES=${MODES:-json stream}
CONNS=${CONNS:-1 32 128}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
PAUSE=${PAUSE:-1}
OHA_THREADS=${OHA_THREADS:-1}
OHA_VERSION=${OHA_VERSION:-1.16.0}
INSTALL=${INSTALL:-1}
BUILD=${BUILD:-auto}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
FABRIQUE_BIN=${FABRIQUE_BIN:-$TARGET_DIR/release/fabrique}
FABRIQUE_CONFIG=${FABRIQUE_CONFIG:-$HERE/fabrique-bench.toml}
FABRIQUE_ADDR=${FABRIQUE_ADDR:-127.0.0.1:9000}

UPSTREAM_JSON=http://127.0.0.1:18080/v1/chat/completions
UPSTREAM_STREAM=http://127.0.0.1:18081/v1/chat/completions
PROXY_JSON=http://127.0.0.1:18082/v1/chat/completions
PROXY_STREAM=http://127.0.0.1:18083/v1/chat/completions
FABRIQUE_URL=http://$FABRIQUE_ADDR
# Same length as a real key, so every target gets the same request bytes until Fabrique's exists.
BEARER=fabk_0000000000000000000000000000000000000000000000000000000000000000

LOGS=$WORK/logs
RESULTS=$WORK/results/$(date +%Y%m%d-%H%M%S)
MANIFEST=$RESULTS/runs.tsv
UPSTREAM_PID=""
# Stopping takes 5 s at most here (SIGKILL after): the peers it runs beside stop at once too.
STOP_GRACE_SECONDS=5
# shellcheck source=lib/processes.sh
source "$HERE/lib/processes.sh"
# shellcheck source=lib/fabrique.sh
source "$HERE/lib/fabrique.sh"

# ------------------------------------------------------------------------------ guards
is_loopback_host() {   # 127.0.0.0/8, localhost, ::1 / [::1]
    case $1 in
        127.*|localhost|'[::1]'|::1) return 0 ;;
        *) return 1 ;;
    esac
}

host_of_addr() {       # host_of_addr HOST:PORT | [V6]:PORT | URL -> host
    local a=${1#*://}
    a=${a%%/*}
    if [[ $a == \[* ]]; then echo "${a%%]*}]"; else echo "${a%:*}"; fi
}

require_loopback() {
    is_loopback_host "$(host_of_addr "$1")" || die "refusing non-loopback target $1 (this benchmark only runs on loopback)"
}

port_in_use() {
    python3 -c 'import socket, sys
s = socket.socket(); s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

duration_seconds() {   # 10s | 2m | 15 -> seconds
    case $1 in
        *[0-9]s) echo "${1%s}" ;;
        *[0-9]m) echo $(( ${1%m} * 60 )) ;;
        *[0-9]) echo "$1" ;;
        *) die "cannot read duration '$1' (use e.g. 10s or 1m)" ;;
    esac
}

# ------------------------------------------------------------------------------ measurements
cpu_ticks() {          # cpu_ticks PID : utime+stime of PID and all its descendants, in clock ticks
    python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1])
parent, ticks = {}, {}
for entry in os.listdir("/proc"):
    if not entry.isdigit():
        continue
    try:
        with open(f"/proc/{entry}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    pid = int(entry)
    parent[pid] = int(fields[1])                  # field 4, ppid
    ticks[pid] = int(fields[11]) + int(fields[12])  # fields 14 and 15, utime and stime
total, todo = 0, [root]
while todo:
    pid = todo.pop()
    total += ticks.get(pid, 0)
    todo.extend(child for child, p in parent.items() if p == pid)
print(total)
PY
}

host_cpu() {           # host_cpu -> "busy total" jiffies over all cores
    awk '/^cpu /{ idle = $5 + $6; total = 0; for (i = 2; i <= NF; i++) total += $i; print total - idle, total; exit }' /proc/stat
}

set_target() {         # set_target NAME MODE -> URL, BODY, TARGET_PID
    local name=$1 mode=$2
    BODY=$HERE/request-json.json
    [[ $mode == stream ]] && BODY=$HERE/request-stream.json
    case $name in
        direct)      URL=$UPSTREAM_JSON; [[ $mode == stream ]] && URL=$UPSTREAM_STREAM ;;
        nginx-proxy) URL=$PROXY_JSON;    [[ $mode == stream ]] && URL=$PROXY_STREAM ;;
        fabrique)    URL=$FABRIQUE_URL/v1/chat/completions ;;
        *) die "unknown target $name" ;;
    esac
    require_loopback "$URL"
}

precheck() {           # one request: json must be a chat.completion with usage, stream must end in [DONE]
    local out=$1 code
    code=$(curl -s -N --max-time 20 -o "$out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -H "Authorization: Bearer $BEARER" --data-binary @"$BODY" "$URL" || true)
    echo "$code" > "$out.code"
    [[ $code == 200 ]] || return 1
    if [[ $MODE == stream ]]; then
        grep -q 'chat.completion.chunk' "$out" && grep -q '"usage"' "$out" && grep -q '^data: \[DONE\]' "$out"
    else
        grep -q '"chat.completion"' "$out" && grep -q '"usage"' "$out"
    fi
}

oha_run() {            # oha_run CONNS DURATION OUT
    local conns=$1 duration=$2 out=$3 limit
    limit=$(( $(duration_seconds "$duration") + 60 ))
    timeout "$limit" oha --no-tui --output-format json --worker-threads "$OHA_THREADS" \
        -z "$duration" -c "$conns" -t 30s -m POST -T application/json -D "$BODY" \
        -H "Authorization: Bearer $BEARER" "$URL" > "$out" 2> "$out.err"
}

measure() {            # measure TARGET : every mode and concurrency, appended to the manifest
    local name=$1 mode conns tag raw max_conns=0 c
    for c in $CONNS; do if (( c > max_conns )); then max_conns=$c; fi; done
    for mode in $MODES; do
        MODE=$mode
        set_target "$name" "$mode"
        if ! precheck "$RESULTS/$name-$mode-precheck.txt"; then
            local excerpt
            excerpt=$(head -c 200 "$RESULTS/$name-$mode-precheck.txt" 2>/dev/null | tr '\n\t' '  ' || true)
            log "$name $mode: precheck failed (HTTP $(cat "$RESULTS/$name-$mode-precheck.txt.code")): $excerpt"
            printf '%s\t%s\t-\t\t\t\t\t\t\tprecheck failed (HTTP %s): %s\n' "$name" "$mode" \
                "$(cat "$RESULTS/$name-$mode-precheck.txt.code")" "$excerpt" >> "$MANIFEST"
            continue
        fi
        log "$name $mode: warm-up $WARMUP at c=$max_conns"
        oha_run "$max_conns" "$WARMUP" "$RESULTS/warmup-$name-$mode.json" || log "warm-up failed (ignored)"
        sleep "$PAUSE"
        for conns in $CONNS; do
            tag=$name-$mode-c$conns
            raw=$RESULTS/$tag.json
            log "$name $mode: c=$conns for $DURATION"
            local t0 t1 b0 h0 b1 h1 s0 s1
            t0=$(cpu_ticks "$TARGET_PID"); read -r b0 h0 < <(host_cpu); s0=$(date +%s.%N)
            if ! oha_run "$conns" "$DURATION" "$raw"; then
                log "$tag: oha failed: $(head -c 300 "$raw.err")"
                printf '%s\t%s\t%s\t\t\t\t\t\t\toha failed\n' "$name" "$mode" "$conns" >> "$MANIFEST"
                continue
            fi
            s1=$(date +%s.%N); t1=$(cpu_ticks "$TARGET_PID"); read -r b1 h1 < <(host_cpu)
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n' "$name" "$mode" "$conns" "$raw" \
                "$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.3f", b - a }')" \
                $(( t1 - t0 )) $(( b1 - b0 )) $(( h1 - h0 )) "$CLK_TCK" >> "$MANIFEST"
            sleep "$PAUSE"
        done
    done
}

# ------------------------------------------------------------------------------ setup
install_tools() {
    need_tools nginx
    if ! command -v oha >/dev/null; then
        [[ $INSTALL == 1 ]] || die "oha is missing (INSTALL=0)"
        log "installing oha $OHA_VERSION (cargo install --locked; about 4 min on 2 cores)"
        cargo install oha --version "$OHA_VERSION" --locked > "$LOGS/cargo-install-oha.log" 2>&1 \
            || die "cargo install oha failed, see $LOGS/cargo-install-oha.log"
        export PATH=$HOME/.cargo/bin:$PATH
    fi
}

build_fabrique() {
    case $BUILD in
        0) ;;
        1) log "cargo build --release --bin fabrique"; (cd "$REPO_ROOT" && cargo build --release --bin fabrique) ;;
        auto)
            if [[ ! -x $FABRIQUE_BIN ]]; then
                log "$FABRIQUE_BIN is missing: cargo build --release --bin fabrique (several minutes from scratch)"
                (cd "$REPO_ROOT" && cargo build --release --bin fabrique)
            elif [[ -n $(find "$REPO_ROOT/crates" "$REPO_ROOT/Cargo.lock" -newer "$FABRIQUE_BIN" -name '*.rs' -print -quit 2>/dev/null) ]]; then
                log "warning: sources are newer than $FABRIQUE_BIN; measuring it anyway (BUILD=1 rebuilds)"
            fi ;;
        *) die "BUILD must be auto, 1 or 0" ;;
    esac
    [[ -x $FABRIQUE_BIN ]] || die "no Fabrique binary at $FABRIQUE_BIN"
}

check_fabrique_config() {  # every endpoint of the bench config must be loopback too
    python3 - "$FABRIQUE_CONFIG" <<'PY' || die "$FABRIQUE_CONFIG must only name loopback endpoints"
import sys, tomllib, urllib.parse
with open(sys.argv[1], "rb") as f:
    config = tomllib.load(f)
bad = [e.get("url") for e in config.get("endpoints", [])
       if urllib.parse.urlsplit(e.get("url", "")).hostname not in ("127.0.0.1", "localhost", "::1")
       and not str(urllib.parse.urlsplit(e.get("url", "")).hostname or "").startswith("127.")]
if bad:
    sys.exit(f"non-loopback endpoints: {bad}")
PY
}

versions() {
    {
        echo "date: $(date -u +%FT%TZ)  host: $(nproc) cores, $(free -g | awk '/Mem:/{ print $2 }') GiB"
        echo "nginx: $(nginx -v 2>&1 | sed 's/.*\///')  oha: $(oha --version 2>/dev/null | awk '{ print $2 }') ($OHA_THREADS thread(s))"
        [[ " $TARGETS " != *" fabrique "* ]] || echo "fabrique: $FABRIQUE_BIN, built $(date -u -r "$FABRIQUE_BIN" +%FT%TZ 2>/dev/null || echo '?'), repo at $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
        echo "settings: DURATION=$DURATION WARMUP=$WARMUP CONNS=\"$CONNS\" MODES=\"$MODES\""
    } | tee "$RESULTS/versions.txt" >&2
}

# ------------------------------------------------------------------------------ report
report() {
    python3 - "$MANIFEST" "$RESULTS" <<'PY'
import json, sys

manifest, results = sys.argv[1], sys.argv[2]
rows = []
for line in open(manifest):
    f = line.rstrip("\n").split("\t")
    target, mode, conns = f[0], f[1], f[2]
    if len(f) < 10 or not f[3]:
        rows.append(dict(target=target, mode=mode, conns=conns, note=f[-1]))
        continue
    raw, wall, gw_ticks, host_busy, host_total, clk_tck = f[3], float(f[4]), int(f[5]), int(f[6]), int(f[7]), int(f[8])
    with open(raw) as fh:
        oha = json.load(fh)
    codes = {int(k): v for k, v in oha.get("statusCodeDistribution", {}).items()}
    ok = sum(v for k, v in codes.items() if 200 <= k < 300)
    errors = {k: v for k, v in oha.get("errorDistribution", {}).items() if "deadline" not in k}
    attempted = sum(codes.values()) + sum(errors.values())
    lat, ttfb = oha.get("latencyPercentiles", {}), oha.get("firstBytePercentiles", {})
    run_seconds = oha["summary"]["total"] or wall
    note = ""
    if ok < attempted:
        bad = {str(k): v for k, v in codes.items() if not 200 <= k < 300}
        bad.update(errors)
        note = "non-2xx/errors: " + ", ".join(f"{k}: {v}" for k, v in sorted(bad.items()))[:120]
    rows.append(dict(
        target=target, mode=mode, conns=conns,
        rps=ok / run_seconds if run_seconds else 0.0,
        p50=(lat.get("p50") or 0) * 1e3, p99=(lat.get("p99") or 0) * 1e3,
        ttfb50=(ttfb.get("p50") or 0) * 1e3,
        ok_pct=100.0 * ok / attempted if attempted else 0.0,
        cpu_pct=100.0 * gw_ticks / clk_tck / wall if wall else 0.0,
        cpu_us=1e6 * gw_ticks / clk_tck / ok if ok else float("nan"),
        host_pct=100.0 * host_busy / host_total if host_total else 0.0,
        note=note,
    ))

def find(target, mode, conns):
    for r in rows:
        if r["target"] == target and r["mode"] == mode and r["conns"] == conns and "rps" in r:
            return r
    return None

header = ["target", "mode", "conns", "RPS", "p50 ms", "p99 ms", "TTFB p50 ms", "ok %", "gw CPU %",
          "gw CPU µs/req", "host busy %", "+p50 µs vs direct", "+p99 µs vs direct", "RPS / nginx-proxy", "note"]
lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 3) + "---|"]
tsv = ["\t".join(header)]
for r in rows:
    if "rps" not in r:
        cells = [r["target"], r["mode"], r["conns"]] + ["-"] * (len(header) - 4) + [r["note"]]
    else:
        direct = find("direct", r["mode"], r["conns"])
        proxy = find("nginx-proxy", r["mode"], r["conns"])
        added = lambda key: f"{(r[key] - direct[key]) * 1e3:+.0f}" if direct and r["target"] != "direct" else "-"
        ratio = f"{r['rps'] / proxy['rps']:.2f}" if proxy and proxy["rps"] and r["target"] != "direct" else "-"
        cells = [r["target"], r["mode"], r["conns"], f"{r['rps']:.0f}", f"{r['p50']:.3f}", f"{r['p99']:.3f}",
                 f"{r['ttfb50']:.3f}", f"{r['ok_pct']:.1f}", f"{r['cpu_pct']:.0f}", f"{r['cpu_us']:.1f}",
                 f"{r['host_pct']:.0f}", added("p50"), added("p99"), ratio, r["note"]]
    lines.append("| " + " | ".join(cells) + " |")
    tsv.append("\t".join(cells))
table = "\n".join(lines)
open(f"{results}/table.md", "w").write(table + "\n")
open(f"{results}/rows.tsv", "w").write("\n".join(tsv) + "\n")
print(table)

# One line per mode for the impatient: the unloaded added latency and the loaded throughput ratio.
for mode in sorted({r["mode"] for r in rows}):
    parts = []
    for r in rows:
        if r["target"] != "fabrique" or r["mode"] != mode or "rps" not in r:
            continue
        direct, proxy = find("direct", mode, r["conns"]), find("nginx-proxy", mode, r["conns"])
        part = f"c={r['conns']}: {r['cpu_us']:.0f} µs CPU/req"
        if direct:
            part += f", +{(r['p50'] - direct['p50']) * 1e3:.0f}/+{(r['p99'] - direct['p99']) * 1e3:.0f} µs p50/p99 vs direct"
        if proxy and proxy["rps"]:
            part += f", {r['rps'] / proxy['rps']:.2f}x nginx-proxy RPS"
        parts.append(part)
    if parts:
        print(f"\nfabrique {mode}: " + "; ".join(parts))
PY
}

# ------------------------------------------------------------------------------ main
command -v python3 >/dev/null || die "python3 is needed"
command -v curl >/dev/null || die "curl is needed"
mkdir -p "$LOGS" "$RESULTS" "$WORK/upstream/logs" "$WORK/upstream/tmp" "$WORK/proxy/logs" "$WORK/proxy/tmp"
: > "$MANIFEST"
CLK_TCK=$(getconf CLK_TCK)
duration_seconds "$DURATION" > /dev/null
duration_seconds "$WARMUP" > /dev/null
require_loopback "$FABRIQUE_ADDR"
for target in $TARGETS; do
    case $target in direct|nginx-proxy|fabrique) ;; *) die "unknown target '$target' (direct, nginx-proxy, fabrique)" ;; esac
done

install_tools
if [[ " $TARGETS " == *" fabrique "* ]]; then
    check_fabrique_config
    build_fabrique     # before any load, so a build never competes with a measurement
fi
for port in 18080 18081 18082 18083 "${FABRIQUE_ADDR##*:}"; do
    port_in_use "$port" && die "127.0.0.1:$port is already in use (another benchmark running?)"
done
versions

log "starting the upstream (nginx, 127.0.0.1:18080 json, :18081 stream)"
start_bg upstream nginx -p "$WORK/upstream/" -c "$HERE/nginx-upstream.conf" -g 'daemon off;'
UPSTREAM_PID=$LAST_PID
wait_ready http://127.0.0.1:18080/health "$UPSTREAM_PID" 20 || die "the upstream did not start: $(tail -n 5 "$LOGS/upstream.log")"

for target in $TARGETS; do
    case $target in
        direct)
            TARGET_PID=$UPSTREAM_PID
            measure direct ;;
        nginx-proxy)
            start_bg nginx-proxy nginx -p "$WORK/proxy/" -c "$HERE/nginx-proxy.conf" -g 'daemon off;'
            TARGET_PID=$LAST_PID
            wait_ready http://127.0.0.1:18082/health "$TARGET_PID" 20 || die "nginx-proxy did not start: $(tail -n 5 "$LOGS/nginx-proxy.log")"
            measure nginx-proxy
            stop_pid "$TARGET_PID" ;;
        fabrique)
            start_fabrique
            measure fabrique
            stop_pid "$TARGET_PID" ;;
    esac
done

echo
report
echo
log "raw oha JSON, prechecks and table.md in $RESULTS; process logs in $LOGS"
