"""Copies of one page on a site (a recrawl in each Common Crawl snapshot, a page saved twice as "기사 (2).html")
are one page to site-boilerplate removal: counted once per copy, every line of a page fetched three times was
"on three pages of the site" and the page lost all its text."""

import gzip
import io
import json

import pytest

from datatrove.data import Document

from axk1.data.site_boilerplate import SiteBoilerplate, SiteBoilerplateConfig, SiteLineCounter, SiteLineReducer
from axk1.data.stats import account, iter_records
from tests.data_helpers import run_warc_extract
from tests.site_helpers import ARTICLES

FOOTER = "한빛일보 | 개인정보처리방침 | 무단전재 및 재배포 금지"


def _page(lines) -> bytes:
    body = "".join(f"<p>{line}</p>" for line in lines)
    return (f'<html><head><meta charset="utf-8"><title>{lines[0][:10]}</title></head><body>'
            f'<article>{body}</article><p>{FOOTER}</p></body></html>').encode()


def test_a_page_in_three_snapshots_keeps_its_text(tmp_path):
    """Four articles of one site, each crawled in three monthly snapshots: the footer is on all four pages and
    goes; each article's lines are on one page (three copies) and stay."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    (tmp_path / "in").mkdir()
    for month in ("2024-01", "2024-02", "2024-03"):
        with open(tmp_path / "in" / f"CC-{month}.warc.gz", "wb") as fh:
            w = WARCWriter(fh, gzip=True)
            for i, lines in enumerate(ARTICLES):
                http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
                w.write_record(w.create_warc_record(f"https://news.example.kr/a/{i}", "response",
                                                    payload=io.BytesIO(_page(lines)), http_headers=http,
                                                    warc_headers_dict={"WARC-Date": f"{month}-15T00:00:00Z"}))
    assert run_warc_extract(tmp_path, "[filters.quality]\nmin_words = 5\n") == 0
    acc = account(tmp_path / "out")
    assert acc.balanced and acc.inputs == 12 and acc.kept == 12, (acc.excluded, acc.failed)
    for r in iter_records(tmp_path / "out" / "clean"):
        article = ARTICLES[int(r["metadata"]["url"].rsplit("/", 1)[1])]
        assert all(line in r["text"] for line in article), r["text"]
        assert FOOTER not in r["text"]
        assert r["metadata"]["site_boilerplate_lines"] == 1


def _docs(texts):
    return [Document(text=t, id=str(i), metadata={"url": f"https://b.kr/{i}", "host": "b.kr"})
            for i, t in enumerate(texts)]


def test_a_page_left_empty_is_excluded_with_the_text_it_had(tmp_path):
    """The exclusion shows what was removed, and a page cut short says how long it was (for one a later filter
    excludes)."""
    pages = _docs([f"메뉴\n저작권\n본문 {i}" for i in range(5)])
    list(SiteLineCounter(str(tmp_path / "lines")).run(iter(pages), rank=0, world_size=1))
    list(SiteLineReducer(str(tmp_path / "lines"), str(tmp_path / "bp"), SiteBoilerplateConfig()).run(None, 0, 1))
    step = SiteBoilerplate(str(tmp_path / "bp"))
    only, cut = _docs(["메뉴\n저작권", "메뉴\n본문 9"])
    assert step.filter(only) == (False, "site_boilerplate_only") and only.text == "메뉴\n저작권"
    assert step.filter(cut) is True and cut.text == "본문 9"
    assert cut.metadata["site_boilerplate_lines"] == 1 and cut.metadata["chars_before_site_boilerplate"] == 7


def test_counts_from_two_tasks_count_a_shared_page_once(tmp_path):
    """The same page read by two counting tasks (two snapshot files) is one page in the reducer."""
    same = _docs(["한 줄\n두 줄"] * 2)
    for rank, part in enumerate(([same[0]], [same[1]])):
        list(SiteLineCounter(str(tmp_path / "lines")).run(iter(part), rank=rank, world_size=1))
    list(SiteLineReducer(str(tmp_path / "lines"), str(tmp_path / "bp"),
                         SiteBoilerplateConfig(min_pages=2, min_share=0.2)).run(None, 0, 1))
    assert json.loads(gzip.decompress((tmp_path / "bp" / "00000.json.gz").read_bytes())) == {}


def _boilerplate(tmp_path, tasks, cfg=None):
    """The site boilerplate step after counting `tasks` (one list of documents a counting task)."""
    for rank, docs in enumerate(tasks):
        list(SiteLineCounter(str(tmp_path / "lines")).run(iter(docs), rank=rank, world_size=1))
    list(SiteLineReducer(str(tmp_path / "lines"), str(tmp_path / "bp"), cfg or SiteBoilerplateConfig()).run(None, 0, 1))
    return SiteBoilerplate(str(tmp_path / "bp"))


def _story(views: int, url: str = "https://blog.example.org/story") -> Document:
    text = "\n".join(["Home About", "The old bridge story", *ARTICLES[0], f"Viewed {views} times.",
                      "Copyright 2024 Village Blog."])
    return Document(text=text, id=f"story-{views}", metadata={"url": url, "host": "blog.example.org"})


def _posts(n: int) -> list[Document]:
    return [Document(text=f"Home About\nPost {i}\n{ARTICLES[1 + i % 3][i % 3]} ({i})\nCopyright 2024 Village Blog.",
                     id=f"post-{i}", metadata={"url": f"https://blog.example.org/post/{i}", "host": "blog.example.org"})
            for i in range(n)]


def test_recaptures_of_one_url_whose_text_changed_are_one_page(tmp_path):
    """One story captured in five snapshots, its view counter different each time, beside 20 posts: its lines were
    on "five pages" (5 >= min_pages 3, 5 >= 20% of 25) and the story lost its article as site template."""
    stories = [_story(v) for v in (120, 154, 203, 260, 311)]
    step = _boilerplate(tmp_path, [_posts(20) + stories])
    story = _story(400)
    assert step.filter(story) is True
    assert all(line in story.text for line in ARTICLES[0]), story.text
    assert "Copyright 2024 Village Blog." not in story.text and "Home About" not in story.text
    assert story.metadata["site_boilerplate_lines"] == 2


def test_recaptures_read_by_several_tasks_are_one_page(tmp_path):
    """The same URL in three snapshot files read by three tasks, its fragment aside, counts once in the reducer."""
    stories = [_story(120), _story(154, "https://blog.example.org/story#comments"), _story(203)]
    step = _boilerplate(tmp_path, [[s] for s in stories], SiteBoilerplateConfig(min_pages=2, min_share=0.2))
    story = _story(260)
    assert step.filter(story) is True and "site_boilerplate_lines" not in story.metadata


def test_one_text_under_two_urls_in_two_tasks_is_one_page(tmp_path):
    """The same text at a second URL, read by another task, joins the first page: a line on it and on one other
    page is on two pages, under min_pages = 3 (counted per URL alone, the copy made it three). Distinct URLs still
    vote: the footer, on the three posts, goes."""
    posts = _posts(3)
    posts[0].text += "\nA line two posts share"
    posts[1].text += "\nA line two posts share"
    copy = Document(text=posts[0].text, id="copy", metadata={"url": "https://blog.example.org/?p=0",
                                                             "host": "blog.example.org"})
    step = _boilerplate(tmp_path, [posts, [copy]], SiteBoilerplateConfig(min_pages=3, min_share=0.5))
    doc = Document(text=posts[0].text, id="again", metadata=dict(posts[0].metadata))
    assert step.filter(doc) is True
    assert "A line two posts share" in doc.text
    assert "Copyright 2024 Village Blog." not in doc.text


@pytest.mark.parametrize("record", [[1, 2, 3], {"texts": ["9"], "lines": [1, 2, 3]},
                                    {"texts": ["9"], "lines": [1, 2, 3], "stamps": [3]}])
def test_counts_of_an_older_form_are_refused_with_what_to_do(tmp_path, record):
    """Counts written before pages had their lines with numbers masked listed would compare copies with their
    counters (or without their short numbered lines, the "stamps" of one older form): refused, with what to do."""
    folder = tmp_path / "lines" / "00000"
    folder.mkdir(parents=True)
    with gzip.open(folder / "00000.json.gz", "wt") as f:
        json.dump({"b.kr": {"pages": {"123": record}}}, f)
    with pytest.raises(ValueError, match=r"not in this version's form .*axk1 data run --force"):
        list(SiteLineReducer(str(tmp_path / "lines"), str(tmp_path / "bp"), SiteBoilerplateConfig()).run(None, 0, 1))
