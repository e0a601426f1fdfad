"""A prompt too long for the context, refused from its size alone, before the tokenizer spends seconds on it.

With a byte-level BPE tokenizer every byte of the (normalized) text lands in exactly one token, and no token holds
more than `token_bytes` bytes (the longest entry of the vocabulary, added tokens included): so a text of B bytes is
at least ceil(B / token_bytes) tokens. When that already fills the context, the engine would refuse the prompt
anyway (Engine.check_request: a prompt of the whole context or more); it is refused here instead, at the cost of
measuring its bytes. A megabyte prompt used to be tokenized in full (3 s of a core, 18 s for 6 at once) just to
learn it was 480,001 tokens.

The bound is only taken where it is a bound: a BPE model over byte-level pre-tokenization that drops nothing (its
`Split`s isolate or merge, never remove), the whole byte alphabet in the vocabulary (a missing byte would be
dropped, not counted), no added token that absorbs the spaces beside it (lstrip/rstrip), no truncation. A
normalizer (NFC, ours) may shrink the text (decomposed Hangul jamo: 9 bytes to 3), so the bytes measured are the
normalized text's. Any other tokenizer gets no bound (None): its prompts are tokenized in full, as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from axk1.infer.protocol import APIError

# pre-tokenizers that keep every byte of the text (in some piece), unless their behaviour is to remove the matches
KEEPING = ("ByteLevel", "Split", "Digits", "Punctuation", "Sequence")
REMOVING = ("Removed", "removed")


@dataclass(frozen=True)
class PromptBound:
    max_model_len: int
    token_bytes: int  # the most bytes one token covers
    normalizer: Any = None  # the tokenizer's (tokenizers.normalizers.*), or None

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, max_model_len: int) -> PromptBound | None:
        """The bound of `tokenizer` (tokenizers.Tokenizer), or None where its kind gives none (see the module)."""
        spec = json.loads(tokenizer.to_str())
        model, pre = spec.get("model") or {}, _pre_tokenizers(spec.get("pre_tokenizer"))
        if model.get("type") != "BPE" or spec.get("truncation") is not None or pre is None:
            return None
        if "ByteLevel" not in [p.get("type") for p in pre]:
            return None
        from tokenizers.pre_tokenizers import ByteLevel

        vocab, alphabet = tokenizer.get_vocab(with_added_tokens=False), set(ByteLevel.alphabet())
        if not alphabet <= vocab.keys():
            return None
        added = spec.get("added_tokens") or []
        if any(t.get("lstrip") or t.get("rstrip") for t in added):
            return None
        normalizer = tokenizer.normalizer
        # a vocabulary entry is its bytes, one letter of the byte alphabet a byte (a letter outside it, counted as
        # its UTF-8 bytes, can only raise the divisor: a weaker bound, never a wrong one)
        longest = max(sum(1 if c in alphabet else len(c.encode()) for c in piece) for piece in vocab)
        for t in added:  # an added token covers its text; a normalized one, its text as the normalizer leaves it
            content = t.get("content") or ""
            longest = max(longest, len(content.encode()),
                          len(normalizer.normalize_str(content).encode()) if normalizer is not None else 0)
        return cls(max_model_len, max(1, longest), normalizer)

    def check(self, text: str, where: str) -> None:
        """A 400 (the engine's, `param` = `where`) when `text` is certainly at least the whole context in tokens."""
        room = self.token_bytes * (self.max_model_len - 1)  # more bytes than this: at least max_model_len tokens
        if len(text) * 4 <= room:  # four UTF-8 bytes a character at most: no need to measure
            return
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > room and self.normalizer is not None:
            size = len(self.normalizer.normalize_str(text).encode("utf-8", "surrogatepass"))
        if size > room:
            least = -(-size // self.token_bytes)
            raise APIError(400, f"This model's maximum context length is {self.max_model_len} tokens, but the prompt "
                                f"has at least {least} tokens ({size:,} bytes; no token of this tokenizer holds more "
                                f"than {self.token_bytes}). Shorten the prompt.", param=where)


def _pre_tokenizers(spec: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The pre-tokenizer's parts, a Sequence flattened; None if one of them may drop text."""
    if spec is None:
        return []
    kind = spec.get("type")
    if kind not in KEEPING or spec.get("behavior") in REMOVING:
        return None
    if kind != "Sequence":
        return [spec]
    parts: list[dict[str, Any]] = []
    for p in spec.get("pretokenizers") or []:
        flat = _pre_tokenizers(p)
        if flat is None:
            return None
        parts += flat
    return parts
