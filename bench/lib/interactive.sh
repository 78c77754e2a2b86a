# bench/lib/interactive.sh: interactive users' time to first token beside other work. Sourced, not
# run. Needs FABRIQUE_ADDR (host:port on loopback) and BEARER (an inference key) set.

interactive() {        # interactive USERS SECONDS [MODEL]: closed-loop streams; one TTFT (ms) a line
    python3 - "$FABRIQUE_ADDR" "$BEARER" "$1" "$2" "${3:-mistral-small}" <<'PY'
import http.client, json, sys, threading, time
addr, key, users, duration, model = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
host, port = addr.split(":")
body = json.dumps({"model": model, "stream": True, "max_tokens": 16,
                   "messages": [{"role": "user", "content": "Bonjour, une question rapide."}]})
headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
times, failures, lock = [], [0], threading.Lock()
def user():
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    end = time.monotonic() + duration
    while time.monotonic() < end:
        started = time.monotonic()
        conn.request("POST", "/v1/chat/completions", body, headers)
        response, first = conn.getresponse(), None
        for line in response:
            if first is None and line.startswith(b"data: {") and b'"content":"' in line:
                first = time.monotonic()
        with lock:
            if response.status == 200 and first is not None:
                times.append((first - started) * 1000)
            else:
                failures[0] += 1
threads = [threading.Thread(target=user) for _ in range(users)]
for t in threads: t.start()
for t in threads: t.join()
for t in times: print(f"{t:.2f}")
print(f"failures {failures[0]}", file=sys.stderr)
PY
}

percentiles() {        # percentiles FILE: "count p50 p99" of the numbers in FILE
    python3 - "$1" <<'PY'
import sys
v = sorted(float(l) for l in open(sys.argv[1]) if l.strip())
pick = lambda q: v[min(len(v) - 1, int(q * len(v)))]
print(len(v), f"{pick(0.50):.1f}", f"{pick(0.99):.1f}")
PY
}
