"""Re-joining the lines of an OCR'd page, as the text layer's are (pdf_reflow).

tesseract's text keeps the page's hard line breaks, and a blank line between its paragraphs. Inside one of its
paragraphs a line runs on into the next when it is full: as long, in estimated em, as nearly the page's long
lines (the column's width: the 90th percentile of the line widths, so one over-long line does not set it; a
paragraph's last line, a heading or a short list item stops short); the next line must not be a list item or
a table row. The join itself is the text layer's: a Korean word cut at the
line end goes to the LineJoiner, a hyphen is judged on the document's words, other breaks become a space. Lines
of one paragraph that are not full stay lines (code, addresses, a poem), and paragraphs stay apart.
"""

from __future__ import annotations

from axk1.data.pdf_reflow import LineJoins, is_item, joined, width_em
from axk1.text.korean import LineJoiner

FULL = 0.85   # a line this share of the column's width, or more, is full


def _table_row(line: str) -> bool:
    return "   " in line or "\t" in line  # tesseract keeps wide gaps between cells as runs of spaces


def reflow_ocr(text: str, joiner: LineJoiner) -> str:
    """The page's text with wrapped lines joined; paragraphs one a line."""
    paragraphs = [[ln.strip() for ln in block.split("\n") if ln.strip()] for block in text.split("\n\n")]
    paragraphs = [p for p in paragraphs if p]
    all_lines = [ln for p in paragraphs for ln in p]
    if not all_lines:
        return ""
    widths = sorted(width_em(ln) for ln in all_lines)
    column = widths[int(0.9 * (len(widths) - 1))]
    joins, kinds = LineJoins(all_lines), []
    for lines in paragraphs:
        kinds.append(["nl" if width_em(a) < FULL * column or is_item(b) or _table_row(a) or _table_row(b)
                      else joins.kind(a, b) for a, b in zip(lines, lines[1:])])
    decisions = joins.decisions(joiner)  # one pass over the page's Korean cuts, in order
    return "\n".join(joined(lines, row, decisions) for lines, row in zip(paragraphs, kinds))
