"""How many reworded words the synthetic near-duplicate rule catches, by length (axk1/synth/dedup.py,
docs/data.md "Synthetic data"), and how alike distinct texts in the same words get.

Texts: the AIME 2025 problems, English and Korean, each followed by "Final answer: <answer>" as a reasoning sample
ends, and each two consecutive ones joined (longer samples). A rewording replaces k words (of two letters or more) by
other words of the same text; its Jaccard over the 7-character shingles against the original is what the rule
compares with `near_dup_similarity` (the numbers are untouched, so the numbers gate passes). Distinct texts: every
two AIME problems (not one problem's two languages) and every two articles of the Korean constitution (konlpy).

    .venv/bin/python benchmarks/bench_synth_neardup.py [FOLDER holding aime25_en.jsonl and aime25_ko.jsonl]
"""

from __future__ import annotations

import itertools
import json
import random
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from axk1.text.ngrams import char_shingles, jaccard  # noqa: E402

folder = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/benchmarks")
problems = {}
for lang in ("en", "ko"):
    for line in (folder / f"aime25_{lang}.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        problems[(lang, row["id"])] = f"{row['problem']}\n\nFinal answer: {row['answer']}"


def sim(a: str, b: str) -> float:
    return jaccard(char_shingles(a), char_shingles(b))


distinct = max(sim(a, b) for (ka, a), (kb, b) in itertools.combinations(problems.items(), 2) if ka[1] != kb[1])
print(f"distinct AIME problems, highest Jaccard: {distinct:.3f}")
try:
    import konlpy

    con = (Path(konlpy.__file__).parent / "data/corpus/kolaw/constitution.txt").read_text(encoding="utf-8")
    articles = [a.strip() for a in re.split(r"(?=제\d+조)", con) if len(a.strip()) > 60]
    print(f"distinct constitution articles ({len(articles)}), highest Jaccard: "
          f"{max(sim(a, b) for a, b in itertools.combinations(articles, 2)):.3f}")
except ImportError:
    print("konlpy not installed: constitution articles skipped")

rng = random.Random(0)
WORD = re.compile(r"[A-Za-z가-힣]{2,}")


def reword(text: str, k: int) -> str:
    spans = [m.span() for m in WORD.finditer(text)]
    for s, e in sorted(rng.sample(spans, min(k, len(spans))), reverse=True):
        text = text[:s] + rng.choice([text[a:b] for a, b in spans if text[a:b].lower() != text[s:e].lower()]) + text[e:]
    return text


base = list(problems.values())
rows: dict[tuple[int, int], list[float]] = {}
for text in base + [a + "\n" + b for a, b in zip(base, base[1:])]:
    bucket = next(b for b in (150, 250, 400, 600, 1000, 10**9) if len(text) <= b)
    for k in (1, 2, 3, 5, 8):
        rows.setdefault((bucket, k), []).extend(sim(text, reword(text, k)) for _ in range(5))
print("chars <=  words  median Jaccard  caught at 0.8  caught at 0.7  (samples)")
for (bucket, k), js in sorted(rows.items()):
    print(f"{bucket if bucket < 10**9 else 'more':>8}  {k:5d}  {statistics.median(js):14.3f}  "
          f"{sum(j >= 0.8 for j in js) / len(js):13.0%}  {sum(j >= 0.7 for j in js) / len(js):13.0%}  ({len(js)})")
