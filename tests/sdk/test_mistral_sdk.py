"""The official `mistralai` Python SDK works against Fabrique unchanged: chat (plain and
streamed), embeddings, fill-in-the-middle, the model list, and its error for a bad key.

The SDK validates responses against Mistral's schema (pydantic), so these tests also check
that Fabrique's JSON carries the fields Mistral's API documents as required."""

from __future__ import annotations

import math

import pytest
from mistralai.client import Mistral
from mistralai.client.errors import MistralError, SDKError

from sdk_support import (
    CHAT_MODEL,
    EMBEDDINGS_MODEL,
    FIM_MODEL,
    SIMULATED_MARK,
    model_ids,
    text_of,
)

MESSAGES = [{"role": "user", "content": "Say hello to the Mistral SDK."}]


def test_chat_complete(mistral_client: Mistral) -> None:
    response = mistral_client.chat.complete(model=CHAT_MODEL, messages=MESSAGES, max_tokens=32)
    assert response.id
    assert response.model == CHAT_MODEL
    assert len(response.choices) == 1
    choice = response.choices[0]
    assert choice.message is not None
    content = text_of(choice.message.content)
    assert content, "empty completion"
    assert SIMULATED_MARK in content
    assert choice.finish_reason in ("stop", "length")
    usage = response.usage
    assert usage.prompt_tokens and usage.prompt_tokens > 0
    assert usage.completion_tokens and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_chat_stream(mistral_client: Mistral) -> None:
    pieces = []
    events = 0
    finish_reasons = []
    with mistral_client.chat.stream(model=CHAT_MODEL, messages=MESSAGES, max_tokens=32) as stream:
        for event in stream:
            events += 1
            chunk = event.data
            assert chunk.id
            for choice in chunk.choices:
                pieces.append(text_of(choice.delta.content))
                if choice.finish_reason:
                    finish_reasons.append(choice.finish_reason)
    assert events >= 2, "a stream should carry more than one event"
    content = "".join(pieces)
    assert content, "streamed content is empty"
    assert SIMULATED_MARK in content
    assert finish_reasons and finish_reasons[-1] in ("stop", "length"), finish_reasons


def test_embeddings(mistral_client: Mistral) -> None:
    inputs = ["Une première phrase.", "A second sentence."]
    response = mistral_client.embeddings.create(model=EMBEDDINGS_MODEL, inputs=inputs)
    assert response.model == EMBEDDINGS_MODEL
    assert len(response.data) == len(inputs)
    dimension = len(response.data[0].embedding or [])
    assert dimension > 0
    for index, item in enumerate(response.data):
        assert item.index == index
        assert item.embedding is not None and len(item.embedding) == dimension
        assert all(math.isfinite(x) for x in item.embedding)
    assert response.usage.prompt_tokens and response.usage.prompt_tokens > 0


def test_fim_complete(mistral_client: Mistral) -> None:
    response = mistral_client.fim.complete(
        model=FIM_MODEL,
        prompt="def add(a: int, b: int) -> int:\n",
        suffix="\n\nprint(add(1, 2))\n",
        max_tokens=32,
    )
    assert response.id
    assert response.model == FIM_MODEL
    assert len(response.choices) == 1
    choice = response.choices[0]
    assert choice.message is not None
    assert text_of(choice.message.content), "empty FIM completion"
    usage = response.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_models_list(mistral_client: Mistral) -> None:
    models = mistral_client.models.list()
    ids = model_ids(models.data or [])
    for expected in (CHAT_MODEL, EMBEDDINGS_MODEL, FIM_MODEL):
        assert expected in ids, ids


def test_bad_key_raises_sdk_error_401(mistral_client_bad_key: Mistral) -> None:
    # In mistralai 3.x a 4XX other than 422 is `mistralai.client.errors.SDKError`
    # (a `MistralError`); 422 alone becomes `HTTPValidationError`.
    with pytest.raises(SDKError) as caught:
        mistral_client_bad_key.chat.complete(model=CHAT_MODEL, messages=MESSAGES)
    error = caught.value
    assert isinstance(error, MistralError)
    assert error.status_code == 401
    assert '"error"' in error.body, error.body


def test_bad_key_on_stream_raises_sdk_error_401(mistral_client_bad_key: Mistral) -> None:
    with pytest.raises(SDKError) as caught:
        mistral_client_bad_key.chat.stream(model=CHAT_MODEL, messages=MESSAGES)
    assert caught.value.status_code == 401
