#!/usr/bin/env python3
"""bench/gpu-sharing.py: GPU pools shared by replicas — capacity, fairness, and what it costs.

Part 1, fairness and capacity. Three `fabrique serve` replicas on loopback, on PostgreSQL and
Redis, in front of ONE GPU pool: `fabrique sim` behind a counting proxy (this script) that
records how many requests are in flight at the pool at once. The pool's endpoint is configured
with CAPACITY sequences (the simulator itself has room for many more, so any overcommit shows
at the proxy instead of being queued away). Two entities of equal weight send through all three
replicas, round robin: `heavy` with HEAVY concurrent clients, `light` with LIGHT (a tenth). Both
stay backlogged, so each should get half of the served weighted tokens (input × 1 + output × 2).
Run twice: `alone` (no `[redis]`: each replica believes it owns the whole endpoint) and `shared`.

Part 2, cost. One replica in front of a simulator that answers at once (so the gateway's own
time shows), the same entity, CONNS concurrent clients and a rate limit far above
the load on its key (so admission counts it), without `[redis]` and with it, alternating ROUNDS
times: p50/p99 latency and CPU per request of the replica's process.

Prints Markdown tables. Environment: FABRIQUE_BIN (default $CARGO_TARGET_DIR/release/fabrique),
FABRIQUE_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres; a database
`fairshare` is created there, a fresh schema per run dropped at the end), FABRIQUE_TEST_REDIS_URL
(default redis://127.0.0.1:6379, keys under a fresh prefix), DURATION (s, 30), WARMUP (s, 5),
CAPACITY (8), HEAVY (120), LIGHT (12), MAX_TOKENS (40), CONNS (16), ROUNDS (3),
PARTS ("fairness cost"). Logs in WORK (default /tmp/fabrique-gpu-sharing). Needs python3 and psql.
Everything it starts is stopped on exit.
"""

import http.client
import http.server
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from http_json import request  # noqa: E402

TARGET_DIR = os.environ.get("CARGO_TARGET_DIR", "target")
BIN = os.environ.get("FABRIQUE_BIN", os.path.join(TARGET_DIR, "release", "fabrique"))
PG = os.environ.get("FABRIQUE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("FABRIQUE_TEST_REDIS_URL", "redis://127.0.0.1:6379")
DURATION = float(os.environ.get("DURATION", "30"))
WARMUP = float(os.environ.get("WARMUP", "5"))
CAPACITY = int(os.environ.get("CAPACITY", "8"))
HEAVY = int(os.environ.get("HEAVY", "120"))
LIGHT = int(os.environ.get("LIGHT", "12"))
MAX_TOKENS = int(os.environ.get("MAX_TOKENS", "40"))
CONNS = int(os.environ.get("CONNS", "16"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
PARTS = os.environ.get("PARTS", "fairness cost").split()
WORK = os.environ.get("WORK", "/tmp/fabrique-gpu-sharing")
ADMIN_KEY = "fabk_" + secrets.token_hex(32)
MODEL = "bench-chat"

CONFIG = """
[simulator]
embedded = false

[routing]
health_check_interval_ms = 0

[[endpoints]]
name = "gpu"
kind = "openai"
url = "{url}"
hosting = "on_premises"
clearance = "secret"
capacity = {capacity}

[[models]]
name = "{model}"
kind = "chat"
endpoints = ["gpu"]

[[entities]]
slug = "heavy"
name = "Heavy"

[[entities]]
slug = "light"
name = "Light"
{redis}
"""

REDIS_SECTION = """
[redis]
url = "{url}"
key_prefix = "{prefix}"
replicas = {replicas}
"""


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(database, sql):
    url = PG.rsplit("/", 1)[0] + "/" + database
    result = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-Atqc", sql],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"psql: {result.stderr.strip()}")
    return result.stdout.strip()


class CountingProxy(http.server.ThreadingHTTPServer):
    """Forwards every request to the simulator and counts those in flight at once."""

    daemon_threads = True

    def __init__(self, target_port):
        self.target_port = target_port
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        super().__init__(("127.0.0.1", 0), ProxyHandler)

    def enter(self):
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)

    def leave(self):
        with self.lock:
            self.in_flight -= 1

    def reset(self):
        with self.lock:
            self.most = self.in_flight


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self, method):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        self.server.enter()
        try:
            upstream = http.client.HTTPConnection("127.0.0.1", self.server.target_port, timeout=120)
            upstream.request(method, self.path, body, {"content-type": "application/json"})
            response = upstream.getresponse()
            data = response.read()
            upstream.close()
        finally:
            self.server.leave()
        self.send_response(response.status)
        self.send_header("content-type", response.getheader("content-type") or "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.forward("POST")

    def do_GET(self):
        self.forward("GET")


class Bench:
    def __init__(self):
        os.makedirs(WORK, exist_ok=True)
        self.processes = []
        self.schema = None
        psql("postgres", "SELECT 1")
        if psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'fairshare'") == "0":
            psql("postgres", "CREATE DATABASE fairshare")
        self.sim_port = free_port()
        self.start("sim", [BIN, "sim", "--listen", f"127.0.0.1:{self.sim_port}",
                           "--capacity", "1024", "--ttft-ms", "20", "--tokens-per-second", "400"])
        self.wait_ready(self.sim_port, "/health")
        self.proxy = CountingProxy(self.sim_port)
        threading.Thread(target=self.proxy.serve_forever, daemon=True).start()
        # For the cost: a simulator that answers at once, so the gateway's own time shows.
        self.instant_port = free_port()
        self.start("instant-sim", [BIN, "sim", "--listen", f"127.0.0.1:{self.instant_port}",
                                   "--capacity", "4096", "--ttft-ms", "0", "--tokens-per-second", "0"])
        self.wait_ready(self.instant_port, "/health")

    def start(self, name, argv, env=None):
        out = open(os.path.join(WORK, f"{name}.log"), "a")
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, **(env or {})))
        self.processes.append(process)
        return process

    def wait_ready(self, port, path, process=None):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"a process on port {port} exited at start (logs in {WORK})")
            try:
                if request(port, "GET", path, timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"port {port} not ready within 60 s")

    def cluster(self, name, replicas, shared, instant=False):
        """Starts `replicas` servers on a fresh schema, in front of the counted pool (or the
        instant simulator); their ports and processes."""
        self.schema = "bench_" + secrets.token_hex(6)
        psql("fairshare", f"CREATE SCHEMA {self.schema}")
        base = PG.rsplit("/", 1)[0] + "/fairshare"
        database = f"{base}?options[search_path]={self.schema}"
        redis = REDIS_SECTION.format(url=REDIS, prefix="fabrique-bench:" + secrets.token_hex(6),
                                     replicas=replicas) if shared else ""
        config = os.path.join(WORK, f"{name}.toml")
        with open(config, "w") as f:
            port, capacity = ((self.instant_port, 4096) if instant
                              else (self.proxy.server_address[1], CAPACITY))
            f.write(CONFIG.format(url=f"http://127.0.0.1:{port}/v1", capacity=capacity,
                                  model=MODEL, redis=redis))
        started = []
        for i in range(replicas):
            port = free_port()
            process = self.start(f"{name}-{i}", [
                BIN, "serve", "--listen", f"127.0.0.1:{port}", "--config", config,
                "--data-dir", os.path.join(WORK, f"data-{name}-{i}-{secrets.token_hex(3)}"),
                "--database-url", database,
            ], env={"FABRIQUE_ADMIN_KEY": ADMIN_KEY, "RUST_LOG": "warn"})
            self.wait_ready(port, "/readyz", process)
            started.append((port, process))
        return started

    def stop(self, started):
        for _, process in started:
            process.terminate()
            process.wait(timeout=30)
            self.processes.remove(process)
        psql("fairshare", f"DROP SCHEMA {self.schema} CASCADE")
        self.schema = None

    def close(self):
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.proxy.shutdown()
        if self.schema:
            psql("fairshare", f"DROP SCHEMA {self.schema} CASCADE")


def key_of(port, entity):
    status, user = request(port, "POST", "/admin/v1/users", {
        "entity": entity, "user_name": f"{entity}-{secrets.token_hex(3)}",
        "email": f"{entity}-{secrets.token_hex(3)}@example.test"}, ADMIN_KEY)
    assert status in (200, 201), (status, user)
    status, key = request(port, "POST", "/admin/v1/keys", {"user_id": user["id"]}, ADMIN_KEY)
    assert status in (200, 201), (status, key)
    return key["id"], key["key"]


def known(port, key):
    """Waits until the replica on `port` knows `key` (its change notice arrived)."""
    body = {"model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": "?"}]}
    deadline = time.monotonic() + 30
    while request(port, "POST", "/v1/chat/completions", body, key)[0] == 401:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the replica on port {port} never learned of a key")
        time.sleep(0.1)


def load(ports, clients, duration):
    """Runs (entity, key, count) client groups against `ports`, round robin; the results."""
    results = []
    lock = threading.Lock()
    turn = [0]
    deadline = time.monotonic() + duration
    body = {"model": MODEL, "max_tokens": MAX_TOKENS,
            "messages": [{"role": "user", "content": "Résume la réunion de ce matin en trois points."}]}

    def client(entity, key):
        while time.monotonic() < deadline:
            with lock:
                port = ports[turn[0] % len(ports)]
                turn[0] += 1
            started = time.monotonic()
            try:
                status, answer = request(port, "POST", "/v1/chat/completions", body, key)
            except OSError:
                status, answer = 0, None
            ended = time.monotonic()
            usage = (answer or {}).get("usage") or {}
            with lock:
                results.append((entity, status, started, ended,
                                usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)))

    threads = [threading.Thread(target=client, args=(entity, key))
               for entity, key, count in clients for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def fairness(bench):
    rows = []
    for mode in ("alone", "shared"):
        started = bench.cluster(mode, 3, mode == "shared")
        ports = [port for port, _ in started]
        _, heavy = key_of(ports[0], "heavy")
        _, light = key_of(ports[0], "light")
        for port in ports:
            known(port, heavy)
            known(port, light)
        bench.proxy.reset()
        log(f"fairness, {mode}: {HEAVY} heavy and {LIGHT} light clients for {WARMUP + DURATION:.0f} s")
        t0 = time.monotonic()
        results = load(ports, [("heavy", heavy, HEAVY), ("light", light, LIGHT)], WARMUP + DURATION)
        most = bench.proxy.most
        bench.stop(started)
        window = [r for r in results if r[2] >= t0 + WARMUP and r[1] == 200]
        served = {e: sum(r[4] + 2 * r[5] for r in window if r[0] == e) for e in ("heavy", "light")}
        total = sum(served.values()) or 1
        statuses = {}
        for r in results:
            statuses[r[1]] = statuses.get(r[1], 0) + 1
        rows.append((mode, most, served["heavy"] / total, served["light"] / total,
                     len(window), statuses))
    print("\n| mode | most in flight at the pool (capacity %d) | heavy's share | light's share | answered in window | statuses |" % CAPACITY)
    print("|---|---|---|---|---|---|")
    for mode, most, h, l, n, statuses in rows:
        print(f"| {mode} | {most} | {h:.1%} | {l:.1%} | {n} | {statuses} |")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cost(bench):
    rows = []
    for round_ in range(ROUNDS):
        for mode in ("without Redis", "with Redis"):
            started = bench.cluster("cost", 1, mode == "with Redis", instant=True)
            (port, process), = started
            key_id, key = key_of(port, "light")
            status, _ = request(port, "PUT", f"/admin/v1/limits/key/{key_id}",
                                {"requests_per_minute": 100_000_000}, ADMIN_KEY)
            assert status in (200, 204), status
            load([port], [("light", key, CONNS)], WARMUP)
            before = cpu_seconds(process.pid)
            results = load([port], [("light", key, CONNS)], DURATION)
            spent = cpu_seconds(process.pid) - before
            bench.stop(started)
            ok = sorted(r[3] - r[2] for r in results if r[1] == 200)
            p = lambda q: ok[min(len(ok) - 1, int(q * len(ok)))] * 1000
            rows.append((round_, mode, len(ok), p(0.5), p(0.99), spent / max(1, len(ok)) * 1e6))
            log(f"cost round {round_ + 1}, {mode}: {len(ok)} answered")
    print(f"\n| round | replica | answered | p50 ms | p99 ms | CPU µs/request |")
    print("|---|---|---|---|---|---|")
    for round_, mode, n, p50, p99, cpu in rows:
        print(f"| {round_ + 1} | {mode} | {n} | {p50:.1f} | {p99:.1f} | {cpu:.0f} |")


def main():
    if not os.path.exists(BIN):
        sys.exit(f"no fabrique binary at {BIN} (set FABRIQUE_BIN or CARGO_TARGET_DIR)")
    shutil.rmtree(WORK, ignore_errors=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, {BIN}, "
          f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    bench = Bench()
    try:
        if "fairness" in PARTS:
            fairness(bench)
        if "cost" in PARTS:
            cost(bench)
    finally:
        bench.close()


if __name__ == "__main__":
    main()
