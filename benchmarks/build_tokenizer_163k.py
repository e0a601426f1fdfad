"""A byte-level BPE of A.X K1's size (163,840 entries), trained here from text on disk, as a stand-in for the real
vocabulary (whose merges were not published, and which this machine cannot fetch) when measuring what a
vocabulary of that size costs: structured outputs' masks (benchmarks/bench_guided_masks.py, and
benchmarks/bench_guided.py --engine --tokenizer).

The trainer is the project's (axk1/data/tokenizer.py: Hangul runs kept whole, digits in threes, NFC, the chat
special tokens at ids 0-7), so the tokens are of the kinds a real one has: byte tokens, English words with and
without their leading space, code identifiers and operators, runs of spaces, digit groups, Hangul syllables and
words. The text, ~22 MB, read in sorted order and sampled with a fixed seed:
- code: the Python standard library's sources (`sysconfig`'s stdlib folder), ~10 MB;
- English: this repository's docs and the documentation (.md, .rst, .txt) under the venv's site-packages, ~6 MB;
- Korean, ~6 MB: konlpy's corpora (the constitution, bills), then sentences of words made from konlpy's dictionary
  (KAIST tag set: nouns with particles, verb and adjective stems with endings), Zipf-weighted so that some words
  are frequent and most are rare, as in real text.
Two builds from the same files share all but ~20 of their entries, in another id order: `tokenizers`' trainer
breaks ties between pairs of equal count in no fixed order (two builds here: 163,822 entries in common, their
first 8,566 merges alike).

    python benchmarks/build_tokenizer_163k.py [--out /tmp/axk1_tok163k] [--vocab-size 163840]

Writes tokenizer.json, tokenizer_config.json and chat_template.jinja into --out (~40 s and 0.8 GB on 2 cores).
"""

from __future__ import annotations

import argparse
import random
import sys
import sysconfig
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHUNK = 20_000  # characters a training document


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in suffixes and p.is_file())


def _read(paths: list[Path], budget: int) -> Iterator[str]:
    """The files' text in CHUNK-character documents, until `budget` bytes (UTF-8) are taken."""
    taken = 0
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for i in range(0, len(text), CHUNK):
            piece = text[i:i + CHUNK]
            taken += len(piece.encode("utf-8"))
            yield piece
            if taken >= budget:
                return


def _konlpy() -> Path | None:
    try:
        import konlpy
    except ImportError:
        return None
    return Path(konlpy.__file__).parent


def _korean_words(dictionary: Path, rng: random.Random) -> tuple[list[str], list[str], list[str], list[str]]:
    """(nouns, predicate stems, particles, endings) from konlpy's KAIST dictionary (`word<TAB>tag<TAB>tag...`)."""
    nouns, stems, particles, endings = [], [], [], []
    for line in dictionary.read_text(encoding="utf-8").splitlines():
        word, *tags = line.split("\t")
        if not word or not all("\uac00" <= ch <= "\ud7a3" for ch in word):
            continue
        if any(t in ("ncn", "ncpa", "ncps", "nbn", "npp", "nqq") for t in tags):
            nouns.append(word)
        if any(t.startswith(("pvg", "paa")) for t in tags):
            stems.append(word)
        if any(t.startswith(("jc", "jx", "jp")) for t in tags):
            particles.append(word)
        if any(t in ("ef", "ecs", "ecc", "ecx", "etm", "etn") for t in tags):
            endings.append(word)
    for words in (nouns, stems, particles, endings):
        rng.shuffle(words)  # a Zipf rank: shorter words ranked first below, the rest in a fixed random order
        words.sort(key=len)
    return nouns, stems, particles, endings


def _zipf(rng: random.Random, words: list[str], s: float = 1.1) -> str:
    """A word by Zipf rank: index ~ 1/rank^s over the whole list (a few frequent, a long tail)."""
    u = rng.random()
    n = len(words)
    # inverse CDF of a continuous Zipf on [1, n + 1)
    rank = ((n + 1) ** (1 - s) - 1) * u + 1
    return words[min(n - 1, int(rank ** (1 / (1 - s))) - 1)]


def _korean_sentences(dictionary: Path, budget: int, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    nouns, stems, particles, endings = _korean_words(dictionary, rng)
    taken, doc = 0, []
    while taken < budget:
        words = []
        for _ in range(rng.randint(4, 14)):
            if rng.random() < 0.65:
                words.append(_zipf(rng, nouns) + (_zipf(rng, particles, 1.5) if rng.random() < 0.7 else ""))
            else:
                words.append(_zipf(rng, stems) + _zipf(rng, endings, 1.5))
        if rng.random() < 0.15:
            words.insert(rng.randrange(len(words)), str(rng.choice([rng.randint(1, 31), rng.randint(1900, 2030),
                                                                    rng.randint(1, 10**6)])))
        sentence = " ".join(words) + rng.choice([".", ".", ".", "?", ",", "다."])
        doc.append(sentence)
        taken += len(sentence.encode("utf-8")) + 1
        if len(doc) == 200:
            yield " ".join(doc)
            doc = []
    if doc:
        yield " ".join(doc)


def corpus(seed: int = 0) -> Iterator[str]:
    site = Path(sysconfig.get_paths()["purelib"])
    yield from _read(_files(Path(sysconfig.get_paths()["stdlib"]), (".py",)), 10_000_000)
    yield from _read(_files(ROOT / "docs", (".md",)) + _files(site, (".md", ".rst", ".txt")), 6_000_000)
    konlpy = _konlpy()
    if konlpy is None:
        sys.exit("konlpy is not installed: its Korean dictionary and corpora are this tokenizer's Korean text")
    yield from _read(_files(konlpy / "data" / "corpus", (".txt",)), 2_000_000)
    yield from _korean_sentences(konlpy / "java" / "data" / "kE" / "dic_system.txt", 6_000_000, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/axk1_tok163k")
    parser.add_argument("--vocab-size", type=int, default=163_840)
    args = parser.parse_args()
    from axk1.data.tokenizer import train_tokenizer
    from axk1.data.tokenizer_config import TokenizerConfig
    from axk1.text.tokenizer_file import load_tokenizer

    start = time.time()
    path = train_tokenizer(corpus(), args.out, TokenizerConfig(vocab_size=args.vocab_size))
    size = load_tokenizer(path).get_vocab_size()
    print(f"{path}: {size:,} entries in {time.time() - start:.0f} s", flush=True)
    if size < args.vocab_size:
        sys.exit(f"only {size:,} entries of the {args.vocab_size:,} asked for: the corpus is too small")


if __name__ == "__main__":
    main()
