"""A chat reply's answer text → OpenAI tool calls and the content around them (the hermes layout of
axk1/text/tool_format.py, as vLLM's `--tool-call-parser hermes` reads it).

Each well-formed block `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` becomes a call; the text outside
the blocks is the content, trimmed. A block that is not a call (invalid JSON, no name, arguments that are not an
object, text after the object) stays in the content as the model wrote it, as vLLM's parser leaves it: the client
sees what went wrong, and a model's mistake is never a server error. A block the reply never closes is content too,
unless max_tokens cut it (`feed(..., cut=True)`): then the unfinished block is dropped and the reply is "length".

The text arrives in pieces (streaming) and is parsed as it comes: content before a `<tool_call>` goes out at once;
from `<tool_call>` on the text is held until the block is decided, then sent as one call (or as text). A block is
decided only by text already seen (the JSON object's end, found by a scan that knows strings, so a
`</tool_call>` inside an argument does not end it; a character JSON cannot hold outside a string), never by what
might come later, so a streamed reply and the same reply parsed whole give the same calls and content. The scan
resumes where it stopped, so a long argument costs one pass, not one per token.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from axk1.infer.detok import partial_suffix
from axk1.text.tool_format import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

# JSON's pieces outside strings: whitespace, a structural character, or a run of the characters numbers and
# true/false/null are made of (checked by json.loads once the object is whole); and a run inside a string that
# neither ends nor escapes
_OUTSIDE = re.compile(r"\s+|[{}\[\],:]|[A-Za-z0-9.+\-]+")
_IN_STRING = re.compile(r'[^"\\]*')
_SPACE = re.compile(r"\s*")
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


class _ObjectScan:
    """Finds where the JSON object that starts a block ends, over text that grows; resumable."""

    def __init__(self, start: int) -> None:
        self.pos, self.depth, self.in_string = start, 0, False
        self.end: int | bool | None = None  # once known, what run() returns from then on

    def run(self, text: str, final: bool) -> int | None | bool:
        """The index just past the object; None: not yet known (more text may finish it); False: the text cannot
        be one JSON object (a character JSON has no place for, outside a string)."""
        if self.end is None:
            self.end = self._scan(text, final)
        return self.end

    def _scan(self, text: str, final: bool) -> int | None | bool:
        while self.pos < len(text):
            if self.in_string:  # resumed where it stopped: a long argument is read once, not once per piece
                self.pos = _IN_STRING.match(text, self.pos).end()  # up to a quote or a backslash
                if self.pos >= len(text):
                    break
                if text[self.pos] == "\\":
                    if self.pos + 1 >= len(text):
                        break  # the escaped character comes in the next piece
                    self.pos += 2
                    continue
                self.pos += 1  # the closing quote
                self.in_string = False
                continue
            if text[self.pos] == '"':
                self.in_string, self.pos = True, self.pos + 1
                continue
            m = _OUTSIDE.match(text, self.pos)
            if m is None:
                return False  # a character JSON has no place for outside a string
            if m.end() == len(text) and not final and m.group() not in ("{", "}", "[", "]", ",", ":"):
                return None  # a number or literal (or whitespace) that the next piece may continue
            piece, self.pos = m.group(), m.end()
            if piece in ("{", "["):
                self.depth += 1
            elif piece in ("}", "]"):
                self.depth -= 1
                if self.depth <= 0:
                    return self.pos
            elif self.depth == 0 and not piece.isspace():
                return False  # something before the object's opening brace
        return False if final else None


class ToolCallParser:
    """One choice's answer text, fed in pieces: `feed` returns the content to send and the calls completed."""

    def __init__(self, max_calls: int | None = None) -> None:
        """max_calls: the reply ends at this many calls (1: a request's parallel_tool_calls false); what follows
        the last is dropped, and `full` tells the caller to stop generating."""
        self.max_calls = max_calls
        self.calls: list[dict[str, Any]] = []
        self._content: list[str] = []
        self._pending = ""  # text not passed on yet: a possible `<tool_call>` beginning, or an undecided block
        self._scan: _ObjectScan | None = None  # set while _pending starts with an open block
        self._space = ""  # whitespace held: it goes out only if more content follows (content is trimmed)

    @property
    def content(self) -> str:
        return "".join(self._content)

    @property
    def full(self) -> bool:
        return self.max_calls is not None and len(self.calls) >= self.max_calls

    def feed(self, text: str, final: bool = False, cut: bool = False) -> tuple[str, list[dict[str, Any]]]:
        """(content to send, calls completed) for the next piece; `final`: the reply ended, decide everything.
        `cut` (with final): it ended at max_tokens, so a block still undecided (or a `<tool_call>` tag cut short)
        is what the limit cut, not text the model meant: dropped, not passed on as content (a forced call cut
        inside its JSON put `<tool_c` in the content); what is decided by the text seen stays as it was."""
        if cut and final:
            content, calls = self.feed(text)
            self._pending, self._scan = "", None
            return content + self._trimmed("", True), calls
        if self.full:
            return self._trimmed("", final), []
        self._pending += text
        out: list[str] = []
        first_call = len(self.calls)
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
                self._scan = _ObjectScan(len(TOOL_CALL_OPEN))
            kind, end, call = self._block(final)
            if kind == WAIT:
                break
            if kind == CALL:
                self.calls.append(call)
                if self.full:
                    self._pending, self._scan = "", None
                    break
            else:
                out.append(self._pending[:end])
            self._pending, self._scan = self._pending[end:], None
        return self._trimmed("".join(out), final), self.calls[first_call:]

    def _block(self, final: bool) -> tuple[str, int, dict[str, Any] | None]:
        """The open block at the start of _pending: (WAIT, 0, None) until it is decided, then (CALL, its end, the
        call) or (TEXT, how much of it stays text, None)."""
        text = self._pending
        start = _SPACE.match(text, len(TOOL_CALL_OPEN)).end()
        end = None
        if start < len(text) and text[start] == "{":
            end = self._scan.run(text, final)
        elif start < len(text) or final:
            end = False  # not an object: this block is text
        if end is None:
            return (TEXT, len(text), None) if final else (WAIT, 0, None)
        if end is not False:
            after = _SPACE.match(text, end).end()
            if text.startswith(TOOL_CALL_CLOSE, after):
                try:
                    call = openai_call(json.loads(text[start:end]))
                except (ValueError, RecursionError):
                    call = None
                return (TEXT if call is None else CALL), after + len(TOOL_CALL_CLOSE), call
            if not final and TOOL_CALL_CLOSE.startswith(text[after:]):
                return WAIT, 0, None  # the closing tag may be on its way
        # not a call: the block is text up to its first closing tag (vLLM's reading), or to the end of the reply
        close = text.find(TOOL_CALL_CLOSE, len(TOOL_CALL_OPEN))
        if close >= 0:
            return TEXT, close + len(TOOL_CALL_CLOSE), None
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

