"""Korean quality signals beyond FineWeb-2's rules (docs/data.md, "Korean quality signals"), as a datatrove filter
that records them on every Korean prose document and removes one only where a threshold is set.

    metadata.korean_signals = {
        "hanja_ratio":      Hanja / letters (mixed-script laws and scholarship are high; Chinese is not Korean),
        "chat_noise":       characters in runs of jamo (ㅋㅋ, ㅎㅎ, ㅠㅠ, ㄷㄷ; halfwidth ﾻﾻ, conjoining ᄏᄏ from NFKC,
                            spaced ㅋ ㅋ ㅋ) and emoticons (^^, ^_^,
                            T_T, ;;, emoji) / non-space characters: chat and comment text,
        "sentence_endings": share of the Korean sentences ending in 다 / 요 / 까 (declarative, polite, formal
                            question: 한다. 합니다. 해요. 합니까?), None under MIN_SENTENCES; menus, titles, lists
                            and chat lines lower it,
        "eojeol_length":    mean characters of the words holding Hangul; long means missing spaces (PDF text
                            whose spaces were never drawn, glued web text),
        "spacing_errors":   with `spacing = true`: spaces Kiwi's spacing model would add or remove per 100 such
                            words (it also splits compounds writers may join, so healthy text is not at 0),
    }

Thresholds are 0 (off) by default: the signals are metadata for a later mix step to weigh, as the reference data
notes advise, since no informal Korean corpus was at hand here to set them on (`benchmarks/RESULTS.md`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from axk1.data.filter_entry import FilterEntry
from axk1.data.quality_filter import skips_prose_filters
from axk1.text.korean import HANJA_CLASS, SYLLABLE_CLASS, cut_long_runs, get_kiwi, kiwi_each, normalize_text

MIN_SENTENCES = 3  # fewer Korean sentences than this: no sentence_endings (one title line would decide it)
ENDINGS = ("다", "요", "까")

# Laughter and crying written in jamo (ㅋㅋ, ㅎㅎ, ㅠㅠ, ㄷㄷ) in each of the forms text arrives in: compatibility jamo
# (the keyboard's), halfwidth jamo (ﾻﾻ, older Korean sites), and conjoining jamo (ᄏᄏ, ᅲᅲ: what NFKC makes of ㅋ and
# ㅠ, so any NFKC-normalised corpus holds them). A conjoining run counts only within one class (initial consonants,
# vowels, finals): old Hangul (ᄒᆞᆯ) alternates the classes, never repeats one. One jamo repeated with single spaces
# between (ㅋ ㅋ ㅋ) is the same noise; different jamo spaced apart (ㄱ ㄴ ㄷ) are a list of letters, not counted.
_COMPAT_JAMO = "\u3131-\u318e\uffa1-\uffdc"
_JAMO_RUN_RE = re.compile(f"[{_COMPAT_JAMO}]{{2,}}|[\u1100-\u115f\ua960-\ua97c]{{2,}}|[\u1160-\u11a7\ud7b0-\ud7c6]{{2,}}"
                          f"|[\u11a8-\u11ff\ud7cb-\ud7fb]{{2,}}|([{_COMPAT_JAMO}\u1100-\u11ff])(?: \\1)+")
# ^^ ^_^ ^.^ ^-^, T_T T.T ㅠ_ㅠ ㅜ.ㅜ, ;; and longer, and pictographic emoji
_EMOTICON_RE = re.compile(r"\^[_.\-]?\^|[Tㅠㅜ][_.][Tㅠㅜ]|;{2,}|[\U0001F300-\U0001FAFF\u2600-\u27BF]")
_HANJA_RE = re.compile(f"[{HANJA_CLASS}]")
_SENTENCE_RE = re.compile(r"[^.!?\n]+[.!?]*")
_TRAILING_RE = re.compile(r"[\s.!?~…\"'”’)\]」』>]+$")
_SYLLABLE_RE = re.compile(f"[{SYLLABLE_CLASS}]")
_WORD_EDGE_RE = re.compile(r"^\W+|\W+$")


@dataclass
class KoreanSignalsConfig:
    enabled: bool = True             # record the signals (below: thresholds; 0 = off)
    spacing: bool = False            # also spacing_errors (Kiwi's spacing model: about the cost of a tokenization)
    max_chat_noise: float = 0.0      # e.g. 0.02: more than 2% of the characters in ㅋㅋ-style runs and emoticons
    min_sentence_endings: float = 0.0  # e.g. 0.3
    max_eojeol_length: float = 0.0   # e.g. 8 (healthy Korean: about 3-4 characters a word)
    # per 100 words, e.g. 40 (needs spacing = true): real bills reach 30.2 (30 removed 3 of konlpy's 10), copies of
    # the real texts with 30% of their spaces dropped measure 18 to 58 (12 of 25 over 40), fully glued 144 and over
    max_spacing_errors: float = 0.0


def chat_noise(text: str) -> float:
    chars = sum(1 for c in text if not c.isspace())
    if not chars:
        return 0.0
    jamo = sum(len(m.group(0).replace(" ", "")) for m in _JAMO_RUN_RE.finditer(text))
    noise = jamo + sum(len(m) for m in _EMOTICON_RE.findall(text))
    return noise / chars


def sentence_endings(text: str) -> float | None:
    """Share of the sentences holding Hangul that end in 다 / 요 / 까 (before closing punctuation)."""
    ends = [_TRAILING_RE.sub("", s) for s in _SENTENCE_RE.findall(text) if _SYLLABLE_RE.search(s)]
    ends = [s for s in ends if s]
    if len(ends) < MIN_SENTENCES:
        return None
    return sum(s.endswith(ENDINGS) for s in ends) / len(ends)


def korean_words(text: str) -> list[str]:
    """The space-separated words holding a Hangul syllable, punctuation at their edges cut."""
    words = (_WORD_EDGE_RE.sub("", w) for w in text.split())
    return [w for w in words if _SYLLABLE_RE.search(w)]


def spacing_errors(text: str) -> float:
    """Spaces Kiwi's spacing model would add or remove between Hangul words, per 100 of those words."""
    kiwi = get_kiwi()
    if kiwi is None:
        raise ImportError("[filters.korean_signals] spacing needs kiwipiepy: pip install 'kiwipiepy<0.22'")
    paras = [cut_long_runs(p) for p in text.split("\n") if _SYLLABLE_RE.search(p)]
    words = sum(len(korean_words(p)) for p in paras)
    if not words:
        return 0.0
    changes = sum(_space_changes(p, spaced) for p, spaced in zip(paras, kiwi_each(kiwi.space, paras,
                                                                                 reset_whitespace=True)))
    return 100.0 * changes / words


def _space_flags(text: str) -> list[bool]:
    """For each non-space character: whether a space comes before it."""
    flags, gap = [], False
    for ch in text:
        if ch.isspace():
            gap = True
        else:
            flags.append(gap)
            gap = False
    return flags


def _space_changes(original: str, spaced: str) -> int:
    """Places between two Hangul syllables where one text has a space and the other not (same characters)."""
    a, b = _space_flags(original), _space_flags(spaced)
    chars = [c for c in original if not c.isspace()]
    if len(a) != len(b):  # Kiwi changed a character (never seen): count nothing rather than misalign
        return 0
    return sum(1 for i in range(1, len(chars)) if a[i] != b[i]
               and _SYLLABLE_RE.match(chars[i]) and _SYLLABLE_RE.match(chars[i - 1]))


def korean_signals(text: str, spacing: bool = False) -> dict:
    """The signals of one text (see the module's docstring)."""
    text = normalize_text(text)
    letters = sum(1 for c in text if c.isalpha())
    words = korean_words(text)
    out = {"hanja_ratio": round(len(_HANJA_RE.findall(text)) / letters, 4) if letters else 0.0,
           "chat_noise": round(chat_noise(text), 4),
           "sentence_endings": None if (e := sentence_endings(text)) is None else round(e, 4),
           "eojeol_length": round(sum(map(len, words)) / len(words), 2) if words else 0.0}
    if spacing:
        out["spacing_errors"] = round(spacing_errors(text), 2)
    return out


def signals_reason(signals: dict, cfg: KoreanSignalsConfig) -> str | None:
    """The first threshold the signals cross, as the exclusion's reason, or None."""
    if cfg.max_chat_noise and signals["chat_noise"] > cfg.max_chat_noise:
        return "chat_noise"
    e = signals["sentence_endings"]
    if cfg.min_sentence_endings and e is not None and e < cfg.min_sentence_endings:
        return "few_sentence_endings"
    if cfg.max_eojeol_length and signals["eojeol_length"] > cfg.max_eojeol_length:
        return "eojeol_too_long"
    if cfg.max_spacing_errors and signals.get("spacing_errors", 0.0) > cfg.max_spacing_errors:
        return "spacing_errors"
    return None


class KoreanSignalsFilter(BaseFilter):
    """Records metadata.korean_signals on Korean prose documents (metadata.language == "ko", from the language
    filter); removes those over a threshold. Documents marked skip_filters are scored and kept."""

    name = "axk1 Korean signals"

    def __init__(self, config: KoreanSignalsConfig, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.config = config

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if doc.metadata.get("language") != "ko" or doc.metadata.get("source_type") == "code":
            return True
        signals = korean_signals(doc.text, self.config.spacing)
        doc.metadata["korean_signals"] = signals
        if skips_prose_filters(doc):
            return True
        reason = signals_reason(signals, self.config)
        return (False, reason) if reason else True


def korean_signals_step(cfg: KoreanSignalsConfig, exclusions) -> KoreanSignalsFilter | None:
    """The extract stage's entry (axk1/data/filter_steps.py): on unless `[filters.korean_signals] enabled = false`;
    removals (only where a threshold is set) go to excluded/korean_signals/."""
    if not cfg.enabled:
        return None
    if cfg.max_spacing_errors and not cfg.spacing:
        raise ValueError("[filters.korean_signals] max_spacing_errors needs spacing = true (the rate is measured "
                         "only then)")
    for name in ("max_chat_noise", "min_sentence_endings", "max_eojeol_length", "max_spacing_errors"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
            raise ValueError(f"[filters.korean_signals] {name} must be a number >= 0 (0 = off), got {value!r}")
    return KoreanSignalsFilter(cfg, exclusion_writer=exclusions("korean_signals"))


KOREAN_SIGNALS_STEP = FilterEntry(korean_signals_step, table="korean_signals", config=KoreanSignalsConfig)
