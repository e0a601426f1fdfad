"""Which Latin-script language's letters a text's accented letters are: how the charset guesser tells a page in
one single-byte Latin codepage from its mojibake in another (axk1/data/charset.py, choose_reading).

A single-byte codepage decodes any bytes, so the reading of a page in the wrong one is text too; only its accented
letters come from no one language: Lithuanian CP1257 read as CP1250 is "savivaldybë praneđa" (ë of Albanian, đ of
Croatian), Latvian "tîmekďa bieţâk" (î of French, ď of Czech, ţ of Romanian); as CP1252, "praneða keèiasi". A
reading is a language's when its accented letters are all of that language's alphabet and hold the language's
commonest accented letter, which a page of a few sentences has: Latvian's "Rīgas pilsētas ... informē" read as
CP1252, "Rîgas pilsçtas ... informç", holds letters of the French alphabet alone (and of the Turkish), but no é
(nor Turkish ı).
"""

from __future__ import annotations

import unicodedata

# language: (its accented lowercase letters, its commonest accented letter). The commonest letters are those of
# charset_normalizer's letter-frequency tables (constant.FREQUENCIES, the 26 commonest letters of each language);
# Latvian, which it lacks, has ā (the -ā, -ām, -ās of its case endings).
BALTIC = {  # the languages CP1257 is written for
    "lt": ("ąčęėįšųūž", "ė"),
    "lv": ("āčēģīķļņšūž", "ā"),
    "et": ("äõöüšž", "ä"),
}
OTHER = {  # the languages of the other single-byte Latin codepages a page is guessed as (CP1250, CP1252, CP1254)
    "pl": ("ąćęłńóśźż", "ł"), "cs": ("áčďéěíňóřšťúůýž", "í"), "sk": ("áäčďéíĺľňóôŕšťúýž", "á"),
    "hu": ("áéíóöőúüű", "á"), "sl": ("čćđšž", "č"), "hr": ("čćđšž", "č"), "ro": ("ăâîșşțţ", "ă"),
    "de": ("äöüß", "ü"), "fr": ("àâæçéèêëîïôœùûüÿ", "é"), "es": ("áéíñóúü", "ó"), "pt": ("áâãàçéêíóôõú", "ã"),
    "it": ("àèéìíîòóùú", "è"), "nl": ("áéíóúàèëïöü", "ë"), "da": ("æøåé", "å"), "no": ("æøåé", "å"),
    "sv": ("åäöé", "ä"), "fi": ("åäöšž", "ä"), "tr": ("çğıöşüâîû", "ı"),
    # Icelandic, which charset_normalizer lacks, has ð (the -ð of its participles and neuters: "verður", "það");
    # without it an Icelandic CP1252 page was read as CP1250 "höfuđborg", "stćrsta"
    "is": ("áðéíóúýþæö", "ð"),
}


def accented_letters(text: str) -> set[str]:
    """The text's letters outside ASCII, lowercased. Turkish İ is the capital of ASCII i: its lowercase, "i̇" (i and a
    combining dot), is no letter of any alphabet here, and a Turkish page holding one was no Turkish."""
    return {low for ch in text if not ch.isascii() and ch.isalpha() and not (low := ch.lower()[0]).isascii()}


def language_of(letters: set[str], alphabets: dict[str, tuple[str, str]]) -> str | None:
    """The first language of `alphabets` whose alphabet holds all of `letters` and whose commonest accented letter
    is among them, or None (no letters: no language)."""
    return next((lang for lang, (alphabet, commonest) in alphabets.items()
                 if commonest in letters and letters <= set(alphabet)), None)


LANGUAGES = BALTIC | OTHER


def is_latin(letters: set[str]) -> bool:
    """Letters that are all Latin script, or none (a DOS codepage's guess, cp850 or cp775, reads a Turkish page's
    letters as box-drawing signs); a guess of a Greek or Cyrillic codepage is no Latin reading."""
    return all(unicodedata.name(ch, "").startswith("LATIN") for ch in letters)


# letters of Icelandic and Faroese alone, where CP1252 has the Turkish and Baltic letters of CP1254 / CP1257
# ("Şişli" read as CP1252 is "Þiþli", "šalis" is "ðalis")
_RARE_LATIN = set("ðþÐÞ")


def odd_in_words(text: str) -> int:
    """How unlike a Western page's words the text is: non-ASCII characters other than letters between two letters
    ("za¿ó³æ": Polish CP1250 read as CP1252), and Icelandic letters. A Western page's `£`, `©` and quotes stand
    between words, and its accented letters are letters."""
    sample = text[:65536]
    return sum(1 for i in range(1, len(sample) - 1) if sample[i] in _RARE_LATIN or (
        not sample[i].isascii() and not sample[i].isalpha() and sample[i - 1].isalpha() and sample[i + 1].isalpha()))


def _unlike_words(text: str) -> int:
    """odd_in_words, control characters and combining marks: a reading may turn letters into these, which are no
    letters, so the letters left may still be one language's (a Windows page read as ISO-8859 has C1 controls for
    its š, ž and quotes; Italian read as CP1258 has a combining accent for its ì, "luned\u0301")."""
    sample = text[:65536]
    return odd_in_words(sample) + sum(1 for ch in sample if unicodedata.category(ch) in ("Cc", "Mn")
                                      and ch not in "\t\n\r")


def _one_language(letters: set[str]) -> bool:
    """Letters of one language, and at least two: one letter is no evidence (Italian "è" read as CP1250 is
    Croatian "č", Lithuanian "prognozė" read as CP1252 Dutch "prognozë")."""
    return len(letters) >= 2 and language_of(letters, LANGUAGES) is not None


def choose_reading(readings: dict[str, str], guess: str) -> str | None:
    """Of a page's readings in single-byte Latin codepages (codec: text, in order of preference), the one whose
    accented letters are one language's (language_of, at least two letters); of several, those with the fewest non-letters inside words
    and control characters (ISO-8859-2 Polish read as CP1250 has `±` for ą, a CP1250 page read as ISO-8859-2 a control
    for š) and of those the guess's, else the first. None when no reading is a language's: Czech and Hungarian CP1250
    read as CP1252 ("pøíliš", "fõváros") and Turkish CP1254 read as CP1250 ("ţehir", "sýnav") are no one
    language's, and charset_normalizer's guess, or the CP1252 that replaced it, was kept."""
    ours = {codec: text for codec, text in readings.items() if _one_language(accented_letters(text))}
    if not ours:
        return None
    fewest = min(map(_unlike_words, ours.values()))
    fit = [codec for codec, text in ours.items() if _unlike_words(text) == fewest]
    return guess if guess in fit else fit[0]
