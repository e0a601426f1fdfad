"""The project's special tokens, the one loader of a tokenizer.json (ours or any HF model's), used by the data
pipeline, export, generation and serving alike: a missing or unreadable file is an error that names it; and the one
writer of a tokenizer folder's files (the data pipeline's trained tokenizer, the tests' and benchmarks' models)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from axk1.atomic_file import atomic_writer
from axk1.text.chat_template import CHAT_TEMPLATE
from axk1.user_file import read_bytes

BOS = "<|endoftext|>"
EOS = "<|im_end|>"
PAD = "<|pad|>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"  # where a reply's reasoning starts and ends: axk1/text/reasoning.py
THINK_TAGS = (THINK_OPEN, THINK_CLOSE)  # added tokens, not special: a decode that skips special tokens keeps them
# Where a tool call starts and ends (axk1/text/tool_format.py): single tokens, as vLLM's hermes tool parser requires
# (it refuses to start on a tokenizer without them), and not special, like the think tags, so a decode keeps them
TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
TOOL_TAGS = (TOOL_CALL_OPEN, TOOL_CALL_CLOSE)
TEXT_TAGS = THINK_TAGS + TOOL_TAGS  # the reserved tokens that are text a reply or a conversation carries
SPECIAL_TOKENS = [BOS, "<|im_start|>", EOS, PAD, *TEXT_TAGS]  # the ids a tokenizer trained here reserves, in order

# What transformers truncates to; export (axk1/checkpoint/export.py) sets the model's own context length
MODEL_MAX_LENGTH = 32768
# Where transformers pads a batch: its default, the right, puts pads between a prompt and what a batched generate
# writes after it (transformers warns, and the shorter prompts' continuations differ from one-at-a-time). vLLM and
# axk1 serve never pad a prompt, and training masks pads wherever they are, so left suits every reader.
PADDING_SIDE = "left"


def write_tokenizer_files(folder: str | Path, tokenizer_json: str, model_max_length: int = MODEL_MAX_LENGTH,
                          chat_template: str = CHAT_TEMPLATE) -> Path:
    """tokenizer.json (the text `tokenizer_json`), tokenizer_config.json and chat_template.jinja the way
    transformers and vLLM read a folder: `PreTrainedTokenizerFast` with BOS, EOS and PAD (docs/model.md,
    "Tokenizer"). Each file whole or not at all, tokenizer.json last: the pipeline's stage takes an existing
    tokenizer.json as trained, and one cut by a full disk stopped every later run, which never trained it again.
    Returns tokenizer.json's path."""
    out = Path(folder)
    with atomic_writer(out / "tokenizer_config.json") as f:
        f.write(json.dumps({
            "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": BOS, "eos_token": EOS, "pad_token": PAD,
            "additional_special_tokens": other_special_tokens(tokenizer_json),
            "model_max_length": model_max_length, "clean_up_tokenization_spaces": False,
            "padding_side": PADDING_SIDE,
            "chat_template": chat_template,  # kept here too: older readers know only this place
        }, indent=2, ensure_ascii=False))
    with atomic_writer(out / "chat_template.jinja") as f:  # where transformers 5 looks first; export copies it
        f.write(chat_template)
    with atomic_writer(out / "tokenizer.json") as f:
        f.write(tokenizer_json)
    return out / "tokenizer.json"


def other_special_tokens(tokenizer_json: str) -> list[str]:
    """The special added tokens of `tokenizer_json` besides BOS, EOS and PAD (`<|im_start|>` in ours): transformers
    counts as special (all_special_ids, what skip_special_tokens and TRL's checks use) only the tokens its config
    names, so `<|im_start|>` was special to axk1 and vLLM and text to transformers. Written under
    `additional_special_tokens`, which transformers 5 reads as its `extra_special_tokens` and 4 reads as it is (a
    list under `extra_special_tokens`, what 5 writes, is a crash in 4: 'list' object has no attribute 'keys')."""
    added = json.loads(tokenizer_json).get("added_tokens") or []
    return [t["content"] for t in added if isinstance(t, dict) and t.get("special")
            and t.get("content") not in (BOS, EOS, PAD)]


def special_token_pattern(tokens) -> re.Pattern:
    """One alternation finding any of `tokens` in a text, the longest first where one starts another (a real
    tokenizer reserves hundreds); one that matches nothing when there are none."""
    ordered = sorted(tokens, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, ordered))) if ordered else re.compile(r"(?!x)x")


def load_tokenizer(path: str | Path):
    """tokenizers.Tokenizer from a tokenizer.json file, or a folder holding one."""
    from tokenizers import Tokenizer

    p = Path(path)
    if p.is_dir() and p.name != "tokenizer.json":  # a folder named tokenizer.json is refused as not a file
        p = p / "tokenizer.json"
    if not p.exists():
        raise FileNotFoundError(f"no tokenizer.json at {p}; train one with `axk1 data tokenizer train` or point to "
                                "a model folder that has one")
    data = read_bytes(p)  # a FIFO in its place is refused, never waited on
    try:
        return Tokenizer.from_str(data.decode("utf-8"))
    except Exception as e:  # tokenizers raises a bare Exception for a truncated or foreign file
        raise ValueError(f"{p} is not a readable tokenizer ({str(e).splitlines()[0] if str(e) else e!r}): "
                         "replace it with the tokenizer.json the model was trained with") from e


def tokenizer_hash(path: str | Path) -> str:
    """The digest of a tokenizer.json (or a folder's): the manifest records the one the shards were made with, the
    trainer's checkpoints carry it, and `axk1 export --tokenizer` checks the tokenizer it is given against it."""
    p = Path(path)
    if p.is_dir() and p.name != "tokenizer.json":
        p = p / "tokenizer.json"
    return hashlib.sha256(read_bytes(p)).hexdigest()[:16]
