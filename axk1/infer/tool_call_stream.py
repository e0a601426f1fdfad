"""One `<tool_call>` block streamed piece by piece, as OpenAI and vLLM stream a call: the first delta carries the
call's `index`, `id`, `type` and `function.name`, each later one only `index` and the next fragment of
`function.arguments`; the fragments joined are the call's arguments (axk1/infer/tool_calls.py decides the block).

The rule, kept simple: a block streams once its head is read, `<tool_call>` then `{"name": <a non-blank JSON
string>, "arguments": {` (the layout the chat template teaches and guided decoding writes; any whitespace between
the pieces, the head within HEAD_REACH characters). From there the arguments' JSON text goes out as the model
writes it, unjudged, up to the end of the arguments' object (found by the scan of axk1/infer/json_scan.py, which
knows strings, so a `}` or `</tool_call>` inside an argument ends nothing). The first delta carries the name with
the arguments' text read so far ("" or more). A call's `arguments` is that text, as the model wrote it, streamed
or not, so the streamed fragments join to exactly the non-streamed reply's arguments.
"""

from __future__ import annotations

import json
import re
from typing import Any

from axk1.infer.json_scan import ObjectScan
from axk1.text.tool_format import TOOL_CALL_OPEN

# after `<tool_call>`: the object's opening, its name, and the arguments key up to (not past) the arguments' `{`
HEAD = re.compile(r'\s*\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"arguments"\s*:\s*(?=\{)')
HEAD_REACH = 512  # characters after `<tool_call>` the head is looked for in: each piece re-reads at most this many


class CallStream:
    """The open block at the start of a text that grows (the parser's pending text): its call's deltas."""

    def __init__(self, index: int, call_id: str) -> None:
        """index: the call's place among the calls the reply's stream has started; call_id: its id."""
        self.index, self.id = index, call_id
        self.name: str | None = None  # set once the head is read: from then on the block is streamed
        self._start = 0  # where the arguments' object begins in the text
        self._scan: ObjectScan | None = None
        self._sent: int | None = None  # characters of the arguments sent (None: nothing sent, not even the name)

    @property
    def started(self) -> bool:
        """The name went out: the stream has this call, whatever the block turns out to be."""
        return self._sent is not None

    def _read_head(self, text: str) -> bool:
        if self.name is None:
            m = HEAD.match(text, len(TOOL_CALL_OPEN), len(TOOL_CALL_OPEN) + HEAD_REACH)
            if m is None:
                return False  # not yet (or not this layout: then the block goes out whole, once decided)
            try:
                name = json.loads(m.group(1))
            except ValueError:  # an escape JSON does not know: not a name
                return False
            if not name.strip():
                return False
            self.name, self._start, self._scan = name, m.end(), ObjectScan(m.end())
        return True

    def advance(self, text: str, final: bool) -> dict[str, Any] | None:
        """The next delta of the call in `text` (the block from its `<tool_call>`), or None: nothing new (or no
        head yet). Arguments stop at their object's end, and where the scan found what JSON cannot hold."""
        if not self._read_head(text):
            return None
        end = self._scan.run(text, final)
        sent = self._sent or 0
        upto = len(text) if end is None else self._start + sent if end is False else end
        fragment = text[self._start + sent:upto]
        if self._sent is None:
            self._sent = len(fragment)
            return {"index": self.index, "id": self.id, "type": "function",
                    "function": {"name": self.name, "arguments": fragment}}
        self._sent += len(fragment)
        return {"index": self.index, "function": {"arguments": fragment}} if fragment else None

    def arguments(self, text: str) -> str | None:
        """The arguments' whole text, once their object's end has been found (None before, or when it cannot be)."""
        end = None if self._scan is None else self._scan.end
        return None if end is None or end is False else text[self._start:end]


def add_delta(deltas: list[dict[str, Any]], delta: dict[str, Any] | None) -> None:
    """Append a call's delta to a chunk's list, joined to the one before it when it continues the same call (a
    chunk names each call once)."""
    if delta is None:
        return
    if deltas and deltas[-1]["index"] == delta["index"]:
        deltas[-1]["function"]["arguments"] += delta["function"]["arguments"]
    else:
        deltas.append(delta)
