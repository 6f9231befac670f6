"""A prompt's size in tokens without importing litellm, for the models called directly
(evolve/mutate/direct.py): OpenAI's cl100k encoding through tiktoken, read from the copy litellm
ships (offline), counted the way litellm's `token_counter` counts chat messages (in 1024-character pieces, with
its overhead per message). For such models
litellm's counter uses that same encoding, so the two agree (tests/test_direct_client.py).

Importing tiktoken and loading the encoding takes about 0.2-0.8 s on a busy small machine,
against 5-17 s for litellm; it happens once, on the first prompt. Without tiktoken the count is
an estimate by characters (see `estimate`)."""

from __future__ import annotations

import importlib.util
import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

TOKENS_PER_MESSAGE = 3  # litellm's (and OpenAI's cookbook's) overhead per chat message
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3  # every answer is primed with <|start|>assistant<|message|>
CHUNK_CHARS = 1024  # litellm encodes text in pieces of this many characters (TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS)
CHARS_PER_TOKEN = 3.0  # an over-estimate for code and English under cl100k (about 3.5-4.5 chars a token)

_lock = threading.Lock()


def _litellm_tokenizers() -> str | None:
    spec = importlib.util.find_spec("litellm")
    for root in spec.submodule_search_locations or () if spec else ():
        folder = Path(root) / "litellm_core_utils" / "tokenizers"
        if folder.is_dir():
            return str(folder)
    return None


@cache
def _encoding() -> Any:
    """cl100k_base, or None where tiktoken (or its offline copy of the encoding) is missing."""
    folder = os.environ.get("CUSTOM_TIKTOKEN_CACHE_DIR") or _litellm_tokenizers()
    if folder and "TIKTOKEN_CACHE_DIR" not in os.environ:
        os.environ["TIKTOKEN_CACHE_DIR"] = folder  # what litellm sets on its import: no download
    try:
        import tiktoken

        return tiktoken.get_encoding("cl100k_base")
    except Exception:  # not installed, or no copy and no network
        return None


def estimate(text: str) -> int:
    """Tokens by characters, rounded up: more than cl100k counts for code and prose, so a prompt
    fitted to a budget by it stays inside the budget."""
    return -(-len(text) // int(CHARS_PER_TOKEN))


def count_chat_tokens(messages: list[dict]) -> int:
    with _lock:  # the first call loads the encoding; the model threads share it
        encoding = _encoding()
    chunk = int(os.environ.get("TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS", CHUNK_CHARS))

    def exact(text: str) -> int:
        pieces = (text[start : start + chunk] for start in range(0, len(text), chunk))
        return sum(len(encoding.encode(piece, disallowed_special=())) for piece in pieces)

    count = exact if encoding is not None else estimate
    total = REPLY_PRIMING if messages else 0
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if isinstance(value, str):
                total += count(value) + (TOKENS_PER_NAME if key == "name" else 0)
    return total
