"""Scoring a main-text extractor against hand-checked references (docs/data.md, "Web pages").

Character precision and recall: the extractor's output and the reference are compared as sequences of
non-whitespace characters (spacing differs between extractors and says nothing about content), aligned in order
by difflib; matched characters / output characters is precision, matched / reference characters is recall.
Boilerplate is scored apart: the share of a page's boilerplate lines (menus, footers, link lists), written down
by hand, that appear in the output.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass
class PageScore:
    matched: int
    output_chars: int
    reference_chars: int
    boilerplate_chars: int
    boilerplate_leaked: int

    @property
    def precision(self) -> float:
        return self.matched / self.output_chars if self.output_chars else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.reference_chars if self.reference_chars else 0.0


def _chars(text: str) -> str:
    return "".join(text.split())


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def matched_chars(output: str, reference: str) -> int:
    """Characters of `reference` found, in order, in `output` (whitespace ignored)."""
    a, b = _chars(output), _chars(reference)
    # Lines first (aligning whole pages character by character is slow), then characters inside differing runs.
    out_lines, ref_lines = _lines(output), _lines(reference)
    sm = difflib.SequenceMatcher(None, out_lines, ref_lines, autojunk=False)
    matched = 0
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            matched += sum(len(_chars(x)) for x in out_lines[i1:i2])
        elif tag == "replace":
            x, y = _chars("".join(out_lines[i1:i2])), _chars("".join(ref_lines[j1:j2]))
            inner = difflib.SequenceMatcher(None, x, y, autojunk=False)
            matched += sum(block.size for block in inner.get_matching_blocks())
    return min(matched, len(a), len(b))


def score_page(output: str, reference: str, boilerplate_lines: list[str]) -> PageScore:
    flat = _chars(output)
    bp = [_chars(line) for line in boilerplate_lines if _chars(line)]
    leaked = sum(len(line) for line in bp if line in flat)
    return PageScore(matched_chars(output, reference), len(flat), len(_chars(reference)),
                     sum(map(len, bp)), leaked)


def totals(scores: list[PageScore]) -> dict:
    """Micro-averaged precision, recall, F1 and boilerplate leak over pages."""
    m = sum(s.matched for s in scores)
    out = sum(s.output_chars for s in scores)
    ref = sum(s.reference_chars for s in scores)
    bp = sum(s.boilerplate_chars for s in scores)
    p, r = (m / out if out else 0.0), (m / ref if ref else 0.0)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "boilerplate_leaked": sum(s.boilerplate_leaked for s in scores) / bp if bp else 0.0,
            "pages": len(scores)}
