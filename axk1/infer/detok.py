"""Generated tokens → text deltas for one choice: incremental decoding, stop strings, and the reasoning split.

The whole reply is re-decoded at each token (byte-level BPE decoding is prefix-stable, so only the tail changes),
and text that could still change is held back: an incomplete UTF-8 character at the end (decoded as U+FFFD),
the start of a stop string, or the start of `</think>` while reasoning. Streaming and non-streaming replies are
built from the same deltas, so both give the same text.
"""

from __future__ import annotations

from dataclasses import dataclass

from axk1.infer.chat import THINK_END, ChatCodec


@dataclass
class Delta:
    reasoning: str = ""
    content: str = ""

    def __bool__(self) -> bool:
        return bool(self.reasoning or self.content)


def _partial_suffix(text: str, needle: str) -> int:
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
    the ids written as decimal numbers separated by spaces."""

    def __init__(self, codec: ChatCodec | None, stop: list[str] | None = None, reasoning: bool = False) -> None:
        self.codec = codec
        self.stop = [s for s in (stop or []) if s]
        self.in_reasoning_mode = reasoning
        self.tokens: list[int] = []
        self.stopped = False  # a stop string was met: the caller should end generation
        self._sent_reasoning = 0
        self._sent_content = 0
        self.reasoning_text = ""
        self.content_text = ""

    def _decode(self) -> str:
        if self.codec is None:
            return " ".join(map(str, self.tokens))
        return self.codec.decode(self.tokens)

    def push(self, token: int) -> Delta:
        if self.stopped:
            return Delta()
        self.tokens.append(token)
        return self._update(final=False)

    def finish(self) -> Delta:
        """Everything still held back, at the end of generation."""
        return self._update(final=True)

    def _update(self, final: bool) -> Delta:
        text = self._decode()
        stable = text.rstrip("\ufffd")  # without an unfinished multi-byte character at the end
        hold = 0 if final else len(text) - len(stable)
        cut = min((i for i in (text.find(s) for s in self.stop) if i >= 0), default=-1)
        if cut >= 0:
            text, hold, self.stopped = text[:cut], 0, True
            final = True
        elif not final:
            # A stop string may end in the unfinished character (a Hangul syllable is 3 bytes, often 3 tokens):
            # hold a beginning of one that ends just before it too, or "서" of the stop "서울" would go out first.
            hold += max([0] + [_partial_suffix(stable, s) for s in self.stop])
        visible = text[: len(text) - hold]
        if self.in_reasoning_mode:
            end = visible.find(THINK_END)
            if end < 0:
                keep = 0 if final else _partial_suffix(visible, THINK_END)
                reasoning, content = visible[: len(visible) - keep], ""
            else:
                reasoning, content = visible[:end], visible[end + len(THINK_END):]
        else:
            reasoning, content = "", visible
        # Never take back what was sent: a later decode that differs inside sent text only adds at the end.
        delta = Delta(reasoning[self._sent_reasoning:], content[self._sent_content:])
        self._sent_reasoning = max(self._sent_reasoning, len(reasoning))
        self._sent_content = max(self._sent_content, len(content))
        self.reasoning_text += delta.reasoning
        self.content_text += delta.content
        return delta
