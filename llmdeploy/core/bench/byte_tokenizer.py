"""A tokenizer that needs no download: one token per UTF-8 byte (`--tokenizer bytes`).

GuideLLM sizes synthetic prompts with a Hugging Face tokenizer, by default the served model's,
fetched from the hub. Where the hub is out of reach (air-gapped, CI without a token for a gated
model) this one stands in: Hugging Face's tokenizer.json format, a byte-level BPE with the 256
byte symbols and no merges, so any text round-trips. Prompt sizes are then counted in bytes
(about four per model token for English), which the result file records.
"""

from __future__ import annotations

from typing import Any

NAME = "bytes"


def byte_symbols() -> list[str]:
    """GPT-2's byte-to-printable-character table, as byte-level tokenizers spell bytes."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    symbols = {byte: chr(byte) for byte in printable}
    extra = 0
    for byte in range(256):
        if byte not in symbols:
            symbols[byte] = chr(256 + extra)
            extra += 1
    return [symbols[byte] for byte in range(256)]


def byte_tokenizer_files() -> dict[str, dict[str, Any]]:
    """The files of a Hugging Face tokenizer directory, by name."""
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tokenizer: dict[str, Any] = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": None,
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {symbol: index for index, symbol in enumerate(byte_symbols())},
            "merges": [],
        },
    }
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1_000_000}
    return {"tokenizer.json": tokenizer, "tokenizer_config.json": config}
