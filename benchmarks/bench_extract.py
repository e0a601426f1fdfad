"""Main-text extractors compared on real pages against hand-checked references (issue #20, point 2).

The pages are Korean and English HTML help shipped by Debian (tests/fixtures/web/SOURCES.md); each has a
reference main text and a list of its boilerplate lines under tests/fixtures/web/reference/. Prints character
precision / recall / F1 and the share of boilerplate characters that leaked into the output, per extractor,
per language and overall, then the extractor's own speed on those pages.

    .venv/bin/python benchmarks/bench_extract.py [--pages DIR] [--per-page]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests/ helpers

from tests.extract_score import score_page, totals

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "web"


def _trafilatura(**kw):
    import trafilatura

    def run(html: str) -> str:
        return trafilatura.extract(html, include_comments=False, **kw) or ""
    return run


def _resiliparse(main_content: bool):
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    def run(html: str) -> str:
        return extract_plain_text(HTMLTree.parse(html), main_content=main_content, alt_texts=False)
    return run


def _ours():
    from axk1.data.html_extract import extract_main_text

    return lambda html: extract_main_text(html).text


CANDIDATES = {
    "trafilatura 2.3.1 (default)": lambda: _trafilatura(),
    "trafilatura, favor_precision": lambda: _trafilatura(favor_precision=True),
    "trafilatura, favor_recall": lambda: _trafilatura(favor_recall=True),
    "resiliparse 2.0.0 main_content": lambda: _resiliparse(True),
    "resiliparse 2.0.0 all text (no boilerplate removal)": lambda: _resiliparse(False),
    "axk1 html_extract (what the pipeline runs)": _ours,
}


def with_site_boilerplate(outputs: dict[str, str]) -> dict[str, str]:
    """The pipeline's next step on those outputs: lines repeated across a site's pages removed (the page name's
    middle part -- faq, gimp, lo -- is its site)."""
    import tempfile

    from datatrove.data import Document

    from axk1.data.site_boilerplate import SiteBoilerplate, SiteBoilerplateConfig, SiteLineCounter

    docs = [Document(text=t, id=name, metadata={"host": name.split("-")[1], "url": name})
            for name, t in outputs.items()]
    with tempfile.TemporaryDirectory() as tmp:
        list(SiteLineCounter(tmp).run(iter(docs)))
        step = SiteBoilerplate(tmp, SiteBoilerplateConfig())
        for d in docs:
            step.filter(d)
    return {d.id: d.text for d in docs}


def load_pages(folder: Path) -> list[tuple[str, str, str, list[str]]]:
    """(name, html, reference main text, boilerplate lines) for each page with a reference."""
    out = []
    for page in sorted((folder / "pages").glob("*.html")):
        ref = folder / "reference" / f"{page.stem}.main.txt"
        bp = folder / "reference" / f"{page.stem}.boilerplate.txt"
        out.append((page.stem, page.read_bytes().decode("utf-8"), ref.read_text(encoding="utf-8"),
                    bp.read_text(encoding="utf-8").splitlines()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", default=str(FIXTURES), help="folder with pages/ and reference/")
    ap.add_argument("--per-page", action="store_true", help="also print each page's precision / recall")
    args = ap.parse_args()
    pages = load_pages(Path(args.pages))
    print(f"{len(pages)} pages ({sum(n.startswith('ko-') for n, *_ in pages)} Korean)\n")
    print("| extractor | P (ko) | R (ko) | P (en) | R (en) | P all | R all | F1 all | boilerplate leaked | pages/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, make in [*CANDIDATES.items(), ("axk1 html_extract + site boilerplate removal", _ours)]:
        run = make()
        run(pages[0][1])  # first call pays imports and model set-up
        outputs, elapsed = {}, 0.0
        for page, html, ref, bp in pages:
            t = time.perf_counter()
            outputs[page] = run(html)
            elapsed += time.perf_counter() - t
        if "site boilerplate" in name:
            outputs = with_site_boilerplate(outputs)
        scores = {}
        for page, html, ref, bp in pages:
            scores[page] = score_page(outputs[page], ref, bp)
            if args.per_page:
                s = scores[page]
                print(f"    {page}: P {s.precision:.3f} R {s.recall:.3f} leaked {s.boilerplate_leaked}")
        ko = totals([s for p, s in scores.items() if p.startswith("ko-")])
        en = totals([s for p, s in scores.items() if p.startswith("en-")])
        al = totals(list(scores.values()))
        print(f"| {name} | {ko['precision']:.3f} | {ko['recall']:.3f} | {en['precision']:.3f} | {en['recall']:.3f} "
              f"| {al['precision']:.3f} | {al['recall']:.3f} | {al['f1']:.3f} | {al['boilerplate_leaked']:.1%} "
              f"| {len(pages) / elapsed:.0f} |")


if __name__ == "__main__":
    main()
