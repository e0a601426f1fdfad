"""The starter corpus for the demo and tests, built offline from what any machine can install:
the Python standard library's own source (code), generated math/reasoning problems with sympy-checked answers,
Korean statute texts read as data files from konlpy's wheel (no JVM), Korean PDFs rendered here from text
this project writes, and generated Korean/English prose — or, given `web_dir`, real saved web pages written to a
WARC file that the pipeline's `warc` source reads back. Nothing third-party is copied into the repository:
the corpus is written under the output folder at build time."""

from __future__ import annotations

import importlib.util
import json
import random
import shutil
import sysconfig
from pathlib import Path

from axk1.data.mathgen import generate_problems
from axk1.data.pdf_render import render_pdf
from axk1.data.textgen import english_document, korean_document, korean_report_paragraph

WEB_WARC = "pages.warc.gz"
STDLIB_MODULES = ("json", "textwrap", "string.py", "heapq.py", "bisect.py", "calendar.py", "fractions.py",
                  "statistics.py", "difflib.py", "shlex.py", "csv.py", "colorsys.py", "graphlib.py", "pprint.py")


def konlpy_corpus_dir() -> Path | None:
    """konlpy/data/corpus inside the installed wheel, found without importing konlpy (no JVM needed)."""
    spec = importlib.util.find_spec("konlpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "data" / "corpus"
    return d if d.exists() else None


def build_starter_corpus(out_dir: str | Path, scale: int = 1, seed: int = 0, web_dir: str | Path | None = None) -> dict:
    """Writes web/ (JSONL of generated prose, or pages.warc.gz from the pages under web_dir), math/ (JSONL), code/
    (a copy of a few stdlib modules), statutes/ (text files) and pdf/ under out_dir; returns counts per part and
    `web_source`, which names where the web text came from."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    counts = {}

    web = out / "web"
    web.mkdir(exist_ok=True)
    for old in ("web.jsonl", WEB_WARC):  # a rebuild switches cleanly between the two kinds
        (web / old).unlink(missing_ok=True)
    if web_dir is not None:
        counts["web"] = write_web_warc(web_dir, web / WEB_WARC)
        counts["web_source"] = f"warc: {counts['web']} pages from {Path(web_dir).resolve()}"
    else:
        counts["web"] = _generated_web(web / "web.jsonl", rng, scale)
        counts["web_source"] = "generated (axk1/data/textgen.py template sentences)"

    math = out / "math"
    math.mkdir(exist_ok=True)
    problems = generate_problems(40 * scale, seed=seed)
    with open(math / "problems.jsonl", "w", encoding="utf-8") as f:
        for p in problems:
            f.write(json.dumps({"id": p["id"], "text": p["text"], "answer": p["answer"], "domain": p["domain"]},
                               ensure_ascii=False) + "\n")
    counts["math_reasoning"] = len(problems)

    code = out / "code"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    n = 0
    for name in STDLIB_MODULES:
        src = stdlib / name
        if src.is_dir():
            shutil.copytree(src, code / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "tests"))
            n += len(list((code / name).rglob("*.py")))
        elif src.exists():
            code.mkdir(exist_ok=True)
            shutil.copy2(src, code / name)
            n += 1
    counts["code_files"] = n

    corpus = konlpy_corpus_dir()
    statutes = out / "statutes"
    statutes.mkdir(exist_ok=True)
    n = 0
    if corpus is not None:
        for txt in sorted(corpus.rglob("*.txt")):
            shutil.copy2(txt, statutes / f"{txt.parent.name}_{txt.name}")
            n += 1
    counts["statutes"] = n  # 0 when konlpy is not installed (pip install konlpy)

    pdf = out / "pdf"
    pdf.mkdir(exist_ok=True)
    for i in range(3 * scale):
        paras = [korean_report_paragraph(rng, sentences=rng.randint(4, 8)) for _ in range(10)]
        render_pdf(pdf / f"report-{i}.pdf", paras, columns=1 + i % 2, header=f"자료 보고서 {i}")
    counts["pdfs"] = 3 * scale
    return counts


def _generated_web(path: Path, rng: random.Random, scale: int) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for i in range(40 * scale):
            text = korean_document(rng, paragraphs=rng.randint(1, 2), sentences=rng.randint(4, 6),
                                   english_share=0.15 if i % 5 == 0 else 0.0)
            f.write(json.dumps({"id": f"web-{i}", "text": text}, ensure_ascii=False) + "\n")
            n += 1
        for i in range(10 * scale):
            f.write(json.dumps({"id": f"web-en-{i}", "text": english_document(rng, 2, 5)}) + "\n")
            n += 1
    return n


def write_web_warc(web_dir: str | Path, path: Path) -> int:
    """The pages under web_dir as one WARC file (gzip per record, as Common Crawl ships); returns the page count."""
    from axk1.data.html_pages import folder_pages
    from axk1.data.warc import write_warc

    root = Path(web_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"--web {web_dir}: not a folder; give a folder of saved pages (*.html, *.htm)")
    n = write_warc(path, folder_pages(root))
    if n == 0:
        path.unlink(missing_ok=True)
        raise FileNotFoundError(f"--web {web_dir}: no *.html / *.htm / *.xhtml files under it")
    return n
