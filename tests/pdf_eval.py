"""Scoring an extractor against hand-checked reference paragraphs of real PDFs.

A reference paragraph is looked up in the extractor's whole output (any extractor: ours, pypdfium2,
pdftotext, pdfminer.six), so the score does not depend on how a tool orders or separates pages. The lookup:
12-character pieces of the reference found verbatim in the output vote for where the paragraph starts; the
errors are the Levenshtein distance between the reference and the best-matching stretch of output around
there (free start and end: semi-global alignment). Whitespace runs count as one space on both sides, so a
wrong join ("이 제") or a lost space ("이스타일은") is one error, and a line break inside a paragraph
counts as the space it stands for. A paragraph none of whose pieces is found counts as wholly lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from axk1.json_text import read_json_file

_PIECE = 12


@dataclass
class Reference:
    doc: str          # file name of the PDF
    pages: str        # where it is, for people ("3", "27-28")
    kind: str         # what makes it hard: page_break, table, figure, formula, two_column, cropped, garbled, ...
    text: str         # the paragraph as a reader sees it, one space between words


def load_references(path: str | Path) -> list[Reference]:
    items = read_json_file(path, "a reference file is a JSON list of {doc, pages, kind, text} objects",
                           what="PDF reference file")
    return [Reference(**item) for item in items]


def _squash(text: str) -> str:
    return " ".join(text.split())


def _locate(out: str, ref: str) -> int | None:
    votes = []
    for k in range(0, max(1, len(ref) - _PIECE + 1), _PIECE):
        piece = ref[k:k + _PIECE]
        pos = out.find(piece)
        if pos >= 0 and out.find(piece, pos + 1) < 0:  # only pieces that occur once vote
            votes.append(pos - k)
    if not votes:
        return None
    votes.sort()
    return votes[len(votes) // 2]


def paragraph_errors(output: str, ref: str) -> int:
    """Edit distance from `ref` to the stretch of `output` that matches it best (len(ref) when it is absent)."""
    out, ref = _squash(output), _squash(ref)
    start = _locate(out, ref)
    if start is None:
        return len(ref)
    lo, hi = max(0, start - len(ref) // 2 - 20), min(len(out), start + len(ref) * 3 // 2 + 20)
    window = out[lo:hi]
    # semi-global alignment: a row per reference character, columns over the window; free start and end
    prev = [0] * (len(window) + 1)
    for i, rc in enumerate(ref, 1):
        cur = [i] + [0] * len(window)
        for j, oc in enumerate(window, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rc != oc))
        prev = cur
    return min(prev)


def score(outputs: dict[str, str], refs: list[Reference]) -> dict:
    """Per document and pooled: characters, errors and CER of one extractor; `outputs` maps file name to text."""
    per_doc: dict[str, list[int]] = {}
    for r in refs:
        errors = paragraph_errors(outputs.get(r.doc, ""), r.text)
        n = len(_squash(r.text))
        acc = per_doc.setdefault(r.doc, [0, 0])
        acc[0] += min(errors, n)
        acc[1] += n
    errs, chars = sum(e for e, _ in per_doc.values()), sum(n for _, n in per_doc.values())
    return {"pooled_cer": errs / max(1, chars), "errors": errs, "chars": chars,
            "per_doc": {d: round(e / max(1, n), 4) for d, (e, n) in sorted(per_doc.items())}}
