"""The perplexity tests' material (tests/test_data_perplexity.py, tests/test_data_lm_arpa.py): a Korean reference and
held-out split of the real corpus, the licence texts of pinned packages (English held out), and p(word | context)."""

import hashlib
import math
from pathlib import Path

import numpy as np

from axk1.text.ngram_lm import NgramLM
from tests.korean_corpus import bills, constitution_chapters


def prob(lm: NgramLM, word: str, context=()) -> float:
    """p(word | context), tokens as strings (BOS for padding), as nltk's and kenlm's scores take them."""
    return math.exp(lm.logprob(lm.vocab.lookup(word), [lm.vocab.lookup(t) for t in context]))


SITE_PACKAGES = Path(np.__file__).parent.parent


# Held out of the Korean reference: a deployment bill (its sibling 1809897 is in the reference), the marriage
# brokerage bill, and the constitution's last three chapters. A real document of a kind the reference never saw
# scores far higher (1809897 without 1809898: 874) — docs/data.md, "Perplexity filter".
HELD_BILLS = (1809898, 1809899)
HELD_CHAPTERS = 3


def korean_split() -> tuple[list[str], list[str]]:
    """(reference texts, held-out texts) of the real Korean corpus: HELD_BILLS and the last HELD_CHAPTERS held out."""
    chapters = list(constitution_chapters().values())
    reference = [t for n, t in bills().items() if n not in HELD_BILLS] + chapters[:-HELD_CHAPTERS]
    return reference, [t for n, t in bills().items() if n in HELD_BILLS] + chapters[-HELD_CHAPTERS:]


# Packages whose version pyproject.toml pins (torch: the CPU wheel make installs), so every machine reads the same
# licence files in the same order: an unpinned dependency's new release would move the reference/held-out split.
PINNED = ("torch", "transformers", "trl", "hypothesis", "nltk", "konlpy", "resiliparse", "ray")


def licence_texts() -> list[str]:
    """The distinct licence files (1,000 characters or more) of the pinned installed packages, in path order."""
    out, seen = [], set()
    files = (p for name in PINNED for p in SITE_PACKAGES.glob(f"{name}-*.dist-info/**/*"))
    for p in sorted(files):
        if p.is_file() and p.name.upper().startswith(("LICEN", "COPYING")):
            text = p.read_text(encoding="utf-8", errors="replace")
            digest = hashlib.sha1(" ".join(text.split()).encode()).digest()
            if len(text) >= 1000 and digest not in seen:
                seen.add(digest)
                out.append(text)
    return out
