#!/usr/bin/env python3
"""bench/outage.py: PostgreSQL unreachable for a minute under load.

One `fabrique serve` on PostgreSQL, reached through a TCP relay in this script (the shared
PostgreSQL service keeps running for everyone else). CONNS clients send chat requests through one
key as fast as they are answered, every fourth labelled `secret` (refused on the request path and
audited). After WARMUP seconds the relay is cut for OUTAGE seconds: it stops listening (new
connections refused) and resets every open connection. Then it is restored while the load goes on
for AFTER seconds more.

Reports, per phase (before, outage, after): requests answered, their status, p50/p99 latency; the
records held in the spill journal at the end of the outage (usage and audit); what a request that
needs the database got during the outage (a user's first request, a new user, and how long they
took); the time from the restore until every record of every request answered during the outage
is in PostgreSQL; and whether any request's record or audit event is stored twice.

Environment: FABRIQUE_BIN (default $CARGO_TARGET_DIR/release/fabrique), FABRIQUE_TEST_POSTGRES_URL
(default postgres://postgres@127.0.0.1:5432/test; a fresh schema is made there and dropped at the
end), CONNS (16), WARMUP (10 s), OUTAGE (60 s), AFTER (10 s). Logs and the data directory in WORK
(default /tmp/fabrique-outage). Needs python3 and psql. Everything it starts is stopped on exit.
"""

import http.client
import os
import secrets
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from http_json import request  # noqa: E402

TARGET_DIR = os.environ.get("CARGO_TARGET_DIR", "target")
BIN = os.environ.get("FABRIQUE_BIN", os.path.join(TARGET_DIR, "release", "fabrique"))
PG = os.environ.get("FABRIQUE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
CONNS = int(os.environ.get("CONNS", "16"))
WARMUP = float(os.environ.get("WARMUP", "10"))
OUTAGE = float(os.environ.get("OUTAGE", "60"))
AFTER = float(os.environ.get("AFTER", "10"))
WORK = os.environ.get("WORK", "/tmp/fabrique-outage")
ADMIN_KEY = "fabk_" + secrets.token_hex(32)
PHASES = ("before", "outage", "after")

CONFIG = """
[simulator]
ttft_ms = 0
tokens_per_second = 1000000
capacity = 1024

[routing]
health_check_interval_ms = 0

[[endpoints]]
name = "gpu"
kind = "simulator"
hosting = "on_premises"
clearance = "internal"
capacity = 1024

[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["gpu"]

[[entities]]
slug = "acme"
name = "Acme"
"""


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def psql(sql):
    result = subprocess.run(["psql", PG, "-v", "ON_ERROR_STOP=1", "-Atqc", sql],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"psql: {result.stderr.strip()}")
    return result.stdout.strip()


class Relay:
    """A TCP relay on loopback to PostgreSQL that can be cut (nothing listens, every open
    connection reset) and restored (listening again on the same port)."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.lock = threading.Lock()
        self.open = set()
        self.listener = self._listen(0)
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    @staticmethod
    def _listen(port):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        return listener

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open.update((client, server))
                self.accepted += 1
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def cut(self):
        self.listener.close()
        with self.lock:
            for connection in self.open:
                # SO_LINGER 0: the close sends a reset, as a lost peer's network would; the
                # shutdown wakes the pump blocked on it, without which the socket stays open (a
                # silent partition, not a cut: see bench/README.md).
                try:
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                          struct.pack("ii", 1, 0))
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                connection.close()
            self.open.clear()

    def restore(self):
        self.listener = self._listen(self.port)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()


def user_key(port, name):
    status, user = request(port, "POST", "/admin/v1/users", {
        "entity": "acme", "user_name": name, "email": f"{name}@example.test"}, ADMIN_KEY)
    assert status == 201, (status, user)
    status, key = request(port, "POST", "/admin/v1/keys", {"user_id": user["id"]}, ADMIN_KEY)
    assert status == 201, (status, key)
    return key["key"]


class Load:
    """CONNS clients, each on its own keep-alive connection, tagging each request with the phase
    it was sent in."""

    def __init__(self, port, key):
        self.port, self.key = port, key
        self.phase = "before"
        self.stop = False
        self.lock = threading.Lock()
        # phase -> list of (latency ms, status, refused)
        self.answers = {phase: [] for phase in PHASES}
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True)
                        for i in range(CONNS)]
        for thread in self.threads:
            thread.start()

    def _client(self, index):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        body = {"model": "mistral-small", "max_tokens": 5,
                "messages": [{"role": "user", "content": "Bonjour, quel temps fait-il ?"}]}
        n = 0
        while not self.stop:
            phase, refused = self.phase, n % 4 == 3
            headers = {"x-request-id": f"bench-{phase}-{index}-{n}"}
            if refused:
                headers["x-fabrique-classification"] = "secret"
            started = time.monotonic()
            status, _ = request(self.port, "POST", "/v1/chat/completions", body, self.key,
                                headers, connection)
            elapsed = (time.monotonic() - started) * 1000
            if self.phase == phase:
                with self.lock:
                    self.answers[phase].append((elapsed, status, refused))
            n += 1
        connection.close()

    def join(self):
        self.stop = True
        for thread in self.threads:
            thread.join()


def percentile(values, p):
    values = sorted(values)
    return values[max(0, -(-len(values) * p // 100) - 1)] if values else 0


def journal_lines(data):
    counts = {"usage": 0, "audit": 0}
    directory = os.path.join(data, "journal")
    for name in os.listdir(directory):
        kind = name.split("-", 1)[0]
        if name.endswith(".jsonl") and kind in counts:
            with open(os.path.join(directory, name)) as f:
                counts[kind] += sum(1 for _ in f)
    return counts


def stored(schema, phase):
    usage = psql(f"SELECT count(*) FROM {schema}.usage_records "
                 f"WHERE client_request_id LIKE 'bench-{phase}-%'")
    audit = psql(f"SELECT count(*) FROM {schema}.audit_events "
                 f"WHERE action = 'inference.classification_not_permitted' "
                 f"AND detail LIKE '%bench-{phase}-%'")
    return int(usage), int(audit)


def main():
    os.makedirs(WORK, exist_ok=True)
    url = urllib.parse.urlparse(PG)
    relay = Relay((url.hostname, url.port or 5432))
    schema = "outage_" + secrets.token_hex(6)
    psql(f"CREATE SCHEMA {schema}")
    credentials = url.netloc.rsplit("@", 1)[0] + "@" if "@" in url.netloc else ""
    relayed = url._replace(netloc=f"{credentials}127.0.0.1:{relay.port}").geturl()
    database = f"{relayed}?options[search_path]={schema}"
    config = os.path.join(WORK, "fabrique.toml")
    with open(config, "w") as f:
        f.write(CONFIG)
    data = os.path.join(WORK, f"data-{secrets.token_hex(3)}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = open(os.path.join(WORK, "serve.log"), "a")
    server = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--config", config,
                               "--data-dir", data, "--database-url", database],
                              stdout=out, stderr=subprocess.STDOUT,
                              env=dict(os.environ, FABRIQUE_ADMIN_KEY=ADMIN_KEY, RUST_LOG="warn"))
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if request(port, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"the server did not start (logs in {WORK})")
            time.sleep(0.2)
        key = user_key(port, "ada")
        newcomer = user_key(port, "bea")
        load = Load(port, key)
        log(f"{CONNS} clients, {WARMUP:.0f} s before the cut")
        time.sleep(WARMUP)

        relay.cut()
        load.phase = "outage"
        cut_at = time.monotonic()
        log(f"PostgreSQL cut for {OUTAGE:.0f} s")
        needs = {}
        for what, call in (
            ("a seated user's first request", lambda: request(
                port, "POST", "/v1/chat/completions",
                {"model": "mistral-small", "max_tokens": 5,
                 "messages": [{"role": "user", "content": "?"}]}, newcomer)),
            ("a new user", lambda: request(port, "POST", "/admin/v1/users", {
                "entity": "acme", "user_name": "cleo", "email": "cleo@example.test"}, ADMIN_KEY)),
        ):
            started = time.monotonic()
            status, body = call()
            code = (body or {}).get("error", {}).get("code")
            needs[what] = (status, code, time.monotonic() - started)
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - cut_at)))
        spilled = journal_lines(data)

        relay.restore()
        restored_at = time.monotonic()
        load.phase = "after"
        log("PostgreSQL back")
        with load.lock:
            outage = list(load.answers["outage"])
        want = (len(outage), sum(1 for _, _, refused in outage if refused))
        drained = None
        while time.monotonic() - restored_at < 300:
            if stored(schema, "outage") >= want:
                drained = time.monotonic() - restored_at
                break
            time.sleep(0.1)
        log(f"the outage's records stored {drained} s after the restore")
        time.sleep(max(0.0, AFTER - (time.monotonic() - restored_at)))
        load.join()
        server.terminate()
        stopping = time.monotonic()
        server.wait(timeout=300)
        log(f"the server stopped {time.monotonic() - stopping:.1f} s after SIGTERM")
        twice = psql(f"SELECT count(*) - count(DISTINCT client_request_id) "
                     f"FROM {schema}.usage_records WHERE client_request_id LIKE 'bench-%'")
        audit_twice = psql(
            f"SELECT count(*) - count(DISTINCT detail) FROM {schema}.audit_events "
            f"WHERE action = 'inference.classification_not_permitted'")
        # Requests sent in one phase and answered in the next are stored, not counted: at least.
        complete = {phase: all(n >= want for n, want in zip(stored(schema, phase), (
            len(load.answers[phase]), sum(1 for _, _, r in load.answers[phase] if r))))
            for phase in PHASES}

        print(f"\n{CONNS} clients; PostgreSQL cut for {OUTAGE:.0f} s (relay: nothing listens, "
              f"open connections reset)\n")
        print("| phase | answered | statuses | p50 ms | p99 ms | all stored |")
        print("|---|---|---|---|---|---|")
        for phase in PHASES:
            answered = load.answers[phase]
            statuses = {}
            for _, status, _ in answered:
                statuses[status] = statuses.get(status, 0) + 1
            latencies = [ms for ms, _, _ in answered]
            shown = ", ".join(f"{n:,} × {s}" for s, n in sorted(statuses.items()))
            print(f"| {phase} | {len(answered):,} | {shown} | {percentile(latencies, 50):.1f} | "
                  f"{percentile(latencies, 99):.1f} | {'yes' if complete[phase] else 'NO'} |")
        print(f"\n- Spilled to the journal at the end of the outage: {spilled['usage']:,} usage "
              f"records, {spilled['audit']:,} audit events.")
        for what, (status, code, seconds) in needs.items():
            print(f"- During the outage, {what}: {status} `{code}` after {seconds:.1f} s.")
        print(f"- Every record of the outage's {want[0]:,} answers ({want[1]:,} audited refusals) "
              f"in PostgreSQL {drained:.1f} s after it came back." if drained is not None else
              "- The outage's records were NOT all stored within 300 s.")
        print(f"- Stored twice: {twice} usage records, {audit_twice} audit events.")
    finally:
        if server.poll() is None:
            server.kill()
        psql(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
