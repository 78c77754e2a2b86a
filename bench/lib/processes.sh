# bench/lib/processes.sh: the process handling (and the tools) the bench scripts share. Sourced, not run.
# Needs LOGS (where each process logs); build_fabrique needs REPO_ROOT, FABRIQUE_BIN, BUILD and
# PROFILE (release unless set). Every process started with start_bg is stopped on exit,
# newest first: SIGTERM (Fabrique then flushes its usage), SIGKILL after STOP_GRACE_SECONDS (10).

STARTED_PIDS=()

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

start_bg() {           # start_bg NAME CMD... : in the background, logged to $LOGS/NAME.log, PID in LAST_PID
    local name=$1; shift
    "$@" > "$LOGS/$name.log" 2>&1 &
    LAST_PID=$!
    STARTED_PIDS+=("$LAST_PID")
}

stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $(( ${STOP_GRACE_SECONDS:-10} * 10 ))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$? i
    for (( i = ${#STARTED_PIDS[@]} - 1; i >= 0; i-- )); do
        stop_pid "${STARTED_PIDS[$i]}"
    done
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_ready() {         # wait_ready URL PID SECONDS : GET until 2xx, the process alive, at most SECONDS
    local url=$1 pid=$2 seconds=$3 i
    for (( i = 0; i < seconds * 5; i++ )); do
        kill -0 "$pid" 2>/dev/null || return 1
        curl -fs -o /dev/null --max-time 1 "$url" && return 0
        sleep 0.2
    done
    return 1
}

need_tools() {         # need_tools CMD... : apt-get installs those missing (package named as the command), unless INSTALL=0
    local missing=() tool
    for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    (( ${#missing[@]} == 0 )) && return 0
    [[ ${INSTALL:-1} == 1 ]] || die "missing: ${missing[*]} (INSTALL=0)"
    log "installing ${missing[*]} (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
        > "$LOGS/apt.log" 2>&1 || die "apt-get install failed, see $LOGS/apt.log"
}

build_fabrique() {     # builds FABRIQUE_BIN (PROFILE's) when BUILD=1, or when missing and BUILD=auto
    local flag=()
    [[ ${PROFILE:-release} == release ]] && flag=(--release)
    if [[ $BUILD == 1 || ( $BUILD == auto && ! -x $FABRIQUE_BIN ) ]]; then
        log "cargo build ${flag[*]} --bin fabrique"
        (cd "$REPO_ROOT" && cargo build "${flag[@]}" --bin fabrique)
    fi
    [[ -x $FABRIQUE_BIN ]] || die "no Fabrique binary at $FABRIQUE_BIN"
}
