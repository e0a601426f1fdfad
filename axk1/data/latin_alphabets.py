"""Which Latin-script language's letters a text's accented letters are: how the charset guesser tells a Baltic
page from its mojibake (axk1/data/charset.py).

A single-byte codepage decodes any bytes, so the reading of a page in the wrong one is text too; only its accented
letters come from no one language: Lithuanian CP1257 read as CP1250 is "savivaldybë praneđa" (ë of Albanian, đ of
Croatian), Latvian "tîmekďa bieţâk" (î of French, ď of Czech, ţ of Romanian); as CP1252, "praneða keèiasi". A
reading is a language's when its accented letters are all of that language's alphabet and hold the language's
commonest accented letter, which a page of a few sentences has: Latvian's "Rīgas pilsētas ... informē" read as
CP1252, "Rîgas pilsçtas ... informç", holds letters of the French alphabet alone (and of the Turkish), but no é
(nor Turkish ı).
"""

from __future__ import annotations

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
}


def accented_letters(text: str) -> set[str]:
    """The text's letters outside ASCII, lowercased."""
    return {ch.lower() for ch in text if not ch.isascii() and ch.isalpha()}


def language_of(letters: set[str], alphabets: dict[str, tuple[str, str]]) -> str | None:
    """The first language of `alphabets` whose alphabet holds all of `letters` and whose commonest accented letter
    is among them, or None (no letters: no language)."""
    return next((lang for lang, (alphabet, commonest) in alphabets.items()
                 if commonest in letters and letters <= set(alphabet)), None)
