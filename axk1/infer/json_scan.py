"""Where a JSON object ends, over text that grows piece by piece (a streamed reply): the scan the tool-call parser
(axk1/infer/tool_calls.py) decides a `<tool_call>` block with, and the one that streams a call's arguments
(axk1/infer/tool_call_stream.py).

The scan knows strings (a `}` or `</tool_call>` inside one ends nothing) and refuses a character JSON has no place
for outside a string; it does not check the grammar (json.loads does, once the object is whole). It resumes where
it stopped, so a long argument costs one pass, not one per token.
"""

from __future__ import annotations

import re

# JSON's pieces outside strings: whitespace, a structural character, or a run of the characters numbers and
# true/false/null are made of (checked by json.loads once the object is whole); and a run inside a string that
# neither ends nor escapes
_OUTSIDE = re.compile(r"\s+|[{}\[\],:]|[A-Za-z0-9.+\-]+")
_IN_STRING = re.compile(r'[^"\\]*')
# the rest of a whitespace or a literal run of _OUTSIDE's
_SPACE_RUN = re.compile(r"\s*")
_WORD_RUN = re.compile(r"[A-Za-z0-9.+\-]*")


class ObjectScan:
    """Finds where the JSON object that starts at `start` (after whitespace) ends, over text that grows."""

    def __init__(self, start: int) -> None:
        self.pos, self.depth, self.in_string = start, 0, False
        self.end: int | bool | None = None  # once known, what run() returns from then on
        self._run: re.Pattern | None = None  # the rest of a run that reached the end of the text, and where it
        self._run_end = 0                     # was read to: the run began at pos

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
            if self._run is not None:  # a run the last text ended in: read on from where that text ended
                m = self._run.match(text, self._run_end)
            else:
                m = _OUTSIDE.match(text, self.pos)
                if m is None:
                    return False  # a character JSON has no place for outside a string
            if m.end() == len(text) and not final and m.group() not in ("{", "}", "[", "]", ",", ":"):
                # a number or literal (or whitespace) that the next piece may continue: the next scan reads only
                # the new text of it (read again from its start, a 100,000-letter run cost 17 s in 4-letter pieces)
                if self._run is None:
                    self._run = _SPACE_RUN if text[self.pos].isspace() else _WORD_RUN
                self._run_end = m.end()
                return None
            piece, self.pos, self._run = text[self.pos:m.end()], m.end(), None
            if piece in ("{", "["):
                self.depth += 1
            elif piece in ("}", "]"):
                self.depth -= 1
                if self.depth <= 0:
                    return self.pos
            elif self.depth == 0 and not piece.isspace():
                return False  # something before the object's opening brace
        return False if final else None
