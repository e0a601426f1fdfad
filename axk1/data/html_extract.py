"""Main text of an HTML page: trafilatura (FineWeb's extractor), chosen by measurement on hand-checked Korean and
English pages (docs/data.md, "Web pages"; benchmarks/bench_extract.py).

Before trafilatura sees the page, inline <span> wrappers are unwrapped into their text: trafilatura drops elements
whose class names look like navigation ("menu", "nav"...), and documentation and CMS pages wrap words in the middle
of a sentence in such spans (GIMP's help writes "the <span class="guimenuitem">Delete Layer</span> command"), so
sentences lost their words. A span carries no layout of its own, so unwrapping it changes nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from axk1.text.korean import normalize_text

FAVOR = ("recall", "precision", "balanced")
# lxml refuses a str that still carries an XML declaration naming an encoding (the text is decoded already).
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


@dataclass
class WebConfig:
    """[web]: how pages read by the `warc` and `html` sources become text."""

    favor: str = "recall"             # trafilatura's trade-off; "recall" measured best (benchmarks/RESULTS.md)
    include_tables: bool = True
    min_text_chars: int = 20          # less main text than this: the page fails as "no_main_text"
    max_page_bytes: int = 4 << 20     # larger payloads fail as "too_large" (parsing time grows with size)

    def __post_init__(self) -> None:
        if self.favor not in FAVOR:
            raise ValueError(f"web.favor = {self.favor!r}: use one of {', '.join(FAVOR)}")


@dataclass
class Extracted:
    text: str
    title: str = ""


def extract_main_text(html: str, url: str | None = None, config: WebConfig | None = None) -> Extracted:
    """The page's main text (NFC, paragraphs on their own lines) and title; empty text when none was found."""
    import lxml.html
    import trafilatura
    from lxml import etree

    cfg = config or WebConfig()
    try:
        tree = lxml.html.document_fromstring(_XML_DECLARATION.sub("", html, count=1))
    except (etree.ParserError, ValueError):  # empty document, or only a comment / doctype
        return Extracted("")
    title = " ".join((tree.findtext(".//title") or "").split())  # trafilatura's metadata pass costs 4x the time
    etree.strip_tags(tree, "span")
    _breaks_to_paragraphs(tree)
    text = trafilatura.extract(tree, url=url, include_comments=False, include_tables=cfg.include_tables,
                               favor_recall=cfg.favor == "recall", favor_precision=cfg.favor == "precision")
    return Extracted(normalize_text(text or "").strip(), normalize_text(title))


# elements a run of text between <br>s may hold and still be one paragraph (any other element is a block)
_INLINE = {"a", "abbr", "b", "big", "cite", "code", "em", "font", "i", "img", "mark", "q", "s", "small", "strong",
           "sub", "sup", "tt", "u", "time", "var"}
_KEEP_BREAKS = {"p", "pre", "li", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "a", "title", "textarea"}


def _breaks_to_paragraphs(tree) -> None:
    """Text laid out with <br> instead of <p> (old Korean boards and government notices: <font>line<br>line</font>,
    or lines right after a menu table in the same <div>) becomes one <p> per line, blocks among the lines staying
    where they are: trafilatura dropped the first line of such a block when a table came before it."""
    from lxml import etree

    seen = set()  # parents looked at once
    for br in list(tree.iter("br")):
        parent = br.getparent()
        if parent is None or parent in seen:
            continue  # removed with its run's rewrite, or already looked at
        seen.add(parent)
        if parent.tag in _KEEP_BREAKS or any(a.tag in _KEEP_BREAKS for a in parent.iterancestors()):
            continue  # lines inside a paragraph, a cell, a list item are that element's own
        children = list(parent)
        items, run = [], [parent.text or ""]  # runs of inline content (a list: text, elements) and blocks
        for child in children:
            if child.tag == "br" or (isinstance(child.tag, str) and child.tag not in _INLINE):
                items.append(run)
                run = [child.tail or ""]
                if child.tag != "br":
                    child.tail = None  # (its tail now starts the next run)
                    items.append(child)
            else:
                run.append(child)
        items.append(run)
        parent.text = None
        for child in children:
            parent.remove(child)  # (removing keeps an element's tail with it: the runs hold them)
        for item in items:
            if not isinstance(item, list):
                parent.append(item)
                continue
            text, *inline = item
            if not text.strip() and not any((c.text or c.tail or "").strip() or len(c) for c in inline):
                continue
            p = etree.SubElement(parent, "p")
            p.text = text
            p.extend(inline)
