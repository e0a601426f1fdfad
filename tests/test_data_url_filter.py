"""The URL filter (axk1/data/url_filter.py): block and allow lists in the forms they are published (hosts files,
wildcards, ports, Korean domains), and the pages it removes written with their personal data scrubbed, as every
other excluded page is."""

import gzip

import pytest
from datatrove.data import Document

from axk1.data.config import config_from_dict
from axk1.data.stats import account, iter_records
from axk1.data.url_filter import UrlFilter, UrlFilterConfig


def test_url_block_list_and_allow_list(tmp_path):
    (tmp_path / "block.txt").write_text("# adult and malware\nbad.example\nwww.debian.org/ads/\n\n", encoding="utf-8")
    f = UrlFilter(UrlFilterConfig(block_list=str(tmp_path / "block.txt")))

    def doc(url):
        return Document(text="x", id=url, metadata={"url": url} if url else {})
    assert f.filter(doc("https://cdn.bad.example/a.html")) == (False, "url_blocked")
    assert f.filter(doc("http://www.debian.org/ads/x.html")) == (False, "url_blocked")
    assert f.filter(doc("https://www.debian.org/doc/")) is True
    assert f.filter(doc("https://notbad.example/")) is True  # a suffix of the name is not the domain
    assert f.filter(doc(None)) is True  # non-web documents pass
    allow = UrlFilter(UrlFilterConfig(allow_domains=["debian.org"]))
    assert allow.filter(doc("https://www.debian.org/x")) is True
    assert allow.filter(doc("https://docs.gimp.org/x")) == (False, "domain_not_allowed")
    with pytest.raises(FileNotFoundError, match="block_list"):
        UrlFilter(UrlFilterConfig(block_list=str(tmp_path / "missing.txt")))


def test_block_lists_in_the_forms_they_are_published_and_korean_domains(tmp_path):
    # hosts-file lines, wildcards, ports and IDNs were kept as written and silently matched nothing
    (tmp_path / "block.txt").write_text(
        "0.0.0.0 hosts.example  # StevenBlack-style\n*.wild.example\n.dot.example\nport.example:8080\n"
        "도박.kr\nxn--or3bn7q.kr/ads/\n", encoding="utf-8")
    f = UrlFilter(UrlFilterConfig(block_list=str(tmp_path / "block.txt")))

    def doc(url):
        return Document(text="x", id=url, metadata={"url": url})
    for url in ["https://www.hosts.example/", "https://a.wild.example/", "https://wild.example/",
                "https://dot.example/", "https://port.example/x", "https://xn--hq1bt1n.kr/", "https://www.도박.kr/",
                "https://정부.kr/ads/1"]:
        assert f.filter(doc(url)) == (False, "url_blocked"), url
    for url in ["https://example/", "https://정부.kr/news", "https://notwild.example/"]:
        assert f.filter(doc(url)) is True, url
    assert f.filter(doc("http://[bad/x")) == (False, "url_invalid")  # raised ValueError in the task
    allow = UrlFilter(UrlFilterConfig(allow_domains=["정부.kr", "*.go.kr"]))
    assert allow.filter(doc("https://xn--or3bn7q.kr/")) is True and allow.filter(doc("https://www.mois.go.kr/")) is True
    (tmp_path / "typo.txt").write_text("good.example\nnot a domain\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: 'not a domain' is not a domain"):
        UrlFilter(UrlFilterConfig(block_list=str(tmp_path / "typo.txt")))


def test_allow_domains_are_read_as_block_list_entries_are():
    """`allow_domains = ["https://www.korea.kr"]` kept the entry as written: its port rsplit made it the host
    "https", and "korea.kr/" matched no host, so every page was excluded as domain_not_allowed. Entries are read as
    block-list lines are (scheme, port, wildcard and trailing slash dropped); a path is refused, naming the entry."""
    def doc(url):
        return Document(text="x", id=url, metadata={"url": url})
    for entry in ("https://www.korea.kr", "http://WWW.korea.kr:8080/", "www.korea.kr/", "*.www.korea.kr"):
        allow = UrlFilter(UrlFilterConfig(allow_domains=[entry]))
        assert allow.allowed == {"www.korea.kr"}, entry
        assert allow.filter(doc("https://www.korea.kr/news/1")) is True, entry
        assert allow.filter(doc("https://gov.kr/")) == (False, "domain_not_allowed"), entry
    with pytest.raises(ValueError, match="allow_domains entry 'https://korea.kr/news' names a path.*write 'korea.kr'"):
        config_from_dict({"run": {"output_dir": "out"}, "sources": [{"type": "text", "path": ".", "name": "t"}],
                          "filters": {"url": {"allow_domains": ["https://korea.kr/news"]}}})
    for bad in ("https://", "korea.kr gov.kr"):
        with pytest.raises(ValueError, match="is not a domain: give one host an entry"):
            UrlFilterConfig(allow_domains=[bad])


@pytest.mark.parametrize("site_boilerplate", [True, False])
def test_pages_the_url_filter_removes_are_written_scrubbed(tmp_path, site_boilerplate):
    """excluded/url/ kept phone numbers and registration numbers: the URL filter ran before the PII scrubber. With
    site boilerplate removal on (html sources), extracted/ and the line counts are written before the filters run."""
    from axk1.data.pipeline import run_pipeline

    pii = ("김민수 회원의 연락처는 010-1234-5678이고 주민등록번호는 900101-1234567입니다. 회비는 신한은행 "
           "110-123-456789로 보내 주세요.")
    for site in ("blocked", "open"):
        (tmp_path / site).mkdir()
        (tmp_path / site / "a.html").write_text(
            f"<html><head><meta charset='utf-8'><title>회원 명단</title></head><body><article><p>동아리 회원 명단입니다. "
            f"{pii} 이 명단은 회원들끼리만 공유해 주시기 바랍니다. 외부에 유출하지 마세요.</p></article></body></html>",
            encoding="utf-8")
    (tmp_path / "block.txt").write_text("blocked.example.com\n", encoding="utf-8")
    cfg = config_from_dict({
        "run": {"output_dir": str(tmp_path / "out"), "tasks": 1, "workers": 1, "stages": ["extract"]},
        "sources": [{"type": "html", "path": str(tmp_path / site), "name": site,
                     "base_url": f"https://{site}.example.com/"} for site in ("blocked", "open")],
        "filters": {"url": {"block_list": str(tmp_path / "block.txt")},
                    "site_boilerplate": {"enabled": site_boilerplate}},
    })
    run_pipeline(cfg, progress=False)
    assert account(cfg.out).excluded["url_blocked"] == 1
    blocked = list(iter_records(cfg.out / "excluded" / "url"))
    assert len(blocked) == 1 and "<PHONE>" in blocked[0]["text"] and "<RRN>" in blocked[0]["text"]
    written = [f for f in cfg.out.rglob("*.gz") if f.is_file()]
    assert any("extracted" in f.parts for f in written) == site_boilerplate
    for f in written:
        raw = gzip.decompress(f.read_bytes()).decode("utf-8")
        assert "010-1234-5678" not in raw and "900101-1234567" not in raw, f
