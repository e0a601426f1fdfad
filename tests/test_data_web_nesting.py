"""A page nested deeper than the HTML parser goes keeps its whole text. libxml2 stops parsing at the 256th level of
open elements and dropped the rest of the page without a word: 5,000 lines of `<div>abc<br>` (tags a page never
closes) gave 759 of its 15,000 characters. The expected text comes from resiliparse, whose parser (lexbor) has no
such limit and which nobody here wrote."""


import pytest
from resiliparse.extract.html2text import extract_plain_text

from axk1.data import html_nesting
from axk1.data.failure import Failure
from axk1.data.html_extract import WebConfig
from axk1.data.html_pages import page_document
from axk1.data.warc import WebPage


def _page(html: str):
    page = WebPage("https://ex.kr/board", "2024-05-01T00:00:00Z", "text/html; charset=utf-8", html.encode())
    return page_document(page, "crawl/c.warc.gz#0", {}, WebConfig(), "crawl", "c.warc.gz")


def _chars(text: str) -> str:
    return "".join(text.replace("|", "").split())  # (trafilatura writes a table's cells between "|")


@pytest.mark.parametrize("html", [
    "<html><body>" + "<div>abc<br>" * 1500 + "</body></html>",  # (5,000 of them take 3.7 s: justext's time)
    # an old Korean board: every line opens a <font> (and a <div>) it never closes, then the page's last words
    "<html><body><table><tr><td>" + "".join(f"<div><font color=#333>구청 민원 안내 {i}번 게시글입니다<br>\n"
                                            for i in range(1500)) + "</td></tr></table><p>문의: 민원실 02-120</p>",
])
def test_a_page_nested_past_the_parsers_limit_keeps_its_whole_text(html):
    doc = _page(html)
    assert not isinstance(doc, Failure), doc.reason
    assert _chars(doc.text) == _chars(extract_plain_text(html))


def test_a_page_whose_nesting_cannot_be_bounded_fails_as_too_deep(monkeypatch):
    # a bound over the parser's own: the parser stops again, and the page fails, naming why, instead of being cut
    monkeypatch.setattr(html_nesting, "MAX_DEPTH", 1000)
    doc = _page("<html><body>" + "<div>abc<br>" * 5000 + "</body></html>")
    assert isinstance(doc, Failure)
    assert doc.reason == ("too_deep (nested past the HTML parser's limit of 255 open elements at line 1, "
                          "character 2036) (https://ex.kr/board)")
