"""Constants and small helpers shared by the SDK suite's test modules."""

from __future__ import annotations

from typing import Any, Iterable

# The models a fresh `fabrique serve` (no config file) serves from its embedded simulator.
CHAT_MODEL = "mistral-small"
EMBEDDINGS_MODEL = "mistral-embed"
FIM_MODEL = "codestral"
DEFAULT_MODELS = ("mistral-small", "mistral-large", "mistral-embed", "codestral")

# The simulator marks every completion it writes, so nobody mistakes it for a real model.
SIMULATED_MARK = "[simulated]"

# A key with the right prefix and shape that no Fabrique deployment ever issued.
UNKNOWN_KEY = "fabk_thisKeyWasNeverIssuedByFabrique0000000000"

# Generous for a debug build on a loaded CI box; every call is local.
TIMEOUT_SECONDS = 30.0


def text_of(content: Any) -> str:
    """The text of a message's `content`, which the Mistral SDK types as a string or a list of
    chunks (`TextChunk` has a `.text`)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for chunk in content:
        text = getattr(chunk, "text", None)
        if text is None and isinstance(chunk, dict):
            text = chunk.get("text")
        parts.append(text or "")
    return "".join(parts)


def model_ids(cards: Iterable[Any]) -> list[str]:
    """Ids of a model list's entries. The Mistral SDK parses entries into `BaseModelCard` /
    `FTModelCard` when it recognizes them and into `UnknownModelListData(raw=...)` when not."""
    ids = []
    for card in cards:
        card_id = getattr(card, "id", None)
        if card_id is None:
            raw = getattr(card, "raw", None)
            card_id = raw.get("id") if isinstance(raw, dict) else None
        ids.append(card_id)
    return ids
