"""Site pages shared by the site-boilerplate tests: the real help pages of tests/fixtures/web (three sites) as the
crawl saw them, their extracted main text as documents, and short Korean news articles for generated sites."""

from pathlib import Path

from datatrove.data import Document

from axk1.data.html_extract import extract_main_text
from axk1.data.warc import WebPage

FIXTURES = Path(__file__).parent / "fixtures" / "web"
PAGES = sorted((FIXTURES / "pages").glob("*.html"))
SITES = {"faq": "www.debian.org", "gimp": "docs.gimp.org", "lo": "help.libreoffice.org"}


def crawl_page(page: Path, content_type: str = "text/html; charset=UTF-8") -> WebPage:
    site = SITES[page.stem.split("-")[1]]
    return WebPage(f"https://{site}/{page.stem[:2]}/{page.name}", "2025-03-01T12:00:00Z", content_type,
                   page.read_bytes())


def extracted_docs() -> list[Document]:
    """Each fixture page's extracted main text, with its URL and host."""
    docs = []
    for page in PAGES:
        p = crawl_page(page)
        text = extract_main_text(page.read_text(encoding="utf-8"), p.url).text
        docs.append(Document(text=text, id=page.stem, metadata={"url": p.url, "host": p.url.split("/")[2]}))
    return docs


ARTICLES = [
    ["서울시는 내년부터 모든 공공도서관의 운영 시간을 밤 10시까지 연장한다고 5일 밝혔다.",
     "시는 직장인과 학생들의 이용 편의를 높이기 위해 이번 결정을 내렸으며 예산은 약 120억 원으로 추산된다.",
     "도서관 관계자는 야간 이용자가 꾸준히 늘고 있어 연장 운영의 효과가 클 것이라고 말했다."],
    ["부산시는 해운대 해수욕장의 개장 기간을 다음 달 1일부터 9월 말까지로 늘린다고 밝혔다.",
     "시는 피서객이 몰리는 주말에는 안전요원을 두 배로 배치하고 야간 순찰도 강화할 계획이다.",
     "상인들은 개장 기간이 늘어나면 지역 경제에 도움이 될 것이라며 반가운 마음을 전했다."],
    ["대구의 한 초등학교는 올해부터 학생들이 직접 기른 채소로 급식을 만드는 수업을 시작했다.",
     "학생들은 학교 텃밭에서 상추와 고추를 길러 매주 한 번씩 급식 재료로 사용하고 있다.",
     "교장은 아이들이 먹을거리의 소중함을 몸으로 배우는 좋은 기회가 되고 있다고 설명했다."],
    ["광주시는 오래된 공장 건물을 고쳐 청년 예술가들의 작업실로 빌려주는 사업을 시작한다.",
     "작업실은 모두 스무 곳이며 입주한 예술가는 2년 동안 임대료 없이 공간을 쓸 수 있다.",
     "시는 전시와 공연이 꾸준히 열리면 주변 상권도 함께 살아날 것으로 기대한다고 덧붙였다."],
]
