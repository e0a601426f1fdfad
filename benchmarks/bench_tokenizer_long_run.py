"""Tokenizer training time on one document holding one long unspaced run of a character (axk1/data/tokenizer.py's
MAX_LETTER_RUN; benchmarks/RESULTS.md, "Tokenizer training on one long unspaced run"):

    .venv/bin/python benchmarks/bench_tokenizer_long_run.py '가,ㅋ,a,=' 25000,50000,100000
"""

from __future__ import annotations

import argparse
import tempfile
import time

from axk1.data.tokenizer import train_tokenizer
from axk1.data.tokenizer_config import TokenizerConfig


def main(chars: str, lengths: str) -> None:
    for ch in chars.split(","):
        for n in map(int, lengths.split(",")):
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                train_tokenizer([ch * n], out, TokenizerConfig(vocab_size=2000))
                print(f"{ch!r} x {n:,}: {time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Tokenizer training time on one long unspaced run of a character")
    parser.add_argument("chars", help="characters to repeat, comma-separated: '가,ㅋ,a,='")
    parser.add_argument("lengths", help="run lengths, comma-separated: 25000,50000,100000")
    args = parser.parse_args()
    main(args.chars, args.lengths)
