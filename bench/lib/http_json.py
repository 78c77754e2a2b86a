"""One JSON request to a local Fabrique, for the Python benches (gpu-sharing.py, outage.py)."""

import http.client
import json


def request(port, method, path, body=None, key=None, headers=None, connection=None, timeout=120):
    """Sends `body` as JSON, with `key` as the bearer; returns (status, parsed body or None).

    A `connection` given is kept open for the caller's next request; otherwise one is opened
    and closed.
    """
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    sent = {"content-type": "application/json", **(headers or {})}
    if key:
        sent["authorization"] = f"Bearer {key}"
    try:
        connection.request(method, path, json.dumps(body) if body is not None else None, sent)
        response = connection.getresponse()
        text = response.read()
        try:
            return response.status, json.loads(text) if text else None
        except ValueError:
            return response.status, None
    finally:
        if own:
            connection.close()
