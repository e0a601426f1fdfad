"""An API's JSON (or a script) served as text/html, or saved under a .html name, is no page: it was kept as a
document of braces and quoted keys (a district office's article API, its Korean body inside JSON strings, passed
every filter). It fails as `not_html (json, served as text/html)`, as a PDF or an image under that label does;
real pages that start with whitespace, a byte-order mark, a comment, plain text or a template's braces stay pages."""

import io
import json

import pytest

from axk1.data.failure import Failure
from axk1.data.sniff import script_kind
from axk1.data.sources import SourceConfig, read_source_file
from axk1.data.warc import Skipped, read_warc

BODY = ("서울특별시 강남구는 겨울철 폭설에 대비하여 제설 대책을 마련하고 주민 여러분의 협조를 부탁드립니다. 눈이 내리면 "
        "내 집 앞의 눈은 직접 치워 주시기 바랍니다. 구청은 제설 차량 스무 대와 염화칼슘 삼천 톤을 확보하였습니다.")
ARTICLE = {"status": "ok", "article": {"id": 1234, "title": "겨울철 제설 대책 안내", "body": BODY, "tags": ["제설"]}}
JSON_PAYLOADS = {
    "json-utf8": json.dumps(ARTICLE, ensure_ascii=False).encode(),
    "json-escaped": json.dumps(ARTICLE).encode(),
    "json-pretty": b"\xef\xbb\xbf\n" + json.dumps(ARTICLE, ensure_ascii=False, indent=2).encode(),
    "json-list": json.dumps([ARTICLE, ARTICLE]).encode(),
}
# JSONP: a news site's comment API answering jQuery's callback, and Express's res.jsonp; an HTML fragment to insert
# rides inside the JSON
COMMENTS = {"result": {"total": 2, "html": "<ul class=\"cmt\"><li>좋은 기사 감사합니다.</li></ul>",
                       "list": [{"name": "김**", "text": "좋은 기사 감사합니다. 제설 차량이 빨리 와서 다행이었어요."},
                                {"name": "이**", "text": "우리 동네도 눈이 많이 왔는데 금방 치워 주셨습니다."}]}}
JSONP_PAYLOADS = {
    "jquery": f"jQuery112406354624148863745_1701234567890({json.dumps(COMMENTS, ensure_ascii=False)});".encode(),
    "express": f"/**/ typeof cb === 'function' && cb({json.dumps(COMMENTS)});".encode(),
    "dotted": f"\n  window.App.loaded({json.dumps([ARTICLE], ensure_ascii=False, indent=1)})\n".encode(),
}
PAGE = f"<html><head><title>제설</title></head><body><article><p>{BODY}</p><p>{BODY}</p></article></body></html>"
PAGES = {
    "plain": PAGE.encode(),
    "whitespace": b"\n\n   " + PAGE.encode(),
    "bom": b"\xef\xbb\xbf" + PAGE.encode(),
    "comment": b"<!-- generated -->\n" + PAGE.encode(),
    "text first": b"Notice: " + PAGE.encode(),
    "braces": ("{{ header }}" + PAGE).encode(),
    "brackets": ("[공지] " + PAGE).encode(),
    "script first": ("var x = 1;\n" + PAGE).encode(),
}


def _warc(path, payloads: dict) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for name, data in payloads.items():
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=UTF-8")], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(f"https://gu.example.kr/api/{name}", "response",
                                                payload=io.BytesIO(data), http_headers=http))


def test_json_served_as_text_html_fails_as_not_html(tmp_path):
    _warc(tmp_path / "api.warc.gz", JSON_PAYLOADS)
    got = list(read_warc(tmp_path / "api.warc.gz"))
    assert [type(g) for g in got] == [Skipped] * len(JSON_PAYLOADS)
    assert {g.reason for g in got} == {"not_html (json, served as text/html)"}


def test_pages_that_start_otherwise_stay_pages(tmp_path):
    _warc(tmp_path / "pages.warc.gz", PAGES)
    got = list(read_warc(tmp_path / "pages.warc.gz"))
    assert [g.url.rsplit("/", 1)[1] for g in got if isinstance(g, Skipped)] == []
    assert len(got) == len(PAGES)


def test_jsonp_served_as_text_html_fails_as_not_html(tmp_path):
    """Kept as a page before: a document of braces, quoted keys and the callback's name."""
    _warc(tmp_path / "jsonp.warc.gz", JSONP_PAYLOADS)
    got = list(read_warc(tmp_path / "jsonp.warc.gz"))
    assert [(type(g), g.reason) for g in got] == [(Skipped, "not_html (jsonp, served as text/html)")] * 3


def test_jsonp_saved_as_a_html_file_fails(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "comments.html").write_bytes(JSONP_PAYLOADS["jquery"])
    spec = SourceConfig(name="pages", type="html", path=str(tmp_path / "pages"))
    [api] = read_source_file(spec, tmp_path / "pages" / "comments.html")
    assert isinstance(api, Failure) and api.reason == "not_html (jsonp, in a file named .html)"


def test_json_saved_as_a_html_file_fails_and_a_page_does_not(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "api.html").write_bytes(JSON_PAYLOADS["json-utf8"])
    (tmp_path / "pages" / "page.html").write_bytes(PAGES["bom"])
    spec = SourceConfig(name="pages", type="html", path=str(tmp_path / "pages"))
    [api] = read_source_file(spec, tmp_path / "pages" / "api.html")
    [page] = read_source_file(spec, tmp_path / "pages" / "page.html")
    assert isinstance(api, Failure) and api.reason == "not_html (json, in a file named .html)"
    assert not isinstance(page, Failure) and "제설 차량" in page.text


@pytest.mark.parametrize("payload, kind", [
    (b"var config = {debug: false};\nfunction start() { return 1; }", "javascript"),
    (b"/*! bundle */ (function(){ window.x = 1; })();", "javascript"),
    (b'"use strict";\nexport const a = 1;', "javascript"),
    (b'(function(){ document.write("<div>x</div>"); })();', ""),  # HTML inside: left to the extractor
    (b'{"unclosed": ', ""),
    (b'"just a string"', ""),
    ('{"제목": "한국"}'.encode("cp949"), ""),  # not UTF-8: no JSON a browser would read as such
    # prose that starts with a script's word, over HTML5 tags the old list of tag names did not know
    (b"function of a manager: planning <section><article>text</article></section>", ""),
    (b"function of a manager: planning, organising and leading.", ""),
    (b"// Notes from the meeting\nWe agreed on the plan.", ""),
    (b"let us begin with the history of the city.", ""),
    (b"import duties rose in 2023 across the region.", ""),
    (b"const note = 1;\n<main><em>x</em><pre>y</pre><img src=a.png></main>", ""),  # HTML5 tags: markup
    # scripts still known, comments before their first statement skipped
    (b"// bundle\n/* licence */\nfunction start(a) { return a < 2; }", "javascript"),
    (b"async function load() { await fetch(u); }", "javascript"),
    (b'import { a } from "./a.js";\nconsole.log(a);', "javascript"),
    (b"let x;\nx = 2;", "javascript"),
    # JSONP: a callback called on JSON and nothing more; prose with a word before a parenthesis is none
    (b'cb({"a": 1})', "jsonp"),
    (b'/* api */ cb([1, 2]);\n', "jsonp"),
    (b'cb({"a": 1}); alert(1)', ""),  # more than the call: not JSONP, and "cb(" is no script's first word
    (b"Note(see below): the meeting moved to Tuesday.", ""),
    (b"Figure(1)", ""),  # a number is no JSON object or array
    (b'Items([1, 2]) were sold out.', ""),
    (b'cb({"unclosed": 1);', ""),
])
def test_script_kind(payload, kind):
    assert script_kind(payload) == kind
