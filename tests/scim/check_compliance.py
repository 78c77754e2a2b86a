"""Runs the scim2-tester compliance checks against a live `fabrique serve`.

Usage: FABRIQUE_SCIM_URL=http://127.0.0.1:8080/scim/v2 FABRIQUE_SCIM_TOKEN=fabs_... python check_compliance.py

Prints one line per check and exits non-zero when any check reports an error. Each check's
status is scim2-tester's: SUCCESS/COMPLIANT/ACCEPTABLE pass, SKIPPED is listed, ERROR/CRITICAL fail.
"""

import os
import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

FAILING = {Status.ERROR, Status.CRITICAL}


def main() -> int:
    url = os.environ["FABRIQUE_SCIM_URL"].rstrip("/")
    token = os.environ["FABRIQUE_SCIM_TOKEN"]
    http = httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    results = check_server(client)
    failures = 0
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status.name] = counts.get(result.status.name, 0) + 1
        marker = "FAIL" if result.status in FAILING else result.status.name
        where = f"[{result.resource_type}] " if result.resource_type else ""
        print(f"{marker:10} {where}{result.title}: {result.reason or ''}")
        if result.status in FAILING:
            failures += 1
            if result.data is not None:
                print(f"           data: {str(result.data)[:600]}")
    summary = ", ".join(f"{name.lower()} {count}" for name, count in sorted(counts.items()))
    print(f"scim2-tester: {len(results)} checks ({summary})")
    print(f"{len(results) - failures} passed, {failures} failed")
    return 1 if failures or not results else 0


if __name__ == "__main__":
    sys.exit(main())
