"""Re-joining wrapped lines from their measured geometry, and line-end hyphens.

A line continues on the next one when it is full: the space left before its block's right edge (measured
in points, per block) could not have held the next line's first word, which is what made the typesetter
break there. Justified text leaves ~0 points; the last line of a paragraph leaves more than a word. The next
line must also look like a continuation: not a list item or a tree's branch (`....| - 붙이기`), not more
indented than the line before (a new paragraph is, after its first line), the same type size, no paragraph gap
between them (more than 1.3 times the block's usual line pitch and 2 em). A paragraph's first line may be indented or out-dented against the next
(paragraph indent, hanging list labels). Lines with wide internal gaps (table rows) and leader lines (index
and contents entries: `term . . . 12`) are never joined to anything.

Hyphens at a line end: PDFium marks every one as soft, so the hyphen is judged on the words. Kept when
either side is Hangul (TeX never hyphenates Hangul: the author wrote it), when a side is not a plain word
(`kotex-utf.sty`, `x-1`), when the second part starts with a capital or the first is an acronym (`CJK-ko`),
when the hyphenated form occurs in the document, or when both halves are words of the document and the
joined form is not (a compound: `well-known`); otherwise the word was split by hyphenation and is joined (`inter-` `nationalization`).
Korean words cut at a line end go to the shared LineJoiner (axk1/text/korean.py).
"""

from __future__ import annotations

import re
from collections import Counter

from axk1.data.pdf_lines import Line
from axk1.data.pdf_vertical import column_box, vertical_continues
from axk1.text.korean import LineJoiner, interior_word_counts, is_hangul, is_wide

# List markers. Not "가." / "다.": a line starting with one syllable and a full stop is far more often the
# end of a sentence whose last word was cut ("발표했" / "다.").
_ITEM_RE = re.compile(r"^(?:[•·◦▪■□○●◆◇▶►※\-–—*]|\d{1,2}[.)]|\(\d{1,2}\)|[①-⑳]|[가-하]\)|\([가-하a-z]\)|[a-z]\))(?:\s|$)")
# A branch of a drawn tree (a menu tree, a directory listing): a line starting with a bar or a box-drawing character,
# or with leader dots up to one (Getting-Started-with-the-Rcmdr-ko.pdf: `.......| - 붙이기`). Each is an entry of
# its own; joined to the line above, the menu read `편집하기 - 자르기 .......| - 복사하기`.
_TREE_RE = re.compile(r"^(?:[.·…‥]\s?){2,}[|¦\u2500-\u257f]|^\s*[|¦\u2500-\u257f]")
_LEADER_RE = re.compile(r"(?:\.\s?){3,}\s*[\divxlc,–\- ]*$", re.IGNORECASE)
Box = tuple[float, float, float, bool]  # a block's left and right edge, baseline-to-baseline distance, justified
_WORD_STRIP = ".,!?;:()[]{}\"'“”‘’·…"
_LATIN_WORD_RE = re.compile(r"[A-Za-z]+")


def width_em(text: str) -> float:
    """Width of a text in em, estimated from its characters: wide (CJK) 1, others about half."""
    w = 0.0
    for ch in text:
        if is_wide(ch):
            w += 1.0
        elif ch == " ":
            w += 0.28
        elif ch in "ilI.,;:'!|":
            w += 0.3
        elif ch in "mwMW":
            w += 0.8
        else:
            w += 0.52
    return w


def standalone(line: Line, box: Box | None = None) -> bool:
    """Table rows and leader lines: never joined. A line with a gap over 1 em is a table row, unless its word spaces
    are alike (Line.even) and it ends at the right edge of its justified block (`box`, from block_box): justification
    stretched its spaces. LibreOffice's narrow Korean columns stretch spaces past 1 em on one line in five, and each
    such line cut its paragraph in three (4 of 28 paragraphs of a two-column report came out whole)."""
    if _LEADER_RE.search(line.text):
        return True
    if line.gaps == 0:
        return False
    return not (box is not None and box[3] and line.even and line.x1 >= box[1] - 0.5 * line.size)


def is_item(text: str) -> bool:
    """A list item or a branch of a drawn tree: it starts an entry of its own."""
    return bool(_ITEM_RE.match(text) or _TREE_RE.match(text))


def continues(cur: Line, nxt: Line, cur_box: Box, nxt_box: Box, same_block: bool, cur_continued: bool) -> bool:
    """Whether `cur` wraps onto `nxt`; the boxes come from block_box; `cur_continued`: `cur` itself continued
    the line before it."""
    if cur.vertical or nxt.vertical:  # columns of vertical text go on only into each other
        return cur.vertical and nxt.vertical and same_block and vertical_continues(cur, nxt, cur_box)
    if standalone(cur, cur_box) or standalone(nxt, nxt_box) or is_item(nxt.text) or nxt.footnote:
        return False
    if abs(cur.size - nxt.size) > 0.15 * max(cur.size, nxt.size):
        return False
    em_cur, em_nxt = cur.size, nxt.size  # an em is the type size
    left, right, pitch, justified = cur_box
    if justified:  # full lines end at the right edge; only the last line of a paragraph stops short
        full = cur.x1 >= right - 0.5 * em_cur or cur.aligned
    else:  # ragged: full when the next line's first word would not have fit in the room left
        room = right - cur.x1
        full = cur.aligned or room < width_em(nxt.text.split(" ", 1)[0]) * em_nxt + 0.3 * em_cur
    if not full:
        return False
    if cur_continued:  # inside a paragraph, its lines start at one x: a step either way starts something new
        if nxt.x0 - nxt_box[0] > cur.x0 - left + 0.6 * em_cur:
            return False  # indented: a new paragraph
        if same_block and nxt.x0 < cur.x0 - 0.5 * em_cur:
            return False  # out-dented: the next item of a hanging (description) list
    if same_block and cur.y0 - nxt.y0 > max(1.3 * pitch, 2.0 * cur.size):
        return False  # a paragraph gap, or something (a display, a figure) between them
    return True


def keep_hyphen(left: str, right: str, vocab: Counter) -> bool:
    """At a line end `left-` followed by `right` (the words without the hyphen): keep the hyphen?"""
    if not left or not right:
        return True
    if is_hangul(left[-1]) or is_hangul(right[0]):
        return True
    lw = _LATIN_WORD_RE.fullmatch(left.split("-")[-1])
    rw = _LATIN_WORD_RE.fullmatch(right.rstrip(_WORD_STRIP))
    if lw is None or rw is None or right[0].isupper() or (len(lw.group()) > 1 and lw.group().isupper()):
        return True  # not plain words, a capitalised second part, or an acronym (CJK-ko)
    a, b = lw.group().lower(), rw.group().lower()
    if f"{a}-{b}" in vocab:
        return True
    if a + b in vocab:
        return False
    return len(a) > 1 and len(b) > 1 and a in vocab and b in vocab


def document_vocab(lines: list[str]) -> Counter:
    """Lower-cased words of the document as written inside lines (not at a line's ends, which may be cut)."""
    counts: Counter = Counter()
    for line in lines:
        words = line.split()[1:-1]
        counts.update(w.strip(_WORD_STRIP).lower() for w in words)
    return counts


def block_box(block: list[Line]) -> Box:
    """A block's left and right edges, line pitch, and whether it is justified (at least three lines and 40%
    of them end within a point of one x, which is then the right edge; an over-full line does not move it).
    Also marks each line `aligned` when a neighbour (three lines either way) ends at the same x: a justified
    run inside a ragged or wider block (an abstract, a list item). A block of vertical columns: column_box."""
    if block[0].vertical:
        return column_box(block)
    steps = sorted(a.y0 - b.y0 for a, b in zip(block, block[1:]) if a.y0 - b.y0 > 0.5 * a.size)
    pitch = steps[len(steps) // 2] if steps else 1.5 * block[0].size
    size = Counter(round(ln.size, 1) for ln in block).most_common(1)[0][0]  # small type (a figure) aside
    ends = Counter(round(ln.x1) for ln in block if len(ln.text) >= 8 and abs(ln.size - size) < 0.5)
    right = max(ln.x1 for ln in block)
    justified = False
    if ends:
        mode = ends.most_common(1)[0][0]
        n = sum(1 for ln in block if abs(ln.x1 - mode) <= 1.0)
        if n >= 3 and n >= 0.4 * len(block):
            right, justified = max(ln.x1 for ln in block if abs(ln.x1 - mode) <= 1.0), True
    for i, ln in enumerate(block):
        near = block[max(0, i - 3): i] + block[i + 1: i + 4]
        ln.aligned = len(ln.text) >= 8 and any(abs(o.x1 - ln.x1) <= 1.0 and len(o.text) >= 8 for o in near)
    return min(ln.x0 for ln in block), right, pitch, justified


def reflow(lines: list[Line], boxes: list[Box], blocks: list[int], joiner: LineJoiner,
           breaks: set[int] | frozenset[int] = frozenset()) -> str:
    """The text of a sequence of body lines (all pages, in reading order: pdf_pages): `boxes[i]` is line i's block
    (see block_box), `blocks[i]` its block number; after line i in `breaks` a new line starts whatever the
    geometry says (a footnote area's end). Wrapped lines are joined, other breaks stay newlines."""
    texts = [ln.text for ln in lines]
    joins, kinds = LineJoins(texts), []
    for i in range(len(lines) - 1):
        if i in breaks or not continues(lines[i], lines[i + 1], boxes[i], boxes[i + 1], blocks[i] == blocks[i + 1],
                                        bool(kinds) and kinds[-1] != "nl"):
            kinds.append("nl")
        else:
            kinds.append(joins.kind(texts[i], texts[i + 1]))
    return joined(texts, kinds, joins.decisions(joiner))


class LineJoins:
    """How a line that runs on joins the next (the text layer's and OCR's reflow): a hyphen kept or removed, judged
    on the document's words; a Korean word cut at the line end, which the LineJoiner decides for all of them at
    once (`decisions`); Chinese/Japanese glued; anything else a space."""

    def __init__(self, texts: list[str]) -> None:
        self.texts, self.vocab, self.pairs = texts, None, []

    def kind(self, a: str, b: str) -> str:
        if a.endswith("-") and len(a) > 1:
            self.vocab = document_vocab(self.texts) if self.vocab is None else self.vocab  # on the first hyphen
            return "hyphen" if keep_hyphen(a[:-1].split(" ")[-1], b.split(" ", 1)[0], self.vocab) else "dehyph"
        if is_hangul(a[-1]) and is_hangul(b[0]):
            self.pairs.append((a.split()[-1].lstrip("([{\"'“‘"), b.split()[0].rstrip(".,!?;:)]}\"'”’")))
            return "ko"
        if is_wide(a[-1]) and is_wide(b[0]) and not (is_hangul(a[-1]) or is_hangul(b[0])):
            return "glue"  # Chinese/Japanese: no spaces between words
        return "space"

    def decisions(self, joiner: LineJoiner):
        """The LineJoiner's verdicts on the Korean cuts, in the order `kind` met them (True: glue)."""
        return iter(joiner.decide(self.pairs, interior_word_counts(self.texts))) if self.pairs else iter(())


def joined(texts: list[str], kinds: list[str], decisions) -> str:
    """`texts` joined by `kinds` (one between each two: "nl", "dehyph", "hyphen", "glue", "space", "ko"; a "ko"
    takes the next of `decisions`)."""
    parts = texts[:1]
    for kind, text in zip(kinds, texts[1:]):
        if kind == "nl":
            parts.append("\n")
        elif kind == "dehyph":
            parts[-1] = parts[-1][:-1]
        elif kind == "space" or (kind == "ko" and not next(decisions)):
            parts.append(" ")
        parts.append(text)
    return "".join(parts)
