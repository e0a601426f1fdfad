"""The type size a page's text is set in: the one most of its characters have (`body_size`).

Its own module so that both the page layout (`pdf_layout`, headers and footers against it) and the footnotes
(`pdf_footnotes`, small type below it) use one measure: `pdf_lines` imports the footnotes and `pdf_layout`
imports `pdf_lines`, so neither of those can hold it for the other.
"""

from __future__ import annotations

from collections import Counter


def body_size(lines: list) -> float:  # pdf_lines.Line (which imports pdf_footnotes, a user of this module)
    """The font size most of the text is set in (weighted by characters, rounded to a tenth of a point); 10.0
    for no lines."""
    counts: Counter = Counter()
    for ln in lines:
        counts[round(ln.size, 1)] += len(ln.text)
    return counts.most_common(1)[0][0] if counts else 10.0
