"""What a tokenizer is trained with: the settings and their bounds, apart from the trainer (axk1/data/tokenizer.py)
so that `axk1 data tokenizer train`'s flags take their defaults from here without loading datatrove."""

from __future__ import annotations

from dataclasses import dataclass

from axk1.text.tokenizer_file import SPECIAL_TOKENS

# vocab_size bounds: ids are uint32 in the shards and int32 in HF, and the trainer allocates per entry, so a size
# far past any real vocabulary (A.X K1: 163,840) aborts the Rust side (rc 134) instead of failing cleanly.
MAX_VOCAB_SIZE = 4_194_304
MIN_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)


@dataclass
class TokenizerConfig:
    vocab_size: int = 163_840     # A.X K1; use e.g. 4096-32768 for small experiments
    min_frequency: int = 2
    max_chars_per_doc: int = 100_000
    # 3: numbers in groups of up to three digits (DeepSeek-V3's rule); 1: one token per digit, which lets a small
    # model learn column arithmetic (every number is spelled out digit by digit, the same way every time: a digit
    # never carries the space before it, which is a token of its own)
    digits_per_token: int = 3
