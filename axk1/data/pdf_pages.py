"""The body lines of all pages in one reading order for the reflow, a page's footnotes after its body text.

Pages are read one after another, each in its blocks' order (pdf_layout.body_blocks). A page's footnote area is
the last of it, from its first footnote (`Line.footnote`, pdf_footnotes) to its end in that order, when every
line of it lies at or below that first footnote (per-column footnotes, with body text read after them, are left
where they are). Read there, the footnotes cut in two a paragraph that runs on onto the next page: LibreOffice's
two-column reports read `…결과를 꼼꼼하게` / `1 그래서…` / … / `5 …지켜보았다. 검토했습니다.`, the paragraph's
end joined to the last footnote. So when the page's last line ends with no sentence's end (`.`, `?`, `!`) or
reaches a justified block's right edge, the footnote area waits until the next page's first lines that continue that paragraph (as pdf_reflow.continues
decides, the same decision the reflow makes) have been read, and comes after them; where the paragraph ends with
the page, nothing moves. A footnote area never runs on into the body text after it: the reflow breaks the line
there (`breaks`). The rest of a footnote TeX split over the page end (`Line.continued_note`) is read right after
it, before the break.
"""

from __future__ import annotations

import re

from axk1.data.pdf_lines import Line
from axk1.data.pdf_reflow import Box, block_box, continues

Entry = tuple[Line, Box, int]  # a line, its block's box (block_box), its block's number
# A page's last line that ends a sentence is taken to end its paragraph unless it fills a justified line: a ragged
# line ending `…option.`, "full" because the next page's first word was long, joined the code there
# (`\usepackage{fontspec}`, pmhanguljamo-doc.pdf) once the footnote no longer stood between them
_SENTENCE_END_RE = re.compile(r"[.!?。．！？][\"'”’)\]」』]*$")


def footnote_area(entries: list[Entry]) -> int:
    """Where a page's footnote area starts in its reading order (see the module docstring); len(entries): none."""
    first = next((i for i, (ln, _, _) in enumerate(entries) if ln.footnote), None)
    if first is None:
        return len(entries)
    top = entries[first][0].y1
    if all(ln.y1 <= top + 0.5 * ln.size for ln, _, _ in entries[first:]):
        return first
    return len(entries)


class ReadingOrder:
    """The lines of pages added one by one, with their boxes and block numbers, and the indices i after which the
    reflow must start a new line whatever the geometry says (`breaks`: a footnote area's end). Call `flush`
    after the last page: the last page's footnote area is placed then."""

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self.boxes: list[Box] = []
        self.blocks: list[int] = []
        self.breaks: set[int] = set()
        self._continued = False  # the last line runs on from the one before it
        self._notes: list[Entry] = []  # the last page's footnote area, not placed yet
        self._block = 0

    def add_page(self, blocks: list[list[Line]]) -> None:
        entries: list[Entry] = []
        for block in blocks:
            box = block_box(block)
            self._block += 1
            entries += [(ln, box, self._block) for ln in block]
        # the rest of the last page's last footnote (pdf_footnotes.mark_continued_note) follows it, where it waits
        rest = [e for e in entries if e[0].continued_note] if self._notes else []
        self._notes += rest
        entries = [e for e in entries if all(e is not r for r in rest)]
        start = footnote_area(entries)
        body, notes = entries[:start], entries[start:]
        k = 0
        if self._notes and self.lines and self._may_run_over():
            # the last page's paragraph runs on here: its lines first, then that page's footnotes
            while k < len(body) and self._runs_on(body[k]):
                self._add(body[k])
                k += 1
        self.flush()
        for entry in body[k:]:
            self._add(entry)
        self._notes = notes

    def flush(self) -> None:
        """Places the footnote area held back, with a break after it."""
        for entry in self._notes:
            self._add(entry)
        if self._notes:
            self.breaks.add(len(self.lines) - 1)
        self._notes = []

    def _may_run_over(self) -> bool:
        """Whether the last page's last body line may leave its paragraph unfinished: it ends no sentence, or it
        reaches the right edge of a justified block (where a paragraph's last line seldom ends)."""
        last, (_, right, _, justified) = self.lines[-1], self.boxes[-1]
        return not _SENTENCE_END_RE.search(last.text) or justified and last.x1 >= right - 0.5 * last.size

    def _runs_on(self, entry: Entry) -> bool:
        """Whether `entry` continues the last line placed (pdf_reflow.continues, as the reflow will ask it)."""
        if not self.lines or len(self.lines) - 1 in self.breaks:
            return False
        ln, box, block = entry
        return continues(self.lines[-1], ln, self.boxes[-1], box, self.blocks[-1] == block, self._continued)

    def _add(self, entry: Entry) -> None:
        self._continued = self._runs_on(entry)
        ln, box, block = entry
        self.lines.append(ln)
        self.boxes.append(box)
        self.blocks.append(block)
