"""Benchmark decontamination measured (axk1/text/contamination.py, docs/data.md "Benchmark decontamination"): how
many real AIME 2025 problems are found in a forum post as pages show them, how many AIME-style sentences from no
2025 problem are taken for one, how many real Python files are flagged against HumanEval, and how fast.

    .venv/bin/python benchmarks/bench_decontaminate.py [--benchmarks ../shared/data/benchmarks]

The AIME files are read from --benchmarks (the project's ../shared by default; that part is skipped without them).
The page variants and the sentences are the test suite's (tests/test_data_decontaminate.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from axk1.text.contamination import ContaminationIndex, read_benchmark  # noqa: E402
from tests.decontaminate_helpers import FORUM, respaced  # noqa: E402
from tests.test_data_decontaminate import AIME_PHRASING, no_math, no_spaces, rendered  # noqa: E402


def aime(folder: Path) -> None:
    sets = [read_benchmark(folder / f"aime25_{lang}.jsonl") for lang in ("en", "ko")]
    index = ContaminationIndex(sets)
    variants = {"verbatim": str, "rendered": rendered, "math dropped": no_math, "upper case": str.upper,
                "no spaces": no_spaces, "respaced": respaced}
    print("| AIME 2025 in a forum post | " + " | ".join(variants) + " |")
    print("|---|" + "---:|" * len(variants))
    for lang in ("en", "ko"):
        rows = [json.loads(line) for line in (folder / f"aime25_{lang}.jsonl").open(encoding="utf-8")]
        cells = []
        for name, change in variants.items():
            if lang == "en" and name in ("no spaces", "respaced"):  # how Korean is written differently
                cells.append("—")
                continue
            found = sum(index.match(FORUM.format(change(r["problem"]))) is not None for r in rows)
            cells.append(f"{found}/{len(rows)}")
        print(f"| {lang} | " + " | ".join(cells) + " |")
    flagged = [s for s in AIME_PHRASING if index.match(s)]
    print(f"\nAIME-style sentences from no 2025 problem taken for one: {len(flagged)} of {len(AIME_PHRASING)}")
    for sentence in flagged:
        print(f"  {sentence[:90]}…")


def code() -> None:
    index = ContaminationIndex([read_benchmark("humaneval")])
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(stdlib.rglob("*.py"))
    start, size, flagged = time.perf_counter(), 0, []
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        size += len(text)
        found = index.match(text)
        if found:
            flagged.append((f.relative_to(stdlib), found))
    took = time.perf_counter() - start
    print(f"\nPython files of the stdlib and site-packages against HumanEval: {len(flagged)} of {len(files):,} flagged "
          f"({size / 1e6:.0f} MB in {took:.1f} s, {size / 1e6 / took:.1f} MB/s)")
    for path, found in flagged:
        print(f"  {path}: {found.row} {found.ngram!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--benchmarks", default=str(ROOT.parent / "shared" / "data" / "benchmarks"))
    folder = Path(ap.parse_args().benchmarks)
    if (folder / "aime25_en.jsonl").exists():
        aime(folder)
    else:
        print(f"no AIME files in {folder}: the recall part is skipped")
    code()


if __name__ == "__main__":
    main()
