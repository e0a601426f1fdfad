"""Data pipeline benchmarks: PDF pages/s on 2 cores (ours vs plain pypdfium2 text extraction), extraction CER
on the generated Korean test set, MinHash dedup throughput, tokenizer training and characters per token; with
--ko-pdfs, real Korean PDFs against pypdfium2, pdftotext and pdfminer.six side by side (bench_pdf_ko.py).

    .venv/bin/python benchmarks/bench_data.py [--pages 100] [--copies 8] [--ko-pdfs DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests/ helpers


def _raw(path: str) -> int:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    n = len(pdf)
    for i in range(n):
        page = pdf[i]
        tp = page.get_textpage()
        tp.get_text_bounded()
        tp.close()
        page.close()
    pdf.close()
    return n


def _ours(path: str, join: str = "rules") -> int:
    from axk1.data.pdf import PdfConfig, extract_pdf

    return extract_pdf(path, PdfConfig(join=join, ocr="none")).pages


def _ours_kiwi(path: str) -> int:
    return _ours(path, "rules+kiwi")


def _warm(_: int) -> None:
    from axk1.text.korean import get_kiwi

    import axk1.data.pdf  # noqa: F401  (import cost is not extraction time)
    get_kiwi()


def pages_per_second(fn, files: list[str], workers: int, repeats: int = 3) -> float:
    best = float("inf")
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_warm, range(workers)))  # model loading is not extraction time
        for _ in range(repeats):
            t = time.perf_counter()
            pages = sum(pool.map(fn, files))
            best = min(best, time.perf_counter() - t)
    return pages / best


def bench_pdf(tmp: Path, pages: int, copies: int) -> dict:
    from axk1.data.pdf import extract_pdf
    from tests.pdf_test_set import build_test_set, char_error_rate, render_speed_pdf

    doc = render_speed_pdf(tmp / "speed.pdf", pages=pages)
    files = [str(doc.path)] * copies
    raw = pages_per_second(_raw, files, 2)
    ours = pages_per_second(_ours, files, 2)
    kiwi = pages_per_second(_ours_kiwi, files, 2)
    cers = {}
    for d in build_test_set(tmp / "set"):
        cers[d.kind] = round(char_error_rate(extract_pdf(d.path).text, d.truth), 4)
    return {"pdf_pages_per_doc": doc.pages, "raw_pypdfium2_pages_s": round(raw, 1),
            "ours_pages_s": round(ours, 1), "ours_kiwi_pages_s": round(kiwi, 1),
            "ours_time_over_raw": round(raw / ours, 2), "cleaning_cost_over_raw": round(raw / ours - 1, 2),
            "cer": cers}


def bench_dedup(tmp: Path) -> dict:
    from axk1.data.config import config_from_dict
    from axk1.data.pipeline import build_stages, make_executor
    from axk1.data.textgen import korean_document

    rng = random.Random(0)
    src = tmp / "dedup.jsonl"
    n = 2000
    with open(src, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": str(i), "text": f"{i} " + korean_document(rng, 2, 5)}, ensure_ascii=False) + "\n")
    chars = src.stat().st_size
    out = {}
    for shingles in ("char", "kiwi"):
        cfg = config_from_dict({"run": {"output_dir": str(tmp / f"dd-{shingles}"), "tasks": 2, "workers": 2,
                                        "stages": ["extract", "dedup"], "start_method": "fork"},
                                "sources": [{"type": "jsonl", "path": str(src), "filter": False}],
                                "filters": {"pii": False}, "dedup": {"shingles": shingles}})
        stages = build_stages(cfg)
        make_executor(cfg, stages[0]).run()
        t = time.perf_counter()
        for s in stages[1:]:
            make_executor(cfg, s).run()
        out[f"dedup_{shingles}_docs_s"] = round(n / (time.perf_counter() - t), 1)
    out["dedup_corpus_mb"] = round(chars / 1e6, 2)
    return out


def bench_tokenizer(tmp: Path) -> dict:
    from axk1.data.mathgen import generate_problems
    from axk1.data.textgen import english_document, korean_document
    from axk1.data.tokenizer import TokenizerConfig, chars_per_token, train_tokenizer
    from axk1.text.tokenizer_file import load_tokenizer

    rng = random.Random(0)
    import sysconfig

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    code = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(stdlib.glob("*.py"))[:80]]
    ko = [korean_document(rng, 3, 6) for _ in range(3000)]
    en = [english_document(rng, 3, 6) for _ in range(1000)]
    math = [p["text"] for p in generate_problems(500)]
    train = ko[:-100] + en[:-50] + code[:-10] + math
    mb = sum(len(t.encode()) for t in train) / 1e6
    t = time.perf_counter()
    train_tokenizer(train, tmp / "tok", TokenizerConfig(vocab_size=16384))
    secs = time.perf_counter() - t
    tok = load_tokenizer(tmp / "tok")
    return {"tokenizer_train_mb": round(mb, 2), "tokenizer_train_s": round(secs, 2),
            "chars_per_token_ko": round(chars_per_token(tok, ko[-100:]), 2),
            "chars_per_token_en": round(chars_per_token(tok, en[-50:]), 2),
            "chars_per_token_code": round(chars_per_token(tok, code[-10:]), 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--ko-pdfs", default=None, help="folder of real Korean PDFs (benchmarks/fetch_ko_pdfs.sh); "
                    "the committed fixtures are scored either way")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        from bench_pdf_ko import bench as bench_pdf_real

        results = {**bench_pdf(tmp, args.pages, args.copies), "pdf_real": bench_pdf_real(
            Path(args.ko_pdfs) if args.ko_pdfs else None), **bench_dedup(tmp), **bench_tokenizer(tmp)}
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
