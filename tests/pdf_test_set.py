"""The generated Korean PDF test set and its score, for the extraction tests (tests/test_data_pdf.py) and the speed
benchmark (benchmarks/bench_data.py): PDFs rendered by axk1/data/pdf_render.py, scored by character error rate."""

from __future__ import annotations

import random
from pathlib import Path

from axk1.data.pdf_render import KOREAN_FONTS, RenderedPdf, render_pdf
from tests.pdf_fixtures import render_hyphenated_pdf
from axk1.data.textgen import korean_document, korean_paragraph


def build_test_set(folder: str | Path, seed: int = 0, pages_scale: int = 1) -> list[RenderedPdf]:
    """The generated Korean PDF test set: single column over several pages with running header and page
    numbers (words broken across lines), two columns, a table, mixed Korean/English (normal wrapping) and
    an explicit hyphenation page."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    out = []
    paras = [korean_paragraph(rng, sentences=rng.randint(4, 8)) for _ in range(12 * pages_scale)]
    out.append(render_pdf(folder / "single.pdf", paras, header="한국어 자료 처리 보고서", kind="single"))
    paras = [korean_paragraph(rng, sentences=rng.randint(4, 8)) for _ in range(16 * pages_scale)]
    out.append(render_pdf(folder / "two_column.pdf", paras, columns=2, header="두 단 편집 문서", kind="two_column",
                          font=KOREAN_FONTS[1]))
    table = [["이름", "부서", "연락처"], ["김하늘", "연구개발팀", "내선 2041"], ["박서준", "데이터팀", "내선 3307"],
             ["이수민", "품질관리팀", "내선 1188"]]
    paras = [korean_paragraph(rng, sentences=4) for _ in range(2)]
    out.append(render_pdf(folder / "table.pdf", paras, table=table, kind="table"))
    paras = [korean_paragraph(rng, sentences=6, english_share=0.4) for _ in range(14 * pages_scale)]
    out.append(render_pdf(folder / "mixed.pdf", paras, cjk_wrap=False, header="Mixed 문서 Report", kind="mixed"))
    out.append(render_hyphenated_pdf(folder / "hyphenated.pdf"))
    return out


def render_speed_pdf(path: str | Path, pages: int = 100, seed: int = 1) -> RenderedPdf:
    """About `pages` pages of single-column Korean text for the speed benchmark."""
    rng = random.Random(seed)
    paras = [korean_document(rng, paragraphs=1, sentences=7) for _ in range(pages * 5)]
    return render_pdf(path, paras, header="속도 측정용 문서", kind="speed")


def char_error_rate(got: str, ref: str) -> float:
    """Character error rate with whitespace runs collapsed to one space (a wrong join or split counts).

    The edit count comes from difflib's alignment (each replaced block costs its longer side), an upper bound
    on the Levenshtein distance that is fast on long pages."""
    import difflib

    a, b = " ".join(got.split()), " ".join(ref.split())
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    edits = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in sm.get_opcodes() if op != "equal")
    return edits / max(1, len(b))
