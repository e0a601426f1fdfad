"""Whether an AIME file is the set the model card measured: AIME 2025's answers, in the set's language.

The problem count alone let any 30 problems through: AIME 2024 stand-ins, or the Korean and English files swapped,
were set beside the published AIME 2025 numbers. A copy's answers must be the key's (as a multiset: copies number
and order the problems differently), and each statement must be in its set's language.
"""

from __future__ import annotations

from collections import Counter

from axk1.text.prose import MIN_HANGUL_SHARE, prose, prose_hangul_share

# AIME 2025 I and II, problems 1-15 each (docs/evaluation.md, "AIME 2025": the answer key).
ANSWER_KEY = {
    "I": (70, 588, 16, 117, 279, 504, 821, 77, 62, 81, 259, 510, 204, 60, 735),
    "II": (468, 49, 82, 106, 336, 293, 237, 610, 149, 907, 113, 19, 248, 104, 240),
}
KEY_ANSWERS = Counter(answer for paper in ANSWER_KEY.values() for answer in paper)
# An English statement's share of ASCII among its prose's letters (the Korean one: axk1/text/korean.py's
# MIN_HANGUL_SHARE, as for a translation). On the public AIME 2025 files the English statements are 1.0 ASCII and 0
# Hangul, the Korean ones 0.89-1.0 Hangul (prose_hangul_share).
ENGLISH_ASCII_SHARE = 0.9


def statement_language(text: str) -> str:
    """"ko" (Korean prose), "en" (nearly all ASCII letters) or "other" (another script, or no prose)."""
    words = prose(text)
    letters = [c for c in words if c.isalpha()]
    if not letters:
        return "other"
    share = prose_hangul_share(words)
    if share is not None and share >= MIN_HANGUL_SHARE:
        return "ko"
    return "en" if sum(c.isascii() for c in letters) >= ENGLISH_ASCII_SHARE * len(letters) else "other"


def answers_off_key(golds: list[int]) -> int:
    """How many of a 30-problem set's answers are not AIME 2025's (0: the key's multiset exactly)."""
    return sum((Counter(golds) - KEY_ANSWERS).values())


def copy_check(statements: dict[str, str], golds: dict[str, int], lang: str) -> dict:
    """What a run records about its AIME copy (info): `answers_off_key`, how many answers are not AIME 2025's
    (None unless the whole set of 30 was loaded: part of it is not comparable anyway), and `not_in_language`, the
    ids of the statements not in `lang`."""
    whole = len(golds) == sum(KEY_ANSWERS.values())
    return {"answers_off_key": answers_off_key(list(golds.values())) if whole else None,
            "not_in_language": [pid for pid, text in statements.items() if statement_language(text) != lang]}


def copy_caveats(info: dict, lang: str) -> list[str]:
    """Why the copy a run loaded is not the card's set (AIMETask.comparison_caveats)."""
    why = []
    off = info.get("answers_off_key")
    if off:
        why.append(f"{off} of its answers are not in AIME 2025's answer key (another set, or a defective copy)")
    strays = info.get("not_in_language") or []
    if strays:
        name = {"en": "English", "ko": "Korean"}[lang]
        why.append(f"{len(strays)} of {info.get('n_problems', '?')} statements are not in {name} (first: "
                   f"{strays[0]}; a swapped or foreign file?)")
    return why
