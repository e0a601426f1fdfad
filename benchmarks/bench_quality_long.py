"""The quality filter and the Korean signals on one long document, 50K to 200K characters, step by step: is any
step superlinear? And what one process pays for Kiwi before its first word (the demo's extract workers pay it on
their first Korean document, which is where the quality step's seconds went).

    .venv/bin/python benchmarks/bench_quality_long.py
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from axk1.data.quality_filter import QualityConfig, quality_reason, repetition_reason  # noqa: E402
from axk1.data.korean_signals import korean_signals  # noqa: E402
from axk1.text.korean import normalize_text, word_tokenize  # noqa: E402

KO = ("대한민국은 민주공화국이다 모든 국민은 법률이 정하는 바에 의하여 납세의 의무를 진다 오늘 날씨가 정말 좋네요 "
      "이 제품은 가격이 저렴하고 품질이 좋습니다 연구팀은 새로운 방법을 제안했다 ㅋㅋㅋ ^^").split()
EN = "the quick brown fox jumps over lazy dog machine learning models require large datasets".split()

KIWI_LOAD = """import time
t = time.perf_counter()
from axk1.text.korean import get_kiwi
kiwi = get_kiwi()
loaded = time.perf_counter() - t
t = time.perf_counter()
kiwi.tokenize("가나다")
print(f"{loaded:.2f} {time.perf_counter() - t:.2f}")
"""


def document(chars: int, paragraphs: bool, rng: random.Random) -> str:
    """Korean and English words (7 to 3), sentences, and line breaks unless one paragraph."""
    out, n = [], 0
    while n < chars:
        word = rng.choice(KO if rng.random() < 0.7 else EN) + rng.choice([" "] * 8 + [". "] + ["\n"] * paragraphs)
        out.append(word)
        n += len(word)
    return normalize_text("".join(out))


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def main() -> None:
    load, first = subprocess.run([sys.executable, "-c", KIWI_LOAD], capture_output=True, text=True, check=True,
                                 cwd=ROOT).stdout.split()
    print(f"a fresh process: Kiwi() {load} s, its first tokenize {first} s\n")
    word_tokenize("가나다 라마바 " * 2000, "kiwi")  # loaded and warm: the timings below are the steps' own
    korean_signals("가나다 라마바 " * 200, spacing=True)
    cfg = QualityConfig()
    cfg.max_dup_line_frac = cfg.max_char_dup_ratio = 1.0  # every repetition rule runs to its end
    rng = random.Random(0)
    print("| document | chars | Kiwi words | quality rules | repetition rules | signals | signals + spacing |")
    print("|---|---|---|---|---|---|---|")
    for paragraphs in (True, False):
        for chars in (50_000, 100_000, 200_000):
            text = document(chars, paragraphs, rng)
            t = time.perf_counter()
            words = word_tokenize(text, "kiwi")
            tokenize = time.perf_counter() - t
            cells = [tokenize, timed(quality_reason, text, words, cfg, True), timed(repetition_reason, text, words, cfg),
                     timed(korean_signals, text), timed(korean_signals, text, True)]
            print(f"| {'paragraphs' if paragraphs else 'one paragraph'} | {len(text):,} | "
                  + " | ".join(f"{c:.3f} s" for c in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
