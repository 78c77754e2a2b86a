"""Files and batches through the official SDKs' own calls: `client.files.*` and
`client.batches.*` of `openai`, `client.files.*` and `client.batch.jobs.*` of `mistralai`.

A batch runs in the server's background; the SDKs offer no way to wait for one but to retrieve it
again, so `wait_for_end` does what every SDK user does, bounded by a deadline."""

from __future__ import annotations

import io
import json
import time

import openai
import pytest
from mistralai.client import Mistral

from sdk_support import CHAT_MODEL, EMBEDDINGS_MODEL, SIMULATED_MARK

# A debug build on a loaded CI box: a thousand lines take seconds, a deadline of minutes.
DEADLINE_SECONDS = 240.0
ENDED = {"completed", "failed", "expired", "cancelled"}
MISTRAL_ENDED = {"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"}


def chat_lines(count: int, url: str | None = "/v1/chat/completions") -> bytes:
    lines = []
    for i in range(count):
        line = {
            "custom_id": f"claim-{i}",
            "body": {
                "model": CHAT_MODEL,
                "messages": [{"role": "user", "content": f"Classify claim {i}"}],
                "max_tokens": 4,
            },
        }
        if url is not None:
            line["method"] = "POST"
            line["url"] = url
        lines.append(json.dumps(line))
    return ("\n".join(lines) + "\n").encode()


def wait_for_end(retrieve, ended: set[str]):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        batch = retrieve()
        if batch.status in ended:
            return batch
        assert time.monotonic() < deadline, f"the batch is still {batch.status}"
        time.sleep(0.2)


def read_lines(content: bytes) -> list[dict]:
    return [json.loads(line) for line in content.decode().splitlines() if line.strip()]


def test_files_create_list_retrieve_content_delete(openai_client: openai.OpenAI) -> None:
    data = chat_lines(3)
    created = openai_client.files.create(file=("claims.jsonl", io.BytesIO(data)), purpose="batch")
    assert created.id.startswith("file-")
    assert (created.bytes, created.filename, created.purpose) == (len(data), "claims.jsonl", "batch")
    assert created.id in [f.id for f in openai_client.files.list(purpose="batch")]
    assert openai_client.files.retrieve(created.id).bytes == len(data)
    assert openai_client.files.content(created.id).read() == data
    deleted = openai_client.files.delete(created.id)
    assert (deleted.id, deleted.deleted) == (created.id, True)
    with pytest.raises(openai.NotFoundError):
        openai_client.files.retrieve(created.id)


def test_a_batch_of_a_thousand_lines_answers_each_once(openai_client: openai.OpenAI) -> None:
    count = 1000
    data = chat_lines(count) + b'{"custom_id": "broken", "method": "POST", "url": "/v1/embeddings", "body": {}}\n'
    input_file = openai_client.files.create(file=("claims.jsonl", io.BytesIO(data)), purpose="batch")
    batch = openai_client.batches.create(
        input_file_id=input_file.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"quarter": "2026-Q4"},
    )
    assert batch.id.startswith("batch_")
    assert batch.status in {"validating", "in_progress"}
    assert batch.metadata == {"quarter": "2026-Q4"}
    ended = wait_for_end(lambda: openai_client.batches.retrieve(batch.id), ENDED)
    assert ended.status == "completed", ended
    assert (ended.request_counts.total, ended.request_counts.completed, ended.request_counts.failed) == (
        count + 1,
        count,
        1,
    )
    output = read_lines(openai_client.files.content(ended.output_file_id).read())
    ids = [line["custom_id"] for line in output]
    assert sorted(ids) == sorted(f"claim-{i}" for i in range(count)), "each line exactly once"
    first = output[0]
    assert first["response"]["status_code"] == 200
    assert SIMULATED_MARK in first["response"]["body"]["choices"][0]["message"]["content"]
    errors = read_lines(openai_client.files.content(ended.error_file_id).read())
    assert [e["custom_id"] for e in errors] == ["broken"]
    assert errors[0]["error"]["code"] == "invalid_request"
    assert batch.id in [b.id for b in openai_client.batches.list(limit=100)]


def test_an_embeddings_batch_and_a_cancelled_one(openai_client: openai.OpenAI) -> None:
    line = {"custom_id": "e", "method": "POST", "url": "/v1/embeddings", "body": {"model": EMBEDDINGS_MODEL, "input": "Bonjour"}}
    input_file = openai_client.files.create(file=("e.jsonl", io.BytesIO(json.dumps(line).encode())), purpose="batch")
    batch = openai_client.batches.create(
        input_file_id=input_file.id, endpoint="/v1/embeddings", completion_window="24h"
    )
    ended = wait_for_end(lambda: openai_client.batches.retrieve(batch.id), ENDED)
    assert ended.status == "completed"
    output = read_lines(openai_client.files.content(ended.output_file_id).read())
    assert output[0]["response"]["body"]["data"][0]["embedding"]

    big = openai_client.files.create(file=("big.jsonl", io.BytesIO(chat_lines(3000))), purpose="batch")
    running = openai_client.batches.create(
        input_file_id=big.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    cancelling = openai_client.batches.cancel(running.id)
    assert cancelling.status in {"cancelling", "cancelled", "completed"}
    ended = wait_for_end(lambda: openai_client.batches.retrieve(running.id), ENDED)
    assert ended.status in {"cancelled", "completed"}
    done = ended.request_counts.completed + ended.request_counts.failed
    if ended.status == "cancelled":
        assert done < 3000
        output = read_lines(openai_client.files.content(ended.output_file_id).read())
        assert len(output) == ended.request_counts.completed, "the lines done before the cancel stay"


def test_a_batch_refuses_a_file_of_another_purpose(openai_client: openai.OpenAI) -> None:
    notes = openai_client.files.create(file=("notes.txt", io.BytesIO(b"notes")), purpose="user_data")
    with pytest.raises(openai.BadRequestError):
        openai_client.batches.create(
            input_file_id=notes.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    with pytest.raises(openai.NotFoundError):
        openai_client.batches.retrieve("batch_0190d5c0a0b07c3e8e3f1a2b3c4d5e6f")


def test_mistral_batch_jobs(mistral_client: Mistral) -> None:
    data = chat_lines(20, url=None)
    uploaded = mistral_client.files.upload(file={"file_name": "jobs.jsonl", "content": data}, purpose="batch")
    assert uploaded.size_bytes == len(data)
    job = mistral_client.batch.jobs.create(
        input_files=[uploaded.id],
        model=CHAT_MODEL,
        endpoint="/v1/chat/completions",
        metadata={"team": "claims"},
    )
    assert job.status in {"QUEUED", "RUNNING"}
    assert job.id in [j.id for j in mistral_client.batch.jobs.list().data]
    ended = wait_for_end(lambda: mistral_client.batch.jobs.get(job_id=job.id), MISTRAL_ENDED)
    assert ended.status == "SUCCESS", ended
    assert (ended.total_requests, ended.succeeded_requests) == (20, 20)
    content = mistral_client.files.download(file_id=ended.output_file).read()
    assert sorted(line["custom_id"] for line in read_lines(content)) == sorted(f"claim-{i}" for i in range(20))
    cancelled = mistral_client.batch.jobs.cancel(job_id=job.id)
    assert cancelled.status == "SUCCESS", "an ended job stays as it ended"
