"""The Korean quality signals measured (axk1/data/korean_signals.py, docs/data.md "Korean quality signals"): their
range on real Korean text (konlpy's constitution and ten bills, the 14 Korean help pages in tests/fixtures/web),
on the same text with 30% and with all of the spaces between Hangul syllables dropped, and how fast.

    .venv/bin/python benchmarks/bench_korean_signals.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from axk1.data.korean_signals import korean_signals  # noqa: E402
from tests.test_data_korean_signals import drop_spaces, real_texts  # noqa: E402

KEYS = ("hanja_ratio", "chat_noise", "sentence_endings", "eojeol_length", "spacing_errors")


def main() -> None:
    texts = real_texts()
    korean_signals("가나다", spacing=True)  # Kiwi loads once (~2 s), not in the timings
    size = sum(len(t.encode()) for t in texts.values())
    variants = {"real": 0.0, "30% of spaces dropped": 0.3, "all dropped": 1.0}
    print(f"{len(texts)} documents, {size / 1e6:.3f} MB\n")
    print(f"| text | {' | '.join(KEYS)} |\n|---|{'---|' * len(KEYS)}")
    for name, share in variants.items():
        rows = [korean_signals(drop_spaces(t, share) if share else t, spacing=True) for t in texts.values()]
        cells = []
        for key in KEYS:
            values = sorted(r[key] for r in rows if r[key] is not None)
            cells.append(f"{values[0]:g} to {values[-1]:g} (median {values[len(values) // 2]:g})")
        print(f"| {name} | {' | '.join(cells)} |")
    for spacing in (False, True):
        t0 = time.perf_counter()
        for t in texts.values():
            korean_signals(t, spacing=spacing)
        print(f"\nspacing={spacing}: {size / 1e6 / (time.perf_counter() - t0):.2f} MB/s (one core)")


if __name__ == "__main__":
    main()
