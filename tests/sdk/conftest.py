"""Fixtures of the SDK compatibility suite: clients of the official `openai` and `mistralai`
SDKs pointed at a running `fabrique serve`.

The suite never starts a server itself; `.ci/run` does (or you do, see README.md). It needs:
- `FABRIQUE_URL`: the server's root, e.g. `http://127.0.0.1:18090` (no `/v1`);
- `FABRIQUE_TEST_KEY`: an inference API key (`fabk_...`) of a user or service account.

A missing variable stops the whole run with a usage error instead of skipping tests, so CI can
never pass by running nothing.
"""

from __future__ import annotations

import os

import openai
import pytest
from mistralai.client import Mistral

from sdk_support import TIMEOUT_SECONDS, UNKNOWN_KEY


def pytest_configure(config: pytest.Config) -> None:
    # Loopback traffic must never go through a proxy configured for the outside world.
    for name in ("NO_PROXY", "no_proxy"):
        existing = os.environ.get(name, "")
        os.environ[name] = ",".join(filter(None, [existing, "127.0.0.1", "localhost", "::1"]))
    missing = [name for name in ("FABRIQUE_URL", "FABRIQUE_TEST_KEY") if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(
            f"the SDK suite needs {' and '.join(missing)} in the environment "
            "(see tests/sdk/README.md or run `bash .ci/run`)"
        )


@pytest.fixture(scope="session")
def fabrique_url() -> str:
    return os.environ["FABRIQUE_URL"].rstrip("/")


@pytest.fixture(scope="session")
def test_key() -> str:
    return os.environ["FABRIQUE_TEST_KEY"]


def _openai_client(fabrique_url: str, key: str) -> openai.OpenAI:
    # No retries: a retried 5xx would hide a gateway error behind a slow pass.
    return openai.OpenAI(
        api_key=key,
        base_url=f"{fabrique_url}/v1",
        max_retries=0,
        timeout=TIMEOUT_SECONDS,
    )


def _mistral_client(fabrique_url: str, key: str) -> Mistral:
    # The Mistral SDK's operation paths already start with `/v1`; the server URL is the root.
    # Its default retry configuration is "none", which is what we want here.
    return Mistral(
        api_key=key,
        server_url=fabrique_url,
        timeout_ms=int(TIMEOUT_SECONDS * 1000),
    )


@pytest.fixture(scope="session")
def openai_client(fabrique_url: str, test_key: str) -> openai.OpenAI:
    client = _openai_client(fabrique_url, test_key)
    yield client
    client.close()


@pytest.fixture(scope="session")
def openai_client_bad_key(fabrique_url: str) -> openai.OpenAI:
    client = _openai_client(fabrique_url, UNKNOWN_KEY)
    yield client
    client.close()


@pytest.fixture(scope="session")
def mistral_client(fabrique_url: str, test_key: str) -> Mistral:
    with _mistral_client(fabrique_url, test_key) as client:
        yield client


@pytest.fixture(scope="session")
def mistral_client_bad_key(fabrique_url: str) -> Mistral:
    with _mistral_client(fabrique_url, UNKNOWN_KEY) as client:
        yield client
