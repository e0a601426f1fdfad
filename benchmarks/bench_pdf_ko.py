"""Real Korean PDFs (issue 16): axk1's extractor against plain pypdfium2, pdftotext (poppler-utils) and
pdfminer.six on the same files, scored on hand-checked reference paragraphs; pages lost; end-to-end cost.

    benchmarks/fetch_ko_pdfs.sh ~/.cache/axk1/ko-pdfs     # 17 PDFs, 313 pages, from Debian's texlive-lang-korean
    .venv/bin/python benchmarks/bench_pdf_ko.py ~/.cache/axk1/ko-pdfs

The committed fixtures (tests/fixtures/pdf_ko) are scored too, so the script also runs without the fetched set.
Called from bench_data.py with --ko-pdfs DIR.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository root: tests/pdf_eval.py
FIXTURES = ROOT / "tests" / "fixtures" / "pdf_ko"
REFERENCES = [FIXTURES / "references.json", ROOT / "benchmarks" / "ko_pdf_references.json"]


def pypdfium2_text(path: Path) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        out = []
        for i in range(len(pdf)):
            page = pdf[i]
            tp = page.get_textpage()
            out.append(tp.get_text_range())
            tp.close()
            page.close()
        return out
    finally:
        pdf.close()


def pdftotext_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True,
                          check=False).stdout


def pdfminer_text(path: Path) -> str:
    from pdfminer.high_level import extract_text

    return extract_text(str(path))


def ours_text(path: Path, join: str = "rules"):
    from axk1.data.pdf import PdfConfig, PdfError, extract_pdf

    try:
        return extract_pdf(path, PdfConfig(ocr="none", join=join))
    except PdfError as e:
        return e


def _timed(fn, files: list[Path]) -> tuple[dict[str, str], float]:
    t = time.perf_counter()
    out = {}
    for f in files:
        r = fn(f)
        out[f.name] = r if isinstance(r, str) else "\n".join(r) if isinstance(r, list) else getattr(r, "text", "")
    return out, time.perf_counter() - t


_PLAIN_JOB = """
import json, sys, time
from pathlib import Path
t = time.perf_counter()
import pypdfium2 as pdfium
src, out = Path(sys.argv[1]), sys.argv[2]
with open(out, "w", encoding="utf-8") as f:
    for p in sorted(src.rglob("*.pdf")):
        pdf = pdfium.PdfDocument(str(p))
        text = "\\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
        pdf.close()
        f.write(json.dumps({"id": p.name, "text": text}, ensure_ascii=False) + "\\n")
print(json.dumps({"s": time.perf_counter() - t, "peak_mb": peak_mb()}))
"""

_OURS_JOB = """
import json, sys, time
t = time.perf_counter()
from axk1.cli import main
main(["data", "pdf", sys.argv[1], "-o", sys.argv[2], "--ocr", "none"] + sys.argv[3:])
print(json.dumps({"s": time.perf_counter() - t, "peak_mb": peak_mb()}))
"""
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork and exec, so a child would report this process's peak
_PEAK = """
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""


def end_to_end(folder: Path, extra: list[str] | None = None) -> dict:
    """Wall time (process start to exit, imports included) and peak memory of `axk1 data pdf` and of a plain
    pypdfium2 script doing the same job (every PDF of the folder to JSONL), best of two runs each."""
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, job, args in (("pypdfium2", _PLAIN_JOB, []), ("axk1", _OURS_JOB, extra or [])):
            runs = []
            for _ in range(2):
                t = time.perf_counter()
                done = subprocess.run([sys.executable, "-c", _PEAK + job, str(folder), f"{tmp}/{name}.jsonl", *args],
                                      capture_output=True, text=True, check=True, cwd=ROOT)
                wall = time.perf_counter() - t
                runs.append((wall, json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"]))
            wall, peak = min(runs)
            res[name] = {"wall_s": round(wall, 2), "peak_mb": round(peak)}
    res["ratio"] = round(res["axk1"]["wall_s"] / res["pypdfium2"]["wall_s"], 2)
    return res


def bench(folder: Path | None) -> dict:
    from tests.pdf_eval import load_references, score

    files = sorted(FIXTURES.glob("*.pdf"))
    if folder is not None:
        have = {f.name for f in files}
        files += [f for f in sorted(folder.glob("*.pdf")) if f.name not in have]
    refs = [r for path in REFERENCES for r in load_references(path) if any(f.name == r.doc for f in files)]
    pages = sum(len(pypdfium2_text(f)) for f in files)
    peers = {"axk1": lambda f: ours_text(f), "axk1 --kiwi": lambda f: ours_text(f, "rules+kiwi"),
             "pypdfium2": pypdfium2_text}
    if shutil.which("pdftotext"):
        peers["pdftotext"] = pdftotext_text
    try:
        import pdfminer  # noqa: F401

        peers["pdfminer.six"] = pdfminer_text
    except ImportError:
        pass
    table = {}
    for name, fn in peers.items():
        outputs, secs = _timed(fn, files)
        table[name] = {**score(outputs, refs), "in_process_s": round(secs, 2)}
    # pages where pypdfium2 finds text and axk1 rejects the page (or fails the file), with axk1's reason: a
    # page lost, unless the reason says its text layer is garbage (then OCR takes it where tesseract is installed)
    rejected_with_text, per_document = {}, {}
    for f in files:
        plain = pypdfium2_text(f)
        res = ours_text(f)
        failed = not hasattr(res, "rejected_pages")
        reasons = ({i: str(res) for i in range(1, len(plain) + 1)} if failed
                   else {p["page"]: p["reason"] for p in res.rejected_pages})
        rejected_with_text.update({f"{f.name}:{i}": reasons[i] for i, t in enumerate(plain, 1)
                                   if t.strip() and i in reasons})
        per_document[f.name] = {"pages": len(plain), "text_pages": sum(1 for t in plain if t.strip()),
                                "rejected": len(reasons),
                                "columns_pages": 0 if failed else res.page_methods.count("pdfium-columns"),
                                "dropped": f"file failed: {res}" if failed else res.dropped}
    with tempfile.TemporaryDirectory() as one:
        shutil.copy(FIXTURES / "fntnormal.pdf", one)
        one_page = end_to_end(Path(one))
    return {"files": len(files), "pages": pages, "reference_paragraphs": len(refs),
            "reference_chars": table["axk1"]["chars"], "extractors": table, "rejected_pages_with_text": rejected_with_text,
            "per_document": per_document,
            "one_page_file": one_page, "end_to_end": end_to_end(folder) if folder is not None else None}


if __name__ == "__main__":
    print(json.dumps(bench(Path(sys.argv[1]) if len(sys.argv) > 1 else None), indent=2, ensure_ascii=False))
