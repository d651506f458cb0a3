"""Token counts in Mistral-Nemo's Tekken tokenizer, which Vikhr-Nemo uses (plus two header tokens).

mistral-common ships the tokenizer as package data (``tekken_240718.json``, the
file its ``open-mistral-nemo-2407`` entry loads), so nothing is downloaded. We
build the tiktoken encoding from that file ourselves: mistral-common's own
Tekkenizer takes ~3.5 s to load (it materialises the whole vocabulary as
strings), this takes ~0.9 s and encodes identically (a test checks).
"""

from __future__ import annotations

import base64
import importlib.resources
import json
import threading

import tiktoken

__all__ = ["TEKKEN_FILE", "count_tokens", "tekken_encoding"]

TEKKEN_FILE = "tekken_240718.json"  # Mistral-Nemo-Instruct-2407's tokenizer

_lock = threading.Lock()
_encoding: tiktoken.Encoding | None = None


def tekken_encoding() -> tiktoken.Encoding:
    """The Tekken BPE without its special tokens, loaded once per process."""
    global _encoding
    with _lock:
        if _encoding is None:
            resource = importlib.resources.files("mistral_common") / "data" / TEKKEN_FILE
            spec = json.loads(resource.read_text(encoding="utf-8"))
            config = spec["config"]
            # Ranks 0..n-1 of the vocabulary are the ordinary tokens; the
            # special tokens (<s>, [INST], ...) sit in front of them by id.
            size = config["default_vocab_size"] - config["default_num_special_tokens"]
            ranks = {base64.b64decode(token["token_bytes"]): token["rank"] for token in spec["vocab"][:size]}
            _encoding = tiktoken.Encoding(
                name="tekken", pat_str=config["pattern"], mergeable_ranks=ranks, special_tokens={}
            )
        return _encoding


def count_tokens(text: str) -> int:
    # encode_ordinary: text that looks like "<s>" or "[INST]" is plain text here,
    # as it is in the documents the model reads.
    return len(tekken_encoding().encode_ordinary(text))
