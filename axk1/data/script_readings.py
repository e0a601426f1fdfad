"""Whether a single-byte reading of a page is text of its script: how the charset guesser tells a Greek, Thai or
Vietnamese page from its mojibake in another codepage (axk1/data/charset.py).

A single-byte codepage decodes any bytes, and a detector names some codec for them. The wrong reading is still
letters, but not a script's text as written:
  - Greek CP1253 read as Cyrillic CP1251 turns each accented lowercase vowel (ά έ ή ί) into a Cyrillic capital
    inside a lowercase word ("ЕрйкпйнщнЯб" for "Επικοινωνία"); read as KOI8-R, lowercase Greek is uppercase Cyrillic
    after a lowercase first letter. A word of one script does not switch from lowercase to uppercase in its middle.
  - Thai CP874 read as CP949 is Hangul beside Hanja, kana and symbols ("뼙鬼蘆"), as CP932 halfwidth katakana.
    Thai as written puts each vowel sign and tone mark after a consonant and each leading vowel (เ แ โ ใ ไ) before
    one, and seldom writes the letters of Pali loans or obsolete ones (ฐ ฑ ฆ ฦ ...); Korean or Latin bytes read as
    CP874 break that.
  - Vietnamese CP1258 spells most toned vowels as a letter and a combining tone mark ("Nộ" is ô + U+0323); read as
    CP1252 the marks are Ò ò Ì ì Þ ("Nôòi").
A reading is its script's when its non-ASCII letters are all that script's, several of the script's commonest
letters are there (charset_normalizer's letter-frequency tables, constant.FREQUENCIES), and at most one in a
hundred of its letters breaks the rule above.
"""

from __future__ import annotations

import unicodedata

from axk1.text.korean import is_hangul

# script: (the prefix of its letters' Unicode names, its five commonest letters)
SCRIPTS = {
    "greek": ("GREEK", "ατοιε"),
    "cyrillic": ("CYRILLIC", "оеаин"),  # Russian's; Bulgarian's and Ukrainian's first five are these letters too
    "thai": ("THAI", "านรอก"),
}
# the single-byte codepages of each script that a page without a declared charset is read in
CODEPAGES = {"greek": ("cp1253", "iso8859-7"), "cyrillic": ("cp1251", "koi8-r", "koi8-u", "iso8859-5", "cp866",
                                                                 "mac-cyrillic"),
             "thai": ("cp874", "iso8859-11", "tis-620")}
SCRIPT_OF = {codec: script for script, codecs in CODEPAGES.items() for codec in codecs}
MIN_COMMONEST = 3
BREAKS_PER_LETTER = 0.01

_THAI_CONSONANTS = {chr(c) for c in range(0x0E01, 0x0E2F)}
_THAI_MARKS = {"\u0e31", *map(chr, range(0x0E34, 0x0E3B)), *map(chr, range(0x0E47, 0x0E4F))}  # above / below
_THAI_LEADING = set("เแโใไ")
_THAI_FOLLOWING = set("ะาำๅ")
_THAI_DIGITS = set("๐๑๒๓๔๕๖๗๘๙")
# letters and signs modern Thai seldom or never writes: ฃ ฅ ฦ are obsolete, ๚ ๛ ๎ marks of old manuscripts, and ฐ ฑ
# ฒ ฆ ฌ ฎ ฏ ฬ letters of Pali and Sanskrit loans. Korean CP949 read as CP874 is full of them (its lead bytes B0-C8
# are ฐ-ศ): over one Thai letter in RARE_THAI_SHARE is no Thai
_THAI_RARE = set("ฃฅฦ๚๛๎ฐฑฒฆฌฎฏฬ")
RARE_THAI_SHARE = 0.03


def _sample(text: str) -> str:
    return text[:65536]


def _case_breaks(text: str) -> int:
    """Uppercase letters right after a lowercase one, one of them outside ASCII (JavaScript's camelCase aside), and
    a Greek final sigma before a letter."""
    return sum(1 for a, b in zip(text, text[1:]) if (a.islower() and b.isupper() and not (a + b).isascii())
               or (a == "ς" and b.isalpha()))


def _thai_breaks(text: str) -> int:
    """Thai signs where Thai spelling never puts them: a vowel sign or tone mark not after a consonant or another
    mark, a following vowel not after a Thai letter or mark, a leading vowel not before a consonant."""
    breaks = 0
    for i, ch in enumerate(text):
        before = text[i - 1] if i else " "
        after = text[i + 1] if i + 1 < len(text) else " "
        if ch in _THAI_MARKS:
            breaks += before not in _THAI_CONSONANTS and before not in _THAI_MARKS
        elif ch in _THAI_FOLLOWING:
            breaks += before not in _THAI_CONSONANTS and before not in _THAI_MARKS and before not in _THAI_FOLLOWING
        elif ch in _THAI_LEADING:
            breaks += after not in _THAI_CONSONANTS
        elif ch in _THAI_DIGITS or ch == "฿":  # a numeral or the baht sign inside a word
            breaks += before in _THAI_CONSONANTS or after in _THAI_CONSONANTS or before in _THAI_MARKS
    return breaks


def reads_as(text: str, script: str) -> bool:
    """Whether the text's non-ASCII letters are all of `script` ("greek", "cyrillic", "thai"), with at least
    MIN_COMMONEST of its five commonest letters, and at most one break of its spelling per hundred letters."""
    prefix, commonest = SCRIPTS[script]
    sample = _sample(text)
    letters = [ch for ch in sample if not ch.isascii() and (ch.isalpha() or unicodedata.category(ch) == "Mn")]
    if not letters or not all(unicodedata.name(ch, "").startswith(prefix) for ch in letters):
        return False
    lower = {ch.lower() for ch in letters}
    if sum(ch in lower for ch in commonest) < MIN_COMMONEST:
        return False
    if script == "thai" and sum(ch in _THAI_RARE for ch in letters) > RARE_THAI_SHARE * len(letters):
        return False
    breaks = _thai_breaks(sample) if script == "thai" else _case_breaks(sample)
    return breaks <= BREAKS_PER_LETTER * len(letters)


def _vietnamese_letters() -> set[str]:
    tones = ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")
    vowels = "aăâeêioôơuưy"
    return {unicodedata.normalize("NFC", v + t) for v in vowels for t in tones} | {"đ"}


VIETNAMESE = _vietnamese_letters()
VIETNAMESE_TONES = set("\u0300\u0301\u0303\u0309\u0323")  # CP1258's five combining marks
VIETNAMESE_COMMONEST = "đươă"  # its letters no other Latin alphabet here has, đ ư among its commonest
_VOWELS = {ch for ch in VIETNAMESE if unicodedata.normalize("NFD", ch)[0] in "aeiouy"}


def reads_as_vietnamese(text: str) -> bool:
    """Whether a CP1258 reading is Vietnamese: combining tone marks, each after a vowel; its letters, once each mark
    is joined to its vowel (NFC), all of the Vietnamese alphabet, with at least two of đ ư ơ ă. A French or
    Portuguese page read as CP1258 has no tone marks, a Czech one a mark after a consonant (ě is CP1258's acute)."""
    sample = _sample(text)
    marks = [i for i, ch in enumerate(sample) if unicodedata.category(ch) == "Mn"]
    if not marks or any(sample[i] not in VIETNAMESE_TONES or sample[i - 1].lower() not in _VOWELS for i in marks):
        return False
    letters = {ch.lower() for ch in unicodedata.normalize("NFC", sample) if ch.isalpha() and not ch.isascii()}
    return letters <= VIETNAMESE and len(letters & set(VIETNAMESE_COMMONEST)) >= 2


def strict_decode(data: bytes, codec: str) -> str | None:
    """`data` read in `codec`, or None where a byte does not decode in it."""
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def script_reading(payload: bytes, guess: str, guessed: str) -> tuple[str, str] | None:
    """(text, codec) of a page whose single-byte guess reads as no script's text, in the codepage that does: Vietnamese
    CP1258 (the guess, or CP1252 that replaced it, read it as "Nôòi"); for a guess of a Greek or Cyrillic codepage,
    the first of CP1253, ISO-8859-7 and CP1251 that reads as its script (Greek CP1253 pages were read as CP1251 and
    KOI8-R, "ЕрйкпйнщнЯб"). None, the guess's own rules going on, else. The caller asks that it reads as HTML."""
    if (vietnamese := strict_decode(payload, "cp1258")) is not None and reads_as_vietnamese(vietnamese):
        return vietnamese, "cp1258"
    script = SCRIPT_OF.get(guess)
    if script is None or script == "thai" or reads_as(guessed, script):
        return None
    return next(((text, codec) for codec in ("cp1253", "iso8859-7", "cp1251")
                 if (text := strict_decode(payload, codec)) is not None and reads_as(text, SCRIPT_OF[codec])), None)


def thai_reading(payload: bytes) -> str | None:
    """The page as CP874 when it reads as Thai and its CP949 reading is no Korean of Hangul alone: Thai read as
    CP949 mixes Hangul with Hanja, kana and symbols ("뼙鬼蘆 輸㏅촹쨔"); a Thai page whose runs of letters were all
    of even length was read so, or as CP932 halfwidth katakana. The caller asks that it reads as HTML."""
    text = strict_decode(payload, "cp874")
    if text is None or not reads_as(text, "thai"):
        return None
    korean = strict_decode(payload, "cp949")
    hangul_alone = korean is not None and all(is_hangul(ch) or ch.isascii() or not ch.isalpha() for ch in korean)
    return None if hangul_alone else text
