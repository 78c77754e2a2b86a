"""Provisions users through POST /scim/v2/Users with concurrent clients, then measures the latency
of `GET /Users?filter=userName eq "…"`. Standard library only; run by bench/scim-provision.sh.

Usage: scim-provision.py BASE_URL TOKEN [USERS] [CLIENTS]
"""

import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse


def connection(base: str) -> http.client.HTTPConnection:
    parsed = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)


def provision(base, token, first, last, errors, lock):
    conn = connection(base)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    for i in range(first, last):
        body = json.dumps({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"user{i:06d}@bench.example",
            "externalId": f"ext-{i}",
            "displayName": f"User {i}",
            "name": {"givenName": "User", "familyName": str(i)},
            "emails": [{"value": f"user{i:06d}@bench.example", "type": "work", "primary": True}],
            "active": True,
        })
        conn.request("POST", "/scim/v2/Users", body, headers)
        response = conn.getresponse()
        response.read()
        if response.status != 201:
            with lock:
                errors.append(response.status)


def main() -> int:
    base, token = sys.argv[1], sys.argv[2]
    users = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
    clients = int(sys.argv[4]) if len(sys.argv) > 4 else 32
    errors, lock = [], threading.Lock()
    per_client = (users + clients - 1) // clients
    threads = [
        threading.Thread(target=provision, args=(base, token, c * per_client, min(users, (c + 1) * per_client), errors, lock))
        for c in range(clients)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    print(f"provisioned {users - len(errors)} users with {clients} clients in {elapsed:.1f} s "
          f"({(users - len(errors)) / elapsed:.0f} users/s); errors: {len(errors)}")

    conn = connection(base)
    headers = {"Authorization": f"Bearer {token}"}
    samples = []
    for i in range(500):
        name = f"user{(i * 7919) % users:06d}@bench.example"
        query = urllib.parse.quote(f'userName eq "{name}"')
        begin = time.perf_counter()
        conn.request("GET", f"/scim/v2/Users?filter={query}", headers=headers)
        response = conn.getresponse()
        body = json.loads(response.read())
        samples.append((time.perf_counter() - begin) * 1000)
        if response.status != 200 or body.get("totalResults") != 1:
            print(f"unexpected answer for {name}: {response.status} {body}")
            return 1
    samples.sort()
    print(f"GET /Users?filter=userName eq …  over {users} users, {len(samples)} sequential requests: "
          f"p50 {statistics.median(samples):.2f} ms, p99 {samples[int(len(samples) * 0.99) - 1]:.2f} ms, "
          f"max {samples[-1]:.2f} ms")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
