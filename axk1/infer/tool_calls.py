"""A chat reply's answer text → OpenAI tool calls and the content around them (the hermes layout of
axk1/text/tool_format.py, as vLLM's `--tool-call-parser hermes` reads it).

Each well-formed block `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` becomes a call; the text outside
the blocks is the content, trimmed. A block that is not a call (invalid JSON, no name, arguments that are not an
object, text after the object) stays in the content as the model wrote it, as vLLM's parser leaves it: the client
sees what went wrong, and a model's mistake is never a server error. A block the reply ends without closing is a
call when what follows `<tool_call>` is a whole call and only whitespace (vLLM's hermes parser reads
`<tool_call>(.*)` at the end: a stop string "</tool_call>" ends replies so), else content too, unless max_tokens cut
it (`feed(..., cut=True)`): then the unfinished block is dropped and the reply is "length".

The text arrives in pieces (streaming) and is parsed as it comes: content before a `<tool_call>` goes out at once;
from `<tool_call>` on the text is held as content until the block is decided. A block is decided only by text
already seen (the JSON object's end, found by the scan of axk1/infer/json_scan.py, which knows strings, so a
`</tool_call>` inside an argument does not end it), never by what might come later, so a streamed reply and the
same reply parsed whole give the same calls and content. Meanwhile the call streams piecewise once the block's
head `{"name": ..., "arguments": {` is read (axk1/infer/tool_call_stream.py): `feed` returns OpenAI's call deltas,
the name first, then the arguments' text as it comes; its `arguments` is that text as the model wrote it. A block
with another head goes out whole once decided (its arguments re-written by json.dumps). A streamed block that then
turns out not to be a call (or that max_tokens cuts) cannot be taken back: its deltas stay in the stream, as a
call of its own index that `calls` (the non-streamed reply) lacks, and the block's text is content as above.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from axk1.infer.detok import partial_suffix
from axk1.infer.json_scan import ObjectScan
from axk1.infer.tool_call_stream import CallStream, add_delta
from axk1.text.tool_format import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

_SPACE = re.compile(r"\s*")
_CLOSE = re.compile(re.escape(TOOL_CALL_CLOSE))
WAIT, CALL, TEXT = "wait", "call", "text"


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


def openai_call(obj: Any) -> dict[str, Any] | None:
    """The OpenAI tool call a block's JSON value stands for, or None when it is not one: an object with a non-empty
    string `name` and `arguments` that are an object (or a string holding one, as some models write them; absent:
    no arguments). `arguments` goes out as a JSON string, as OpenAI sends it."""
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"].strip():
        return None
    args = obj.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except (ValueError, RecursionError):
            return None
    if not isinstance(args, dict):
        return None
    return {"id": new_call_id(), "type": "function",
            "function": {"name": obj["name"], "arguments": json.dumps(args, ensure_ascii=False)}}


def _call_of(text: str) -> dict[str, Any] | None:
    try:
        return openai_call(json.loads(text))
    except (ValueError, RecursionError):
        return None


class ToolCallParser:
    """One choice's answer text, fed in pieces: `feed` returns the content to send and the call deltas to send;
    `calls` holds the calls decided (a whole reply's)."""

    def __init__(self, max_calls: int | None = None) -> None:
        """max_calls: the reply ends at this many calls (1: a request's parallel_tool_calls false); what follows
        the last is dropped, and `full` tells the caller to stop generating."""
        self.max_calls = max_calls
        self.calls: list[dict[str, Any]] = []
        self._content: list[str] = []
        self._pending = ""  # text not passed on yet: a possible `<tool_call>` beginning, or an undecided block
        self._scan: ObjectScan | None = None  # set while _pending starts with an open block
        self._stream: CallStream | None = None  # that block's call deltas
        self._started = 0  # calls the stream has started (its deltas' indices): the decided ones, and any streamed
        self._space = ""  # whitespace held: it goes out only if more content follows (content is trimmed)
        # How far the open block's text has been read, so that each piece reads only what is new (a block left
        # undecided for 100,000 characters was re-read at every token: 17 s, on the server's event loop). Text only
        # grows, so a run of whitespace read stays one, and a closing tag not found before stays absent.
        self._head = self._tail = self._close_from = 0

    @property
    def content(self) -> str:
        return "".join(self._content)

    @property
    def full(self) -> bool:
        return self.max_calls is not None and len(self.calls) >= self.max_calls

    def feed(self, text: str, final: bool = False, cut: bool = False) -> tuple[str, list[dict[str, Any]]]:
        """(content to send, call deltas to send) for the next piece; `final`: the reply ended, decide everything.
        `cut` (with final): it ended at max_tokens, so a block still undecided (or a `<tool_call>` tag cut short)
        is what the limit cut, not text the model meant: dropped, not passed on as content (a forced call cut
        inside its JSON put `<tool_c` in the content); what is decided by the text seen stays as it was."""
        if cut and final:
            content, deltas = self.feed(text)
            if self._scan is not None and not self.full:  # a whole call cut before its closing tag still counts
                kind, end, call = self._block(True)
                call = self._streamed_call(call, self._pending[:end], True, deltas) if kind == CALL else None
                if call is not None:
                    self.calls.append(call)
            self._close_block()
            self._pending = ""
            return content + self._trimmed("", True), deltas
        if self.full:
            return self._trimmed("", final), []
        # appended to a string no one else holds, which CPython grows in place rather than copying it per piece
        pending, self._pending = self._pending, ""
        pending += text
        self._pending = pending
        out: list[str] = []
        deltas: list[dict[str, Any]] = []
        while self._pending:
            if self._scan is None:
                at = self._pending.find(TOOL_CALL_OPEN)
                if at < 0:
                    keep = 0 if final else partial_suffix(self._pending, TOOL_CALL_OPEN)
                    out.append(self._pending[:len(self._pending) - keep])
                    self._pending = self._pending[len(self._pending) - keep:]
                    break
                out.append(self._pending[:at])
                self._pending = self._pending[at:]
                self._scan = ObjectScan(len(TOOL_CALL_OPEN))
                self._stream = CallStream(self._started, new_call_id())
                self._head = self._close_from = len(TOOL_CALL_OPEN)
                self._tail = 0
            kind, end, call = self._block(final)
            if kind == WAIT:
                add_delta(deltas, self._stream.advance(self._pending, final))
                break
            if kind == CALL:
                call = self._streamed_call(call, self._pending[:end], final, deltas)
            if call is not None:
                self.calls.append(call)
            else:
                out.append(self._pending[:end])
            self._pending = self._pending[end:]
            self._close_block()
            if self.full:
                self._pending = ""
                break
        return self._trimmed("".join(out), final), deltas

    def _streamed_call(self, call: dict[str, Any], block: str, final: bool,
                       deltas: list[dict[str, Any]]) -> dict[str, Any] | None:
        """A block decided as `call`, its last deltas added: the call as streamed (its arguments the text the model
        wrote), or None when that text is not what the block says (a name or arguments given twice: text)."""
        stream = self._stream
        add_delta(deltas, stream.advance(block, final))
        if not stream.started:  # another head: the call goes out whole
            call = {**call, "id": stream.id}
            add_delta(deltas, {"index": stream.index, **call, "function": dict(call["function"])})
            return call
        arguments = stream.arguments(block)
        try:
            same = arguments is not None and stream.name == call["function"]["name"] and \
                json.dumps(json.loads(arguments), ensure_ascii=False) == call["function"]["arguments"]
        except (ValueError, RecursionError):
            same = False
        if not same:
            return None
        return {"id": stream.id, "type": "function", "function": {"name": stream.name, "arguments": arguments}}

    def _close_block(self) -> None:
        """The open block is decided (or dropped): the next one's deltas take the next index if this one's began."""
        stream = self._stream
        if stream is not None and (stream.started or (self.calls and self.calls[-1]["id"] == stream.id)):
            self._started += 1
        self._scan = self._stream = None

    def _block(self, final: bool) -> tuple[str, int, dict[str, Any] | None]:
        """The open block at the start of _pending: (WAIT, 0, None) until it is decided, then (CALL, its end, the
        call) or (TEXT, how much of it stays text, None)."""
        text = self._pending
        start = self._head = _SPACE.match(text, self._head).end()  # the whitespace after `<tool_call>`
        end = None
        if start < len(text) and text[start] == "{":
            end = self._scan.run(text, final)
        elif start < len(text) or final:
            end = False  # not an object: this block is text
        if end is None:
            return (TEXT, len(text), None) if final else (WAIT, 0, None)
        if end is not False:
            after = self._tail = _SPACE.match(text, max(end, self._tail)).end()  # the whitespace after the object
            if text.startswith(TOOL_CALL_CLOSE, after):
                call = _call_of(text[start:end])
                return (TEXT if call is None else CALL), after + len(TOOL_CALL_CLOSE), call
            if not final and TOOL_CALL_CLOSE.startswith(text[after:]):
                return WAIT, 0, None  # the closing tag may be on its way
            if final and after == len(text):
                # a whole call the reply ended before its closing tag (a stop string "</tool_call>", as agents
                # send, or a stop id): a call, as vLLM's hermes parser reads `<tool_call>(.*)` at the end
                call = _call_of(text[start:end])
                if call is not None:
                    return CALL, after, call
        # not a call: the block is text up to its first closing tag (vLLM's reading), or to the end of the reply
        close = _CLOSE.search(text, self._close_from)
        if close:
            return TEXT, close.end(), None
        # the next search starts where a closing tag cut at the end of this text would begin
        self._close_from = max(self._close_from, len(text) - len(TOOL_CALL_CLOSE) + 1)
        return (TEXT, len(text), None) if final else (WAIT, 0, None)

    def _trimmed(self, text: str, final: bool) -> str:
        """Content as it may go out: no leading whitespace, and trailing whitespace held until more content
        follows it (dropped at the end), so the streamed pieces join to the trimmed content."""
        if not self._content:
            text = text.lstrip()
        text = self._space + text
        body = text.rstrip()
        self._space = "" if final else text[len(body):]
        if body:
            self._content.append(body)
        return body

