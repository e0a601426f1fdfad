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

from axk1.data.pdf_reflow import document_vocab, is_item, keep_hyphen, width_em
from axk1.text.korean import LineJoiner, interior_word_counts, is_hangul, is_wide

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
    vocab = None
    kinds: list[list[str]] = []
    pairs: list[tuple[str, str]] = []
    for lines in paragraphs:
        row = []
        for a, b in zip(lines, lines[1:]):
            full = width_em(a) >= FULL * column
            if not full or is_item(b) or _table_row(a) or _table_row(b):
                row.append("nl")
            elif a.endswith("-") and len(a) > 1:
                vocab = document_vocab(all_lines) if vocab is None else vocab
                row.append("hyphen" if keep_hyphen(a[:-1].split(" ")[-1], b.split(" ", 1)[0], vocab) else "dehyph")
            elif is_hangul(a[-1]) and is_hangul(b[0]):
                row.append("ko")
                pairs.append((a.split()[-1].lstrip("([{\"'“‘"), b.split()[0].rstrip(".,!?;:)]}\"'”’")))
            elif is_wide(a[-1]) and is_wide(b[0]) and not (is_hangul(a[-1]) or is_hangul(b[0])):
                row.append("glue")
            else:
                row.append("space")
        kinds.append(row)
    decisions = iter(joiner.decide(pairs, interior_word_counts(all_lines))) if pairs else iter(())
    out = []
    for lines, row in zip(paragraphs, kinds):
        parts = [lines[0]]
        for kind, line in zip(row, lines[1:]):
            if kind == "nl":
                parts.append("\n")
            elif kind == "dehyph":
                parts[-1] = parts[-1][:-1]
            elif kind == "space" or (kind == "ko" and not next(decisions)):
                parts.append(" ")
            parts.append(line)
        out.append("".join(parts))
    return "\n".join(out)
