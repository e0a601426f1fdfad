"""Near-copies of a page at other URLs (`?print=1`, `?utm_source=rss`, `index.html`, a view counter apart) vote
once in site boilerplate removal (axk1/data/site_near_copies.py): voting apart, a page served at three more URLs
had every line "on four pages of the site" and lost its whole article as template. Copies are compared with
their numbers masked (counters, times), so that a page of one or two lines is a copy too. Thin pages, a site
template and a line of their own, and articles sharing a section's block beside a line or two of their own (short
headlines with a number among them) must not be grouped the same way, or the template (the block) stops being
found."""

import copy
import tracemalloc

import numpy as np
import pytest

from datatrove.data import Document

from axk1.data import site_near_copies
from axk1.data.site_boilerplate import SiteBoilerplate, SiteBoilerplateConfig, SiteLineCounter, SiteLineReducer
from tests.site_helpers import ARTICLES, extracted_docs

SITE = "news.example.kr"
MENU, FOOTER = "홈 | 정치 | 경제 | 사회 | 문화", "한빛일보 | 개인정보처리방침 | 무단전재 및 재배포 금지"
STORY = [line for article in ARTICLES for line in article]  # 12 lines of the story's own
VARIANTS = ["?print=1", "?utm_source=rss", "/index.html"]
SHARED = "관련 기사: 도서관 운영 시간 연장 논란"  # on the story and on one other post
SECTIONS = ["경제", "부동산", "증시"]
REPORTERS = ["김민수", "이서연", "박지훈", "최수아", "정우진", "강하은", "윤도현"]  # one for each article of a section


def _doc(i, url, lines) -> Document:
    return Document(text="\n".join([MENU, *lines, FOOTER]), id=str(i), metadata={"url": url, "host": SITE})


def _boilerplate(tmp_path, docs, cfg=None) -> SiteBoilerplate:
    list(SiteLineCounter(str(tmp_path / "lines")).run(iter(docs), rank=0, world_size=1))
    list(SiteLineReducer(str(tmp_path / "lines"), str(tmp_path / "bp"), cfg or SiteBoilerplateConfig()).run(None, 0, 1))
    return SiteBoilerplate(str(tmp_path / "bp"))


@pytest.mark.parametrize("extra_urls", [1, 3])
def test_a_page_at_more_urls_keeps_its_text_and_loses_the_template(tmp_path, extra_urls):
    """Six posts and a story also served at 1 or 3 more URLs, each copy with its own view count. With 3 more, the
    story's lines were on 4 of 10 pages (>= min_pages 3, >= 20%) and went; with 1 more, the line it shares with one
    post was on 3 of 8. Each copy keeps the story (boilerplate removal edits each page; the copies are left to
    the dedup stage), the menu and footer still go from every page."""
    url = f"https://{SITE}/story/1"
    posts = [_doc(f"post-{i}", f"https://{SITE}/post/{i}", [f"{i}번째 소식: {ARTICLES[i % 4][i % 3]}"]
                  + ([SHARED] if i == 0 else [])) for i in range(6)]
    stories = [_doc(f"story-{k}", url + ("" if k == 0 else VARIANTS[k - 1]), [*STORY, SHARED, f"조회수 {1000 + k}"])
               for k in range(1 + extra_urls)]
    docs = posts + stories
    step = _boilerplate(tmp_path, docs)
    for doc in docs:
        assert step.filter(doc) is True
        assert MENU not in doc.text and FOOTER not in doc.text, doc.text
        assert doc.metadata["site_boilerplate_lines"] == 2, doc.text
    for doc in stories:
        assert doc.text.split("\n")[:-1] == [*STORY, SHARED], doc.text
    assert SHARED in posts[0].text



def _assert_each_page_keeps_its_own_lines(tmp_path, pages) -> None:
    """`pages`: (the lines a page keeps, its document); the site's 42 shared lines (menu, footer, section block)
    removed from each, every page kept."""
    step = _boilerplate(tmp_path, [doc for _, doc in pages])
    for own, doc in pages:
        assert step.filter(doc) is True
        assert doc.text.split("\n") == own, doc.text
        assert doc.metadata["site_boilerplate_lines"] == 42

def test_a_real_page_at_three_more_urls_keeps_every_line_it_kept_alone(tmp_path):
    """The longest fixture page (extracted from the real HTML) that loses its site's template, served at three more
    URLs with a view counter: it keeps every line it keeps when served once, and loses the lines it lost then."""
    docs = extracted_docs()
    alone = [copy.deepcopy(d) for d in docs]
    step = _boilerplate(tmp_path / "alone", alone)
    cut = [d for d in alone if step.filter(d) is True and d.metadata.get("site_boilerplate_lines")]
    assert cut, "the fixture no longer has site template to remove"
    page = max(cut, key=lambda d: len(d.text.split("\n")))
    original = next(d for d in docs if d.id == page.id)
    served = [copy.deepcopy(d) for d in docs]
    target = next(d for d in served if d.id == page.id)
    target.text += "\nViews: 1000"
    for k, variant in enumerate(VARIANTS):
        served.append(Document(text=original.text + f"\nViews: {1001 + k}", id=f"{page.id}-{k}",
                               metadata={"url": original.metadata["url"] + variant,
                                         "host": original.metadata["host"]}))
    assert _boilerplate(tmp_path / "served", served).filter(target) is True
    assert target.text.split("\n") == [*page.text.split("\n"), "Views: 1000"]
    assert target.metadata["site_boilerplate_lines"] == page.metadata["site_boilerplate_lines"]


def test_thin_pages_still_lose_the_site_template(tmp_path):
    """Ten pages of twelve template lines and one line of their own are 0.86 alike over all their lines: grouped
    by that, they were one voter and the template, on "one page", stayed. Compared on the lines that are not the
    site's template, each has one line of its own and joins nothing."""
    template = [f"메뉴 {j}: 게시판 {j}번 바로가기" for j in range(12)]
    pages = [Document(text="\n".join([*template[:6], f"{i}번 공지: {ARTICLES[i % 4][i % 3]}", *template[6:]]),
                      id=str(i), metadata={"url": f"https://{SITE}/notice/{i}", "host": SITE}) for i in range(10)]
    step = _boilerplate(tmp_path, pages)
    for i, doc in enumerate(pages):
        assert step.filter(doc) is True
        assert doc.text == f"{i}번 공지: {ARTICLES[i % 4][i % 3]}"


def test_pages_alike_are_grouped_within_their_site_only():
    """Pages at Jaccard 0.9 in their own lines are one group, not with the same lines on another site; a page
    without lines to compare has no signature and joins nothing, and pages of two lines each are one group only
    when they are the same two."""
    assert site_near_copies.signature([]) is None
    assert site_near_copies.signature([11, 12]) == site_near_copies.signature([12, 11])
    assert site_near_copies.signature([11, 12]) != site_near_copies.signature([11, 13])
    a, b = site_near_copies.signature(range(1, 21)), site_near_copies.signature(range(2, 22))
    assert a is not None and len(a) == 4 * site_near_copies.HASHES
    groups = site_near_copies.NearCopies()
    groups.add("s", ("s", "a"), a)
    groups.add("s", ("s", "b"), b)
    groups.add("t", ("t", "a"), a)  # another site: never joined to this one's pages
    groups.group()
    assert groups.find(("s", "a")) == groups.find(("s", "b")) != groups.find(("t", "a"))


def test_section_pages_sharing_a_block_lose_it_and_keep_their_own_lines(tmp_path):
    """Three sections of seven articles, each article four lines of its own and its section's 40-line "Most read"
    block (on a third of the site's pages, so under the template's half): the articles of a section were 0.83
    alike on their own lines and became one voter, so each block was "on one page" and stayed as text. Four lines
    on no other page make an article no copy: each votes alone and the blocks go with the menu and footer."""
    pages = []
    for s in range(3):
        block = [f"{s}면 많이 본 뉴스 {k}: {ARTICLES[k % 4][k % 3]} ({s * 100 + k})" for k in range(40)]
        for p in range(7):
            own = [f"{s}-{p}번 기사 {j}문단: {ARTICLES[(p + j) % 4][j % 3]} ({s * 1000 + p * 10 + j})" for j in range(4)]
            pages.append((own, _doc(f"{s}-{p}", f"https://{SITE}/s{s}/a{p}", [*own, *block])))
    _assert_each_page_keeps_its_own_lines(tmp_path, pages)


def test_a_signature_is_folded_in_chunks(monkeypatch):
    """A page's signature is the same folded a few lines at a time as at once, and a page of 200k distinct lines
    no longer holds a 200k x 64 array of products (100 MB) while it is made."""
    lines = list(range(1, 1001))
    whole = site_near_copies.signature(lines)
    monkeypatch.setattr(site_near_copies, "CHUNK", 7)
    assert site_near_copies.signature(lines) == whole
    monkeypatch.undo()
    tracemalloc.start()
    try:
        site_near_copies.signature(range(200_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, peak


@pytest.mark.parametrize("counters", [
    lambda k: [f"조회수 {1234 + 17 * k}"],
    lambda k: [f"views: {1234 + 1017 * k:,}"],
    lambda k: [f"입력 2024.03.05 14:{10 + k:02d} | 수정 2024.03.0{6 + k}", f"댓글 {3 + k}"],
], ids=["views-ko", "views-en", "time-and-comments"])
@pytest.mark.parametrize("n_own", [1, 2])
def test_copies_of_a_short_page_keep_its_lines_whatever_their_counters_say(tmp_path, n_own, counters):
    """A notice of one or two lines served at four URLs, each copy with its own counter or time stamp: compared
    with their counters, two copies were 0.33 or 0.5 alike and voted apart, so the notice's lines were "on four of
    ten pages" and went as template, leaving each copy its counter. Counters aside, the copies are the same page
    and vote once; the posts, each with a line of its own, vote alone, and the menu and footer still go."""
    own = [ARTICLES[0][0], ARTICLES[1][0]][:n_own]
    posts = [_doc(f"post-{i}", f"https://{SITE}/post/{i}", [f"{i}번째 소식: {ARTICLES[i % 4][i % 3]}"])
             for i in range(6)]
    url = f"https://{SITE}/notice/7"
    copies = [_doc(f"copy-{k}", url + ("" if k == 0 else VARIANTS[k - 1]), [*own, *counters(k)]) for k in range(4)]
    step = _boilerplate(tmp_path, posts + copies)
    for k, doc in enumerate(copies):
        assert step.filter(doc) is True
        assert doc.text.split("\n") == [*own, *counters(k)], doc.text
        assert doc.metadata["site_boilerplate_lines"] == 2
    for doc in posts:
        assert step.filter(doc) is True and MENU not in doc.text and FOOTER not in doc.text


@pytest.mark.parametrize("n_own,counter", [(1, True), (2, False), (2, True)])
def test_articles_of_few_lines_lose_their_sections_block_and_their_copies_keep_them(tmp_path, n_own, counter):
    """Three sections of seven articles, each article one or two lines of its own (and perhaps a view counter)
    beside its section's 40-line "Most read" block, the first article of each also served at three more URLs
    with its counter changed. With at most two lines found on no other page (the counter one of them), the
    articles of a section were 0.9 alike and one voter, and the block stayed on every page as text. Each article
    has a line of its own, so it is no copy: the block goes, the article's lines stay, and the copies of the
    first article, the same but for the counter, vote once and keep its lines."""
    pages = []
    for s in range(3):
        block = [f"{s}면 많이 본 뉴스 {k}: {ARTICLES[k % 4][k % 3]} ({s * 100 + k})" for k in range(40)]
        for p in range(7):
            # each article's own text (not its numbers alone: lines that differ by their numbers only are one line
            # to the comparison, as a counter is)
            own = [f"[{SECTIONS[s]}] {REPORTERS[p]} 기자: {ARTICLES[(p + j) % 4][j % 3]}" for j in range(n_own)]
            url = f"https://{SITE}/s{s}/a{p}"
            for k in range(4 if p == 0 else 1):
                views = [f"조회수 {s * 1000 + p * 10 + k}"] if counter else []
                doc = _doc(f"{s}-{p}-{k}", url + ("" if k == 0 else VARIANTS[k - 1]), [*own, *block, *views])
                pages.append(([*own, *views], doc))
    _assert_each_page_keeps_its_own_lines(tmp_path, pages)


def test_short_real_pages_at_three_more_urls_keep_every_line_they_kept_alone(tmp_path):
    """The fixture pages (extracted from the real HTML) with at most six lines of text left once their site's
    template is cut, each served in turn at three more URLs with a view counter (the other pages once): compared
    with their counters, the copies of six of them (three to six lines of their own) were under 0.8 alike, voted
    apart, and lost every line of their own as template. Each keeps what it keeps served once."""
    docs = extracted_docs()
    alone = [copy.deepcopy(d) for d in docs]
    step = _boilerplate(tmp_path / "alone", alone)
    short = [d for d in alone if step.filter(d) is True
             and sum(any(ch.isalnum() for ch in line) for line in d.text.split("\n")) <= 6]
    assert len(short) >= 6, "the fixture no longer has short pages"
    for page in short:
        served = [copy.deepcopy(d) for d in docs if d.id != page.id]
        original = next(d for d in docs if d.id == page.id)
        for k, variant in enumerate(["", *VARIANTS]):
            served.append(Document(text=original.text + f"\nViews: {1000 + 37 * k}", id=f"{page.id}-{k}",
                                   metadata={"url": original.metadata["url"] + variant,
                                             "host": original.metadata["host"]}))
        target = served[-4]
        assert _boilerplate(tmp_path / page.id, served).filter(target) is True
        assert target.text.split("\n") == [*page.text.split("\n"), "Views: 1000"], page.id


HEADLINES = ["코스피 {n}선 회복", "서울 아파트값 {n}주 연속 상승", "정부, {n}일 부동산 대책 발표",
             "삼성전자 {n}분기 영업이익 급증", "수도권 {n}만 가구 공급", "기준금리 {n}% 동결", "{n}월 수출 두 자릿수 증가"]
# seven headlines of each section, each a number and at most four words without one
SECTION_HEADLINES = [HEADLINES,
                     ["강남 집값 {n}주 만에 하락", "전셋값 {n}개월 연속 오름세", "{n}월 분양 물량 급감", "재건축 {n}곳 승인",
                      "주택담보대출 {n}조 증가", "청약 경쟁률 {n}대 1", "미분양 {n}만 가구 돌파"],
                     ["코스닥 {n}선 붕괴", "외국인 {n}일째 순매수", "원·달러 환율 {n}원 돌파", "반도체주 {n}% 급등",
                      "공모주 {n}곳 상장", "개인 {n}조 순매도", "{n}월 선물 만기"]]


@pytest.mark.parametrize("form", ["same-headlines-numbered-block", "own-headlines-text-block"])
def test_briefs_of_short_numbered_lines_lose_their_sections_block(tmp_path, form):
    """Three sections of seven news briefs, each a short headline with a number, an input time and a photo
    credit, beside its section's 40-line "Most read" block (a third of the site's pages). Every line of a brief
    was a "stamp" (a number and at most 4 words without one) and left out of the comparison, so the briefs of a
    section were one voter, its block "on one page", and all 21 kept their 40 block lines as text. With numbers
    masked a headline is still a line: the briefs vote apart (or, same headline with another number in another
    section, a voter across sections), the blocks go with the menu and footer, and each brief keeps its lines.
    In the reviewer's form every section has the same seven headlines and its block differs by numbers alone; in
    the other, each section has headlines of its own and its block is article text."""
    pages = []
    for s in range(3):
        if form == "same-headlines-numbered-block":
            block = [f"많이 본 뉴스 {s}면 {k}위: 기사 제목 {s * 100 + k}번 입니다 여기" for k in range(40)]
        else:
            block = [f"{k + 1}위 {ARTICLES[k % 4][k // 4 % 3]} ({SECTIONS[s]} {k // 12 + 1})" for k in range(40)]
        headlines = HEADLINES if form == "same-headlines-numbered-block" else SECTION_HEADLINES[s]
        for p in range(7):
            own = [headlines[p].format(n=10 * s + p + 2), f"입력 2024.03.0{p + 1} 14:2{s}", f"사진=연합뉴스 {s}{p}"]
            pages.append((own, _doc(f"{s}-{p}", f"https://{SITE}/s{s}/a{p}", [*own, *block])))
    _assert_each_page_keeps_its_own_lines(tmp_path, pages)


def test_numbers_are_masked_and_words_kept():
    """What a copy changes reads the same masked (a counter of three digits or four, a time), while a short
    headline with a number stays a line of its own page, told from another headline by its words."""
    mask = site_near_copies.mask_numbers
    assert mask("조회수 1234") == mask("조회수 987") == mask("조회수 1,301") == "조회수 0"
    assert mask("Views: 1,234 · Comments 5") == mask("Views: 98 · Comments 12")
    assert mask("입력 2024.03.05 14:20 | 수정 2024.03.06 09:10") == mask("입력 2023-12-31 9:05 | 수정 2024/01/02 10:00")
    assert mask("서울 아파트값 3주 연속 상승") == "서울 아파트값 0주 연속 상승"
    assert mask("기준금리 3.5% 동결") == mask("기준금리 3% 동결") == "기준금리 0% 동결"
    headlines = [mask(h.format(n=3)) for section in SECTION_HEADLINES for h in section]
    assert len(set(headlines)) == 21
    assert mask("관련 기사: 도서관 운영 시간 연장 논란") == "관련 기사: 도서관 운영 시간 연장 논란"


SHOP = ["장바구니에 담기", "오늘 주문하시면 내일 도착합니다", "상품 문의는 고객센터로 연락 주세요",
        "반품 및 교환은 수령 후 일주일 이내 가능합니다", "구매 후기를 남기고 적립금을 받으세요"]


def _product(model: int) -> list[str]:
    """A product page's own lines: alike to its family's but for the model, in three lines."""
    return [f"NVIDIA GeForce RTX {model} Founders Edition 그래픽카드 상세 정보",
            f"RTX {model}는 최신 아키텍처를 바탕으로 한 고성능 그래픽카드입니다 모델 {model}",
            f"권장 파워 서플라이 용량은 {model // 5}W 이상입니다"]


def _articles(n: int, shared_on: int = 0) -> list[Document]:
    """`n` articles of three lines of their own (the first `shared_on` also with SHARED)."""
    words = ["가을", "겨울", "봄날", "여름", "바다", "산길", "도시", "시골", "강변", "들판"]
    return [_doc(f"a{i}", f"https://{SITE}/news/{i}",
                 [f"기사 {w} 본문 첫 문장입니다 {w}{w}", f"{w}에 관한 두 번째 문장이 이어집니다", f"{w} 기자의 마지막 문장",
                  *([SHARED] if i < shared_on else [])])
            for i, w in enumerate(words[:n])]


def test_product_pages_apart_by_their_model_vote_apart(tmp_path):
    """Four product pages alike but for their model (RTX 4090/4080/4070/4060: three lines each) beside eight
    articles: masked, they were one page, one voter, and their five-line shop block, "on one page", stayed on
    each. Three lines apart unmasked, they are four pages; the block is on 4 of 12 and goes with the menu."""
    products = [_doc(f"p{m}", f"https://{SITE}/item/{m}", [*_product(m), *SHOP]) for m in (4090, 4080, 4070, 4060)]
    docs = products + _articles(8)
    step = _boilerplate(tmp_path, docs)
    for m, doc in zip((4090, 4080, 4070, 4060), products):
        assert step.filter(doc) is True
        assert doc.text.split("\n") == _product(m), doc.text
        assert doc.metadata["site_boilerplate_lines"] == 2 + len(SHOP)


def test_a_product_family_still_counts_its_pages_toward_min_share(tmp_path):
    """Nine product pages alike masked and ten articles, three of them with a related-articles line: the family as
    one voter left 11 voters, so the line was on 3 of 11 (>= min_share 0.2) and cut from the three articles. Nine
    voters of their own, the site has 19 and the line (3 of 19) stays."""
    products = [_doc(f"p{m}", f"https://{SITE}/item/{m}", [*_product(m), *SHOP]) for m in range(4000, 4090, 10)]
    articles = _articles(10, shared_on=3)
    step = _boilerplate(tmp_path, products + articles)
    for doc in articles[:3]:
        assert step.filter(doc) is True
        assert SHARED in doc.text.split("\n"), doc.text
        assert doc.metadata["site_boilerplate_lines"] == 2


def test_a_copy_meets_its_page_past_other_pages_of_its_family():
    """Pages alike masked fall in the same buckets: a copy of the second product (a counter apart) is compared
    with it, not only with the first product (three lines apart), and only the two copies are one page."""
    own = site_near_copies.signature([1, 2, 3])
    groups = site_near_copies.NearCopies()
    first, second, copy_of_second = ("s", "4090"), ("s", "4080"), ("s", "4080?print=1")
    groups.add("s", first, own, site_near_copies.stamp_signature([11, 12, 13, 14]))
    groups.add("s", second, own, site_near_copies.stamp_signature([21, 22, 23, 24]))
    groups.add("s", copy_of_second, own, site_near_copies.stamp_signature([21, 22, 23, 25]))
    groups.group()
    assert groups.find(second) == groups.find(copy_of_second) != groups.find(first)


def test_numbered_lines_of_copies_are_close_and_of_a_family_apart():
    """Stamp signatures: a page of a hundred numbered lines and its copy, one or two of them apart, are close
    (every draw of the lines' values: the estimate's noise refuses none); three or four lines of their own out of
    three to five are apart; pages of up to two numbered lines are close whatever they are."""
    stamps, close = site_near_copies.stamp_signature, site_near_copies.stamps_close
    rng = np.random.default_rng(5)
    for _ in range(40):
        page = [int(h) for h in rng.integers(0, 2**63, size=102)]  # line hashes are 64-bit xxhash values
        assert close(stamps(page[:100]), stamps(page[:99] + page[100:101]))
        assert close(stamps(page[:100]), stamps(page[:98] + page[100:]))
    assert not close(stamps([1, 2, 3]), stamps([4, 5, 6]))
    assert not close(stamps([1, 2, 3, 4, 9]), stamps([5, 6, 7, 8, 9]))
    assert close(stamps([1, 2, 3]), stamps([1, 2, 4]))
    assert close(stamps([1, 2]), stamps([3, 4])) and close(stamps([]), stamps([5]))
