"""Generated tokens → text deltas for one choice: incremental decoding, stop strings, and the reasoning split.

Each token is decoded in a short window: the tokens since the text was last final, with the few before them as
context (as vLLM's detokenizer does), so a token costs the same at the 60,000th as at the first. Re-decoding the
whole reply at every token cost 2.6 ms a token at 8,000 tokens and grew with the reply (minutes of event-loop time
over a 64K-token reasoning). Text that could still change is held back: an incomplete UTF-8 character at the end
(decoded as U+FFFD), the start of a stop string, the start of `</think>` while reasoning, or the whitespace or
beginning of a `<think>` a reasoning reply opens with (dropped when it is one, as evaluation drops it:
text/reasoning.py). Only the end of the text can hold something new, so that is all that is searched. Streaming
and non-streaming replies are built from the same deltas, so both give the same text.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from typing import Any

from axk1.infer.chat import ChatCodec
from axk1.text.reasoning import reopened_think
from axk1.text.tokenizer_file import THINK_CLOSE

TRIM_AT = 4096  # characters of final, sent text kept before the searched end is dropped (in one go, not per token)


@dataclass
class Delta:
    reasoning: str = ""
    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # call deltas, each with its index in the reply

    def __bool__(self) -> bool:
        return bool(self.reasoning or self.content or self.tool_calls)


def partial_suffix(text: str, needle: str) -> int:
    """Length of the longest end of `text` that is a proper beginning of `needle` (0 when none).

    Runs on the event loop at every token for every stop string. It tries only the places in the last
    len(needle) - 1 characters where needle's first character occurs (found by C-speed str.find), rather than
    every possible length: about 2x less work on 3-letter random text, more on real text. What bounds the cost is
    the request schema's limit (16 stop strings of 256 characters: ~0.3 ms per token at worst); 1,000 strings of
    1,000 characters cost ~190 ms per token before either change."""
    if not needle:
        return 0
    first = needle[0]
    i = text.find(first, max(0, len(text) - len(needle) + 1))
    while i >= 0:  # leftmost first: the longest candidate
        if needle.startswith(text[i:]):
            return len(text) - i
        i = text.find(first, i + 1)
    return 0


class IncrementalText:
    """Feed token ids with push(); read the text as deltas. Without a codec (a token-id-only model) the text is
    the ids written as decimal numbers separated by spaces.

    Positions are offsets into the whole reply's text. `_text` holds its final part from `_start` on: decoded
    tokens that no later token can change (it never ends inside a character); `_tail` the text of the tokens
    after them, which may still change."""

    def __init__(self, codec: ChatCodec | None, stop: list[str] | None = None, reasoning: bool = False) -> None:
        self.codec = codec
        self.stop = [s for s in (stop or []) if s]
        self.in_reasoning_mode = reasoning
        self.tokens: list[int] = []
        self.stopped = False  # a stop string was met: the caller should end generation
        self.matched: str | None = None  # the stop string met (the reply's stop_reason)
        # how far back from new text a stop string or </think> can begin
        self._reach = max([len(THINK_CLOSE)] + [len(s) for s in self.stop])
        self._text, self._start, self._tail = "", 0, ""
        self._prefix = self._read = 0  # tokens[_read:] are not final yet; tokens[_prefix:_read] give them context
        self._sent = 0  # characters of the text passed on (reasoning, the </think> tag, content)
        self._think_end = -1  # where </think> begins, once met
        self._opening = reasoning  # whether the reply may still open with a <think> to drop (text/reasoning.py)
        self._reasoning: list[str] = []
        self._content: list[str] = []

    @property
    def reasoning_text(self) -> str:
        return "".join(self._reasoning)

    @property
    def content_text(self) -> str:
        return "".join(self._content)

    def _decode_tail(self) -> str:
        """The text the tokens after _read add: the window from _prefix decoded, less the text of its context
        tokens alone (a decoder may treat a sequence's start specially; both decodes see the same start)."""
        if self.codec is None:
            return "".join(f"{' ' if i else ''}{t}" for i, t in enumerate(self.tokens[self._read:], self._read))
        before = self.codec.decode(self.tokens[self._prefix:self._read])
        return self.codec.decode(self.tokens[self._prefix:])[len(before):]

    @property
    def offset(self) -> int:
        """Where the next token's text begins in the reply's text: the end of the whole characters so far (a token
        that continues an unfinished character begins where that character does)."""
        return self._start + len(self._text) + len(self._tail) - self._unfinished()

    def _unfinished(self) -> int:
        """How many U+FFFDs at the tail's end stand for a character its bytes have not finished: 1 or 0. Only that
        one may still change; the U+FFFD of bytes already invalid (a stray continuation byte) is a character of the
        text, and counting them out put every later token's text_offset too early. Read from the tail's last 3
        bytes (an unfinished character has at most 3), as decode makes them (codec.text_bytes)."""
        if self.codec is None or not self._tail.endswith("\ufffd"):
            return 0
        raw = b""
        for t in reversed(self.tokens[self._read:]):
            raw = self.codec.text_bytes(t) + raw
            if len(raw) >= 3:
                break
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        decoder.decode(raw[-3:])
        return 1 if decoder.getstate()[0] else 0  # bytes held back: a character begun, not yet ended

    def push(self, token: int) -> Delta:
        if self.stopped:
            return Delta()
        self.tokens.append(token)
        searched = self._start + len(self._text)  # the final text before this token, searched at earlier tokens
        self._tail = self._decode_tail()
        if self._tail and not self._tail.endswith("\ufffd"):  # whole characters: no later token changes them
            self._text += self._tail
            self._tail = ""
            self._prefix, self._read = self._read, len(self.tokens)
        return self._update(searched, final=False)

    def finish(self) -> Delta:
        """Everything still held back, at the end of generation."""
        if self.stopped:
            return Delta()  # the push that met the stop string sent everything before it
        return self._update(self._start + len(self._text), final=True)

    def _update(self, searched: int, final: bool) -> Delta:
        # Anything new (a stop string, </think>) ends after `searched`, so begins at most _reach before it; and
        # the text to send begins at _sent. `recent` is the text from the earlier of the two, `base` its offset.
        base = max(self._start, min(self._sent, searched) - self._reach)
        recent = self._text[base - self._start:] + self._tail
        stable = recent.rstrip("\ufffd")  # without an unfinished multi-byte character at the end
        end, hold = base + len(recent), 0 if final else len(recent) - len(stable)
        # Stop strings are met in the stable text: the U+FFFD standing for a character whose bytes are still coming
        # is not in the reply's text (a stop "\ufffd" met it and ended the reply at its first split character).
        # At the end an unfinished character stays U+FFFD in the final text, so it is searched then.
        searchable = recent if final else stable
        cut, matched = min(((i, s) for s in self.stop if (i := searchable.find(s)) >= 0), default=(-1, None))
        if cut >= 0:
            end, hold, final, self.stopped, self.matched = base + cut, 0, True, True, matched
        elif not final:
            # A stop string may end in the unfinished character (a Hangul syllable is 3 bytes, often 3 tokens):
            # hold a beginning of one that ends just before it too, or "서" of the stop "서울" would go out first.
            hold += max([0] + [partial_suffix(stable, s) for s in self.stop])
        visible = end - hold
        if self._opening:  # nothing sent yet, so `recent` is the reply from its start (base 0)
            lead = reopened_think(recent[: visible - base])
            if lead is None and not final:
                visible = base  # whitespace or a beginning of <think> so far: held until decided
            else:
                self._opening, self._sent = False, base + (lead or 0)
        if self.in_reasoning_mode and self._think_end < 0:
            at = recent.find(THINK_CLOSE, 0, visible - base)
            if at >= 0:
                self._think_end = base + at
            elif not final:
                visible -= partial_suffix(recent[: visible - base], THINK_CLOSE)
        delta = self._take(recent, base, visible)
        self._trim()
        return delta

    def _take(self, recent: str, base: int, visible: int) -> Delta:
        """The text between what was sent and `visible`, split at </think>. Never takes back what was sent."""
        def span(a: int, b: int) -> str:
            return recent[a - base: b - base] if b > a else ""

        sent, self._sent = self._sent, max(self._sent, visible)
        if not self.in_reasoning_mode:
            delta = Delta("", span(sent, visible))
        elif self._think_end < 0:
            delta = Delta(span(sent, visible), "")
        else:
            delta = Delta(span(sent, min(visible, self._think_end)),
                          span(max(sent, self._think_end + len(THINK_CLOSE)), visible))
        if delta.reasoning:
            self._reasoning.append(delta.reasoning)
        if delta.content:
            self._content.append(delta.content)
        return delta

    def _trim(self) -> None:
        """Drop final text nothing will search or send again, so memory and copies stay bounded too."""
        keep = min(self._sent, self._start + len(self._text)) - self._reach
        if keep - self._start > TRIM_AT:
            self._text, self._start = self._text[keep - self._start:], keep
