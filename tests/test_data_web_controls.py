"""A page whose text holds one control character (ESC from pasted terminal colours, a backspace, a reference such as
`&#8;` or `&#xFFFE;`) keeps its text: lxml kept the character in its tree, trafilatura then found no text at all,
and the page failed as `no_main_text (0 characters)`. The characters are removed before parsing (strip_controls,
as for text sources) and counted in `control_chars_removed`."""

import io

import pytest

from axk1.data.html_extract import extract_main_text
from axk1.data.sources import SourceConfig, read_source_file

BODY = "".join(f"<p>Paragraph {i}: the build server printed its log and the maintainers discussed why the nightly "
               "job failed on the arm64 runners again this week.</p>" for i in range(8))


def _page(body: str = BODY) -> str:
    return f"<html><head><title>ci</title></head><body><article>{body}</article></body></html>"


@pytest.mark.parametrize("inserted", ["\x1b[32m", "\x01", "\x08", "\x00", "\ufffe", "\uffff", "&#8;", "&#x1;",
                                      "&#0;", "&#xFFFE;", "&#65535;", "&#xD800;", "&#x110000;", "&#x0000000000001;"])
def test_one_control_character_no_longer_loses_the_page(inserted):
    clean = extract_main_text(_page()).text
    got = extract_main_text(_page(BODY.replace("log", inserted + "log", 1)))
    assert len(clean) > 1000
    assert got.text.replace("[32m", "") == clean  # (ESC's printable rest stays, as it does in a browser)
    assert got.controls_removed == 1


def test_references_to_characters_are_still_read():
    got = extract_main_text(_page(BODY.replace("log", "&#150;&#x2014;&#9;&#54620;log", 1)))
    assert "printed its –— 한log" in got.text  # (trafilatura makes the tab a space)
    assert got.controls_removed == 0


def test_an_html_source_page_keeps_its_text_and_says_what_was_removed(tmp_path):
    body = BODY.replace("log", "\x1b[32mlog\x1b[0m", 1).replace("job", "j&#8;ob", 1)
    (tmp_path / "esc.html").write_text(_page(body))
    spec = SourceConfig(name="pages", type="html", path=str(tmp_path))
    [doc] = list(read_source_file(spec, tmp_path / "esc.html"))
    assert "Paragraph 7" in doc.text and "nightly job" in doc.text
    assert doc.metadata["control_chars_removed"] == 3


def test_a_warc_page_keeps_its_text(tmp_path):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(tmp_path / "c.warc.gz", "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for name, body in [("clean", BODY), ("esc", BODY.replace("log", "\x1b[32mlog\x1b[0m", 1))]:
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(f"https://ci.example.com/{name}", "response",
                                                          payload=io.BytesIO(_page(body).encode()),
                                                          http_headers=http))
    spec = SourceConfig(name="crawl", type="warc", path=str(tmp_path))
    docs = list(read_source_file(spec, tmp_path / "c.warc.gz"))
    assert [d.metadata.get("url") for d in docs] == ["https://ci.example.com/clean", "https://ci.example.com/esc"]
    assert "Paragraph 7" in docs[1].text and docs[1].metadata["control_chars_removed"] == 2
