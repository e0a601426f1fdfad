"""Model-based quality filtering as a datatrove filter: a document whose perplexity under an n-gram model of good
text (axk1/data/perplexity_model.py, trained by `axk1 data lm train`) is too high is removed, as CCNet and
datatrove do with a KenLM model. It catches what no heuristic sees: real words in an order no writer would use
(shuffled words, shuffled lines of wrapped text, keyword salad) and junk made of letters.

Off unless `[filters.perplexity] model` is set. One model for every document, or a table by language
(metadata.language, from the language filter): `model = {ko = "lm/ko.npz", en = "lm/en.npz"}`; documents of a
language with no model are kept unscored. The threshold is either `percentile` (of the reference corpus's own
held-out per-document perplexities, stored with the model) or `max_perplexity`, each a number or a table by
language. Kept documents carry metadata.perplexity; removed ones also perplexity_threshold, in excluded/perplexity/.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from axk1.data.filter_entry import FilterEntry
from axk1.data.perplexity_model import lm_tokens
from axk1.data.quality_filter import skips_prose_filters
from axk1.text.ngram_lm import NgramLM, read_meta

ALL = "*"  # the key of a single model for every language


@dataclass
class PerplexityConfig:
    model: str | dict = ""               # a model file, or a table language -> model file; "" = filter off
    percentile: float | dict = 0.0       # remove above this percentile (0-100] of the reference's perplexities
    max_perplexity: float | dict = 0.0   # or above this perplexity


def _by_language(value, lang: str, key: str) -> float:
    if isinstance(value, dict):
        if lang == ALL:
            raise ValueError(f"[filters.perplexity] {key} is a table by language: give `model` as one too, e.g. "
                             "model = {ko = \"lm/ko.npz\"}")
        value = value.get(lang, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"[filters.perplexity] {key} for {lang!r} must be a number >= 0, got {value!r}")
    return float(value)


def thresholds(cfg: PerplexityConfig) -> dict[str, tuple[str, float]]:
    """language (or ALL) -> (model file, the perplexity above which a document is removed); every model file and
    setting checked here, before the run starts."""
    models = {ALL: cfg.model} if isinstance(cfg.model, str) else dict(cfg.model)
    out = {}
    for lang, path in models.items():
        if not isinstance(path, str) or not path:
            raise ValueError(f"[filters.perplexity] model for {lang!r} must be a model file path, got {path!r}")
        meta = read_meta(path)
        pct = _by_language(cfg.percentile, lang, "percentile")
        top = _by_language(cfg.max_perplexity, lang, "max_perplexity")
        where = "" if lang == ALL else f" for {lang!r}"
        if bool(pct) == bool(top):
            raise ValueError(f"[filters.perplexity] set one threshold{where}: percentile (of the reference "
                             "corpus's perplexities, e.g. 95) or max_perplexity")
        if pct:
            if pct > 100:
                raise ValueError(f"[filters.perplexity] percentile{where} = {pct}: give a value in (0, 100]")
            reference = meta.get("reference_perplexities") or []
            if not reference:
                raise ValueError(f"{path} holds no reference perplexities: retrain it with `axk1 data lm train`, "
                                 "or give max_perplexity instead")
            top = float(np.percentile(reference, pct))
        out[lang] = (path, top)
    return out


class PerplexityFilter(BaseFilter):
    """Removes prose documents whose perplexity is above their language's threshold (`thresholds`)."""

    name = "axk1 perplexity"

    def __init__(self, models: dict[str, tuple[str, float]], exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.models = models
        self._loaded: dict[str, NgramLM] = {}  # loaded in the worker on first use: the step is pickled to it

    def perplexity(self, text: str, path: str) -> float:
        lm = self._loaded.get(path)
        if lm is None:
            lm = self._loaded[path] = NgramLM.load(path)
        return lm.perplexity(lm_tokens(text, lm.meta["units"]))

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if skips_prose_filters(doc):
            return True
        entry = self.models.get(doc.metadata.get("language")) or self.models.get(ALL)
        if entry is None:
            return True
        path, top = entry
        ppl = self.perplexity(doc.text, path)
        doc.metadata["perplexity"] = round(ppl, 2)
        if ppl > top:
            doc.metadata["perplexity_threshold"] = round(top, 2)
            return False, "perplexity_too_high"
        return True


def perplexity_step(cfg: PerplexityConfig, exclusions) -> PerplexityFilter | None:
    """The extract stage's entry (axk1/data/filter_steps.py): on when `[filters.perplexity] model` is set;
    removals go to excluded/perplexity/."""
    if not cfg.model:
        return None
    return PerplexityFilter(thresholds(cfg), exclusion_writer=exclusions("perplexity"))


PERPLEXITY_STEP = FilterEntry(perplexity_step, table="perplexity", config=PerplexityConfig)
