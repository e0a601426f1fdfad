"""Text measures used by the synthetic-data checks: language by script and the key spans of an answer (Hangul
ranges in axk1.text.korean, n-grams in axk1.text.ngrams)."""

from __future__ import annotations

import re

from axk1.text.korean import hangul_ratio, is_hangul
from axk1.text.ngrams import words

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Korean particles and endings that attach to a noun in an answer but not in the passage ("서울은" vs "서울").
_KO_SUFFIXES = sorted(["은", "는", "이", "가", "을", "를", "의", "에", "에서", "으로", "로", "와", "과", "도", "만",
                       "입니다", "이다", "이며", "이고", "에게", "께서", "까지", "부터", "처럼", "보다", "라고", "이라고",
                       "했다", "한다", "하다", "합니다", "했습니다", "된다", "됩니다", "적", "들"], key=len, reverse=True)
_EN_STOP = set("""a an the and or but of to in on at by for with from as is are was were be been being this that these
those it its which what who whom whose when where why how there their they them then than so such not no can
could would should will shall may might must do does did done have has had having into onto about over under
also only very more most some any each other both either neither per via""".split())


def latin_ratio(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(ch.isascii() for ch in letters) / len(letters)


def hangul_language(text: str) -> str:
    """'ko' or 'en' by script, which is what the checks need (teachers drift from Korean into English)."""
    return "ko" if hangul_ratio(text) >= 0.3 else "en"


def _strip_korean_suffix(word: str) -> str:
    for suffix in _KO_SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix):
            return word[: -len(suffix)]
    return word


def key_spans(answer: str) -> list[str]:
    """The checkable content of an answer: numbers, Korean content words (particles stripped) and English
    content words of 4+ letters that are not stop words."""
    spans = list(dict.fromkeys(_NUMBER.findall(answer)))
    for w in words(answer):
        if w.isdigit():
            continue
        if any(is_hangul(ch) for ch in w):
            stem = _strip_korean_suffix(w)
            if len(stem) >= 2:  # one syllable ("명", "수") is too weak to check
                spans.append(stem)
        elif len(w) >= 4 and w not in _EN_STOP:
            spans.append(w)
    return list(dict.fromkeys(spans))


def _number_key(span: str) -> str:
    """"7,799,401" and "7799401" are one number; "2.1" keeps its point."""
    return span.replace(",", "")


def grounding(answer: str, passage: str) -> tuple[float, list[str]]:
    """(share of the answer's key spans found in the passage, the spans not found). Numbers are compared with the
    passage's numbers as numbers: the word haystack splits "2.1" into "2 1" and "7,799,401" into "7 799 401"."""
    spans = key_spans(answer)
    if not spans:
        return 0.0, []
    haystack = " ".join(words(passage))
    numbers = {_number_key(n) for n in _NUMBER.findall(passage)}
    missing = [s for s in spans
               if not (_number_key(s) in numbers if _NUMBER.fullmatch(s) else s.lower() in haystack)]
    return 1 - len(missing) / len(spans), missing
