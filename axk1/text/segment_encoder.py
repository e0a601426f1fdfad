"""A tokenizer's ids for a text, each piece between two added tokens encoded once and remembered.

SFT trains every assistant turn as its own example with the whole conversation before it (posttrain/chat_data.py),
so a row of n turns encoded its history n times over, and every row encoded the same system prompt and template
text again: a tokenizer's time was half of loading a chat set. A `tokenizers` tokenizer cuts a text at its added
tokens (`<|im_start|>`, `<|im_end|>`, `<think>`, ...) before anything else, and normalises, pre-tokenises and encodes
each piece between them on its own; so a text's ids are its pieces' ids and the added tokens' ids in order, and a
piece seen before (a turn of the history, `assistant\\n`) need not be encoded again.

That holds only where the tokenizer works so, which is checked once (`SegmentEncoder.exact`), else every text is
encoded whole, as before: no added token strips the whitespace beside it or matches whole words only (the cut
would then be elsewhere), none is matched after a normaliser (the text is cut before it), no pre-tokeniser looks at
where a piece starts in the whole text (Metaspace's prepend_scheme "first" does), no BPE dropout (random), no
truncation, no padding, and special tokens are split out (`encode_special_tokens` off).
"""

from __future__ import annotations

import json
import re
from typing import Any

# pre-tokenisers that treat each piece alone, whatever precedes it in the text
PIECEWISE = {"ByteLevel", "Split", "Digits", "Punctuation", "Whitespace", "WhitespaceSplit", "BertPreTokenizer",
             "UnicodeScripts", "CharDelimiterSplit"}
# the remembered pieces' text, at most, then forgotten at once and remembered anew: a row's history needs far less,
# and every rank holds it (4M characters and their ids as Python ints, ~36 bytes a token: some 50-100 MB)
CACHE_CHARS = 4_000_000


def _piecewise(pre: Any) -> bool:
    if pre is None:
        return True
    kind = pre.get("type")
    if kind == "Sequence":
        return all(_piecewise(p) for p in pre.get("pretokenizers", []))
    if kind == "Metaspace":
        return pre.get("prepend_scheme", "always") != "first"
    return kind in PIECEWISE


class SegmentEncoder:
    """`encode(text)`: `tokenizer.encode(text, add_special_tokens=False).ids`, the same ids, its pieces remembered."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.cache: dict[str, list[int]] = {}
        self.cached_chars = 0
        self.splits = self._splits() if self.exact(tokenizer) else None

    @staticmethod
    def exact(tokenizer: Any) -> bool:
        """Whether the tokenizer encodes each piece between added tokens on its own (the module's docstring)."""
        try:
            from tokenizers import Tokenizer
        except ImportError:
            return False
        if not isinstance(tokenizer, Tokenizer) or tokenizer.truncation or tokenizer.padding:
            return False
        if tokenizer.encode_special_tokens:
            return False
        added = list(tokenizer.get_added_tokens_decoder().values())
        if any(t.lstrip or t.rstrip or t.single_word or not t.content for t in added):
            return False
        spec = json.loads(tokenizer.to_str())
        if spec.get("normalizer") is not None and any(t.normalized for t in added):
            return False
        return _piecewise(spec.get("pre_tokenizer")) and not (spec.get("model") or {}).get("dropout")

    def _splits(self) -> list[tuple[re.Pattern, dict[str, int]]]:
        """The passes that cut a text as the tokenizer does: first at the added tokens matched on the raw text, then
        (each piece left) at those matched after normalising, which with no normaliser is the same text. Each
        pass takes the leftmost match, the longest there (an alternation longest first)."""
        added = self.tokenizer.get_added_tokens_decoder()
        passes = []
        for normalized in (False, True):
            ids = {t.content: i for i, t in sorted(added.items()) if bool(t.normalized) == normalized}
            if ids:
                alternation = "|".join(re.escape(c) for c in sorted(ids, key=len, reverse=True))
                passes.append((re.compile(f"({alternation})"), ids))
        return passes

    def encode(self, text: str) -> list[int]:
        if self.splits is None:
            return self.tokenizer.encode(text, add_special_tokens=False).ids
        out: list[int] = []
        self._cut(text, 0, out)
        return out

    def _cut(self, text: str, depth: int, out: list[int]) -> None:
        """The ids of `text` from pass `depth` on, appended to `out`."""
        if depth == len(self.splits):
            if text:
                out += self._piece(text)
            return
        pattern, ids = self.splits[depth]
        # re.split with a group: text, token, text, token, ..., text
        for k, part in enumerate(pattern.split(text)):
            if k % 2:
                out.append(ids[part])
            elif part:
                self._cut(part, depth + 1, out)

    def _piece(self, piece: str) -> list[int]:
        ids = self.cache.get(piece)
        if ids is None:
            ids = self.tokenizer.encode(piece, add_special_tokens=False).ids
            if self.cached_chars + len(piece) > CACHE_CHARS:
                self.cache.clear()
                self.cached_chars = 0
            self.cache[piece] = ids
            self.cached_chars += len(piece)
        return ids
