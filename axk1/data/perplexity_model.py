"""The perplexity filter's model: the tokens an n-gram model reads in each language, and its training on a
reference corpus of good text with the reference's own per-document perplexities kept beside it (so a threshold
can be a percentile of them). Trained by `axk1 data lm train`, read by axk1/data/perplexity.py.

Units: Kiwi morphemes for Korean (the surface spans the quality filter counts, axk1/text/korean.py), words and
punctuation marks for English, or characters (any language, no model; use a higher order). The text is NFC,
lower case, every digit 0 (CCNet's normalisation: a number's value says nothing about the text's quality).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterable

from axk1.text.arpa import SPACE
from axk1.text.korean import hangul_ratio, normalize_text, word_tokenize
from axk1.text.ngram_lm import NgramLM, Vocabulary, count_ngrams

UNITS = ("kiwi", "words", "chars")
_WORD_OR_MARK = re.compile(r"\w+|[^\w\s]")
_DIGIT = re.compile(r"\d")
_INNER_SPACE = re.compile(r"\s")


def lm_tokens(text: str, units: str) -> list[str]:
    """The tokens of `text` as the model reads them; a document is one sequence, its line breaks spaces (wrapped
    lines continue a sentence, so the n-grams across them count)."""
    text = _DIGIT.sub("0", normalize_text(text).lower())
    if units == "kiwi":
        # Kiwi keeps a date as one token with its spaces ("0000. 0. 0."): as ▁ a token stays one word in an ARPA
        # file and in `lm tokens`' output for KenLM's lmplz, which split at whitespace (the export could not be
        # read back, nor by KenLM, and lmplz counted other tokens than the filter scores)
        return [_INNER_SPACE.sub(SPACE, t) for t in word_tokenize(text, "kiwi")]
    if units == "words":
        return _WORD_OR_MARK.findall(text)
    if units == "chars":
        return list(" ".join(text.split()))
    raise ValueError(f"units {units!r}: use one of {', '.join(UNITS)}")


def guess_units(texts: list[str]) -> str:
    """"kiwi" for a mostly Hangul sample, else "words"."""
    return "kiwi" if hangul_ratio(" ".join(texts)) >= 0.5 else "words"


def train_reference_model(texts: Iterable[str], order: int, units: str, folds: int = 5,
                          progress: bool = True) -> NgramLM:
    """The model of every document of `texts`, with meta["reference_perplexities"]: each document's perplexity
    under a model of the other folds (document i is in fold i % folds). A document's perplexity under a model
    that saw it would be optimistic (the model remembers its n-grams), while the filter meets documents it never
    saw, so a percentile of the in-sample values would exclude far more than its share."""
    from tqdm import tqdm

    if folds < 2:
        raise ValueError(f"folds = {folds}: the reference perplexities need at least 2 folds")
    vocab = Vocabulary()
    fold_counts = [Counter() for _ in range(folds)]
    docs: list[list[int]] = []   # ids, to score each document again under its fold's model
    for text in tqdm(texts, desc="reading the reference corpus", unit="doc", disable=not progress):
        ids = vocab.encode(lm_tokens(text, units), add=True)
        fold_counts[len(docs) % folds].update(count_ngrams([ids], order))
        docs.append(ids)
    if len(docs) < folds:
        raise ValueError(f"the reference corpus has {len(docs)} documents: at least {folds} (one per fold) are "
                         "needed; give more documents or fewer --folds")
    total: Counter = Counter()
    for c in fold_counts:
        total.update(c)
    perplexities = [0.0] * len(docs)
    for f in tqdm(range(folds), desc="held-out perplexities", unit="fold", disable=not progress):
        held_out = NgramLM.estimate(total - fold_counts[f], order, vocab)
        for i in range(f, len(docs), folds):
            logp, events = held_out.score(docs[i])
            perplexities[i] = math.exp(-logp / events)
    model = NgramLM.estimate(total, order, vocab)
    model.meta.update(units=units, documents=len(docs), tokens=sum(map(len, docs)), folds=folds,
                      reference_perplexities=sorted(round(p, 3) for p in perplexities))
    return model
