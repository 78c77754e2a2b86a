"""The official `openai` Python SDK works against Fabrique unchanged: chat (plain and streamed,
with and without the usage chunk), embeddings in the SDK's default base64 encoding, the model
list, OpenAI-style errors, and request fields Fabrique does not interpret (tools, JSON mode)."""

from __future__ import annotations

import math

import openai
import pytest

from sdk_support import CHAT_MODEL, DEFAULT_MODELS, EMBEDDINGS_MODEL, FIM_MODEL, SIMULATED_MARK

MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello to the SDK compatibility suite."},
]


def assert_usage_consistent(usage: openai.types.CompletionUsage) -> None:
    assert usage.prompt_tokens > 0, usage
    assert usage.completion_tokens > 0, usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, usage


# --- chat, not streamed ---------------------------------------------------------------------


def test_chat_completion(openai_client: openai.OpenAI) -> None:
    completion = openai_client.chat.completions.create(
        model=CHAT_MODEL, messages=MESSAGES, max_tokens=32
    )
    assert completion.object == "chat.completion"
    assert completion.id
    assert completion.model == CHAT_MODEL
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content, "empty completion"
    assert SIMULATED_MARK in choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert completion.usage is not None
    assert_usage_consistent(completion.usage)


def test_chat_completion_honours_max_tokens(openai_client: openai.OpenAI) -> None:
    completion = openai_client.chat.completions.create(
        model=CHAT_MODEL, messages=MESSAGES, max_tokens=4
    )
    assert completion.usage is not None
    assert completion.usage.completion_tokens <= 4, completion.usage


# --- chat, streamed -------------------------------------------------------------------------


def test_chat_stream_without_usage(openai_client: openai.OpenAI) -> None:
    stream = openai_client.chat.completions.create(
        model=CHAT_MODEL, messages=MESSAGES, max_tokens=32, stream=True
    )
    chunks = list(stream)
    assert len(chunks) >= 2, "a stream should carry more than one chunk"
    for chunk in chunks:
        assert chunk.object == "chat.completion.chunk"
        # Without `stream_options.include_usage` no chunk may carry usage (OpenAI's contract).
        assert chunk.usage is None, chunk
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content, "streamed content is empty"
    assert SIMULATED_MARK in content
    finish_reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish_reasons and finish_reasons[-1] in ("stop", "length"), finish_reasons
    # All chunks belong to the same completion.
    assert len({c.id for c in chunks}) == 1


def test_chat_stream_with_usage(openai_client: openai.OpenAI) -> None:
    stream = openai_client.chat.completions.create(
        model=CHAT_MODEL,
        messages=MESSAGES,
        max_tokens=32,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert len(chunks) >= 2
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content, "streamed content is empty"
    # The usage chunk is the last one, with no choices; every other chunk has usage null.
    last = chunks[-1]
    assert last.usage is not None, "no usage chunk at the end of the stream"
    assert last.choices == []
    assert_usage_consistent(last.usage)
    assert all(c.usage is None for c in chunks[:-1])


def test_chat_stream_can_be_closed_early(openai_client: openai.OpenAI) -> None:
    """A caller that stops reading mid-stream must not break the connection pool."""
    stream = openai_client.chat.completions.create(
        model=CHAT_MODEL, messages=MESSAGES, max_tokens=64, stream=True
    )
    first = next(iter(stream))
    assert first.object == "chat.completion.chunk"
    stream.close()
    # The same client still works afterwards.
    completion = openai_client.chat.completions.create(
        model=CHAT_MODEL, messages=MESSAGES, max_tokens=8
    )
    assert completion.choices[0].message.content


# --- fields passed through ------------------------------------------------------------------


def test_tools_are_accepted(openai_client: openai.OpenAI) -> None:
    completion = openai_client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        max_tokens=32,
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather of a city.",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                },
            }
        ],
        tool_choice="auto",
    )
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.message.content or choice.message.tool_calls


def test_tool_result_messages_are_accepted(openai_client: openai.OpenAI) -> None:
    """A conversation replaying an assistant tool call and its result is a valid request."""
    completion = openai_client.chat.completions.create(
        model=CHAT_MODEL,
        max_tokens=16,
        messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature_c": 18}'},
        ],
    )
    assert completion.choices[0].message.content


def test_response_format_json_object_is_accepted(openai_client: openai.OpenAI) -> None:
    completion = openai_client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "Answer in JSON: what is 2 + 2?"}],
        max_tokens=32,
        response_format={"type": "json_object"},
    )
    assert len(completion.choices) == 1
    assert completion.usage is not None


def test_unknown_fields_are_accepted(openai_client: openai.OpenAI) -> None:
    completion = openai_client.chat.completions.create(
        model=CHAT_MODEL,
        messages=MESSAGES,
        max_tokens=8,
        temperature=0.2,
        top_p=0.9,
        seed=7,
        user="sdk-suite",
        extra_body={"x_vendor_extension": {"anything": [1, 2, 3]}},
    )
    assert completion.choices[0].message.content


# --- embeddings -----------------------------------------------------------------------------


def test_embeddings_default_encoding_is_base64(openai_client: openai.OpenAI) -> None:
    # Without `encoding_format` the SDK asks for base64 and decodes float32 itself.
    inputs = ["The first sentence.", "A second, different sentence.", "Third."]
    response = openai_client.embeddings.create(model=EMBEDDINGS_MODEL, input=inputs)
    assert response.object == "list"
    assert response.model == EMBEDDINGS_MODEL
    assert len(response.data) == len(inputs)
    assert [d.index for d in response.data] == list(range(len(inputs)))
    dimension = len(response.data[0].embedding)
    assert dimension > 0
    for item in response.data:
        assert item.object == "embedding"
        assert len(item.embedding) == dimension
        assert all(isinstance(x, float) and math.isfinite(x) for x in item.embedding)
    assert response.usage.prompt_tokens > 0
    assert response.usage.total_tokens >= response.usage.prompt_tokens


def test_embeddings_float_and_base64_agree(openai_client: openai.OpenAI) -> None:
    """The base64 payload must be little-endian float32 of the same vector `float` returns."""
    text = "Fabrique embeds this sentence twice."
    as_floats = openai_client.embeddings.create(model=EMBEDDINGS_MODEL, input=text, encoding_format="float")
    as_base64 = openai_client.embeddings.create(model=EMBEDDINGS_MODEL, input=text)
    floats = as_floats.data[0].embedding
    decoded = as_base64.data[0].embedding
    assert len(as_floats.data) == 1
    assert len(floats) == len(decoded) > 0
    for a, b in zip(floats, decoded):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6), (a, b)


def test_embeddings_single_string(openai_client: openai.OpenAI) -> None:
    response = openai_client.embeddings.create(model=EMBEDDINGS_MODEL, input="just one")
    assert len(response.data) == 1
    assert len(response.data[0].embedding) > 0


# --- models ---------------------------------------------------------------------------------


def test_models_list(openai_client: openai.OpenAI) -> None:
    ids = [model.id for model in openai_client.models.list()]
    for expected in (CHAT_MODEL, EMBEDDINGS_MODEL, FIM_MODEL):
        assert expected in ids, ids
    assert set(DEFAULT_MODELS) <= set(ids), ids
    assert len(ids) == len(set(ids)), "duplicate model ids"


def test_models_retrieve(openai_client: openai.OpenAI) -> None:
    model = openai_client.models.retrieve(CHAT_MODEL)
    assert model.id == CHAT_MODEL
    assert model.object == "model"
    assert model.owned_by


def test_models_retrieve_unknown_is_not_found(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.models.retrieve("no-such-model-anywhere")
    assert caught.value.status_code == 404


def test_chat_with_unknown_model_is_not_found(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.chat.completions.create(model="no-such-model-anywhere", messages=MESSAGES)
    assert caught.value.status_code == 404
    assert isinstance(caught.value.body, dict) and caught.value.body.get("message"), caught.value.body


# --- errors ---------------------------------------------------------------------------------


def test_bad_key_is_authentication_error(openai_client_bad_key: openai.OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        openai_client_bad_key.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    error = caught.value
    assert error.status_code == 401
    # The SDK unwraps `{"error": {...}}`: the body it keeps is the inner object.
    assert isinstance(error.body, dict), error.body
    assert error.body.get("message"), error.body
    assert "type" in error.body


def test_bad_key_on_models_is_authentication_error(openai_client_bad_key: openai.OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError):
        openai_client_bad_key.models.list()


def test_malformed_request_is_bad_request(openai_client: openai.OpenAI) -> None:
    # `messages` must be an array; the SDK sends what it is given.
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model=CHAT_MODEL, messages="not a list")  # type: ignore[arg-type]
    assert caught.value.status_code == 400
