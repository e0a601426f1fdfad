"""Main text of an HTML page: trafilatura (FineWeb's extractor), chosen by measurement on hand-checked Korean and
English pages (docs/data.md, "Web pages"; benchmarks/bench_extract.py).

Before trafilatura sees the page, inline <span> wrappers are unwrapped into their text: trafilatura drops elements
whose class names look like navigation ("menu", "nav"...), and documentation and CMS pages wrap words in the middle
of a sentence in such spans (GIMP's help writes "the <span class="guimenuitem">Delete Layer</span> command"), so
sentences lost their words. A span carries no layout of its own, so unwrapping it changes nothing else.

Each page is bounded, so that one hostile page cannot stall a worker (trafilatura takes time in proportion to a
page's elements: a 3.5 MB page of 350,000 `<br>` lines took 25 s): a page parsed into more than `max_page_elements`
elements fails as "too_complex" before extraction, and an extraction running past `max_extract_seconds` is stopped
and fails as "extract_timeout" (a SIGALRM timer: on a process's main thread, where every executor runs its tasks;
elsewhere only the element bound applies). A page nested past the parser's depth limit is parsed again with its
nesting bounded (axk1/data/html_nesting.py) rather than cut where the parser stopped. HTML comments and processing
instructions are not kept in the tree: trafilatura read a comment in the middle of a paragraph as its end, and the
rest of the paragraph was lost, its first words glued to the next kept text.

Characters an XML tree cannot hold (C0 controls, U+FFFE, U+FFFF), written out or as references (`&#8;`), are
removed before parsing, as text sources remove them (`strip_controls`): lxml keeps them in its tree, and trafilatura
then found no text on the page at all (one ESC of pasted terminal colours lost a whole page as "no_main_text").
"""

from __future__ import annotations

import itertools
import re
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from axk1.data.html_nesting import bound_nesting
from axk1.text.korean import normalize_text, strip_controls

FAVOR = ("recall", "precision", "balanced")
# lxml refuses a str that still carries an XML declaration naming an encoding (the text is decoded already).
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
# a numeric character reference (browsers read one without its `;` too)
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9A-Fa-f]+)|([0-9]+));?")


@dataclass
class WebConfig:
    """[web]: how pages read by the `warc` and `html` sources become text."""

    favor: str = "recall"             # trafilatura's trade-off; "recall" measured best (benchmarks/RESULTS.md)
    include_tables: bool = True
    min_text_chars: int = 20          # less main text than this: the page fails as "no_main_text"
    max_page_bytes: int = 4 << 20     # larger payloads fail as "too_large" (parsing time grows with size)
    max_page_elements: int = 200_000  # a page parsed into more elements fails as "too_complex" (0: no bound)
    max_extract_seconds: float = 10.0  # a page's extraction stopped after this fails as "extract_timeout" (0: none)

    def __post_init__(self) -> None:
        if self.favor not in FAVOR:
            raise ValueError(f"web.favor = {self.favor!r}: use one of {', '.join(FAVOR)}")
        # no "0: no bound" here, as its siblings have: 0 failed every page as too_large, and the run ended 0
        if not (isinstance(self.max_page_bytes, int) and self.max_page_bytes > 0):
            raise ValueError(f"web.max_page_bytes = {self.max_page_bytes!r}: give a whole number of bytes over 0 "
                             f"(a larger page fails as too_large; default {4 << 20})")
        if not (isinstance(self.max_page_elements, int) and self.max_page_elements >= 0):
            raise ValueError(f"web.max_page_elements = {self.max_page_elements!r}: give a whole number of elements "
                             "(0 for no bound)")
        if not (isinstance(self.max_extract_seconds, (int, float)) and 0 <= self.max_extract_seconds < float("inf")):
            raise ValueError(f"web.max_extract_seconds = {self.max_extract_seconds!r}: give a number of seconds "
                             "(0 for no bound)")


class ExtractLimit(Exception):
    """A page over a bound of [web]; the message is the failure's reason."""


class _Overtime(BaseException):
    """Raised by the timer inside trafilatura: a BaseException, so that no `except Exception` there swallows it."""


@dataclass
class Extracted:
    text: str
    title: str = ""
    controls_removed: int = 0  # control characters (and references to them) taken out of the page before parsing


def extract_main_text(html: str, url: str | None = None, config: WebConfig | None = None) -> Extracted:
    """The page's main text (NFC, paragraphs on their own lines) and title; empty text when none was found."""
    import trafilatura
    from lxml import etree

    cfg = config or WebConfig()
    html, removed = _without_controls(html)
    try:
        with _deadline(cfg.max_extract_seconds):
            try:
                tree = _parse(_XML_DECLARATION.sub("", html, count=1))
            except (etree.ParserError, ValueError):  # empty document, or only a comment / doctype
                return Extracted("")
            limit = cfg.max_page_elements
            if limit and sum(1 for _ in itertools.islice(tree.iter(), limit + 1)) > limit:
                raise ExtractLimit(f"too_complex (over [web] max_page_elements = {limit} HTML elements)")
            title = " ".join((tree.findtext(".//title") or "").split())  # trafilatura's metadata pass: 4x the time
            etree.strip_tags(tree, "span")
            _breaks_to_paragraphs(tree)
            text = trafilatura.extract(tree, url=url, include_comments=False, include_tables=cfg.include_tables,
                                       favor_recall=cfg.favor == "recall", favor_precision=cfg.favor == "precision")
    except _Overtime:
        raise ExtractLimit(f"extract_timeout (over [web] max_extract_seconds = {cfg.max_extract_seconds:g} s)") \
            from None
    return Extracted(normalize_text(text or "").strip(), normalize_text(title), removed)


def _without_controls(html: str) -> tuple[str, int]:
    """The page without the characters an XML tree cannot hold, written out or as references, and how many were
    removed (strip_controls: a line or page break among them becomes a newline)."""
    if "&#" in html:
        html = _CHAR_REF.sub(_control_ref, html)
    return strip_controls(html)


def _control_ref(m: re.Match) -> str:
    """A reference to a control character or a noncharacter as that character, for strip_controls to remove; one to
    no character at all (a surrogate, past U+10FFFF: lxml makes it U+FFFD) as a NUL, removed alike. Any other
    reference stays for the parser (`&#150;` is CP1252's dash, as browsers read it)."""
    digits = (m.group(1) or m.group(2)).lstrip("0")
    if len(digits) > 8:  # (int() refuses a number of over 4,300 digits)
        return "\x00"
    code = int(digits or "0", 16 if m.group(1) else 10)
    if code < 0x20 and code not in (0x9, 0xA, 0xD) or code in (0xFFFE, 0xFFFF):
        return chr(code)
    if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        return "\x00"
    return m.group()


def _parse(html: str):
    """The page's tree, whole: a page nested past the parser's limit is parsed again with its nesting bounded
    (axk1/data/html_nesting.py), and fails as "too_deep" if the parser still stops (the rest was lost unsaid)."""
    import lxml.html

    for attempt in (html, bound_nesting(html)):
        # its own: error_log holds this parse's errors only. Comments and processing instructions are left out
        # of the tree: trafilatura takes one inside a paragraph for the paragraph's end, and dropped the rest of
        # the sentence ("Chapter 2</a><!-- ignore -->, you can declare..." kept only "Chapter 2").
        parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True)
        tree = lxml.html.document_fromstring(attempt, parser=parser)
        stopped = [e for e in parser.error_log if e.type_name == "ERR_RESOURCE_LIMIT"]
        if not stopped:
            return tree
    raise ExtractLimit(f"too_deep (nested past the HTML parser's limit of 255 open elements at line "
                       f"{stopped[0].line}, character {stopped[0].column})")


# Code a deadline must not raise into: an exception raised in a finaliser (a __del__, a weakref callback) is printed
# and dropped, and one raised while such an exception is being reported (sys.unraisablehook formatting it) breaks the
# report (pytest failed a test with "Failed to process unraisable exception"). The next tick, 50 ms on, lands elsewhere.
_FINALISER_NAMES = {"__del__", "unraisablehook", "_unraisablehook"}
_FINALISER_FILES = ("weakref.py", "traceback.py", "linecache.py", "unraisableexception.py")


def _finalising(frame) -> bool:
    """Whether the interrupted code is a finaliser or the report of an exception dropped there."""
    for _ in range(64):
        if frame is None:
            return False
        code = frame.f_code
        if code.co_name in _FINALISER_NAMES or code.co_filename.endswith(_FINALISER_FILES):
            return True
        frame = frame.f_back
    return False


@contextmanager
def _deadline(seconds: float):
    """Raises _Overtime in the block after `seconds`, where a timer can (on the main thread). A timer the process
    has running already (pytest-timeout's, say) is put back afterwards with the time it has left, or left alone
    if it fires first."""
    outer, interval = signal.getitimer(signal.ITIMER_REAL) if hasattr(signal, "setitimer") else (0.0, 0.0)
    if not seconds or threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "setitimer") or 0 < outer <= seconds:
        yield
        return

    armed = True

    def overtime(signum, frame):
        if armed and not _finalising(frame):
            raise _Overtime()

    before = signal.signal(signal.SIGALRM, overtime)
    start = time.monotonic()
    # and again every 50 ms past the deadline: a signal that lands in a garbage-collection callback (a weakref
    # finaliser, a __del__) raises there, and Python prints that exception and drops it (seen: the page ran to its end)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        yield
    finally:
        while True:  # a last tick may land while the timer is being stopped
            try:
                armed = False
                signal.setitimer(signal.ITIMER_REAL, 0)
                break
            except _Overtime:
                pass
        signal.signal(signal.SIGALRM, before)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 1e-3), interval)


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
