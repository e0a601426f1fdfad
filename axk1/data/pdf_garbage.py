"""Garbage in a PDF text layer, judged per span (a line or a word), not per page.

A page is a mix: a matrix drawn with private-use bracket glyphs or a figure with a broken text layer sits
next to good body text. So bad characters are removed, bad words and lines are dropped with a counted reason,
and a page is given up (to OCR, or rejected) only when nothing usable is left of it or the whole page shows a
page-wide defect (Korean with no word spaces).

Garbled Hangul: a font whose character map is wrong turns Latin words into Hangul syllables (`ko.TEX` ->
`ko줮쥔쥅쥘`). Real Korean uses the 2,350 syllables of KS X 1001 (the EUC-KR set) for nearly everything;
random code points from the 11,172 possible syllables mostly fall outside it. A word made mostly of such rare
syllables is dropped as `garbled_hangul`; one rare syllable in a word (똠, 햏) is kept.

One such map is common in Korean TeX output: Latin glyphs set from a Hangul subfont whose ToUnicode sends byte
c to U+XX00 + c, so `ko.TEX` reads U+C96B… and `2021` reads 줲줰줲줱. When a document shows this (runs of
rare syllables whose low bytes are printable ASCII, all in one 256-block, on at least two lines), runs in that
block are read back as ASCII and counted as `garbled_hangul_repaired`; any other garbled word is dropped.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from axk1.text.korean import count_syllables, hangul_space_ratio, is_syllable

_CONTROL_RE = re.compile("[\x00-\x01\x03-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd\ufffe\uffff]")
_PRIVATE_RE = re.compile("[\ue000-\uf8ff]")
_CID_RE = re.compile(r"\(cid:\d+\)")
# Korean emphasis dots (드러냄표, TeX's \dotemph) are separate "˙" glyphs placed over each syllable
_EMPHASIS_RE = re.compile("\u02d9(?=[\uac00-\ud7a3])|(?<=[\uac00-\ud7a3])\u02d9")


@lru_cache(maxsize=4096)
def is_common_syllable(ch: str) -> bool:
    """A Hangul syllable in KS X 1001's 2,350: two bytes in EUC-KR (Python's codec writes the other 8,822 as
    an eight-byte jamo sequence)."""
    try:
        return len(ch.encode("euc-kr")) == 2
    except UnicodeEncodeError:
        return False


# Middle Korean is written with conjoining jamo and tone marks next to rare syllables (便安ᄒᆞᆫ〮): not garbled
_OLD_HANGUL_RE = re.compile("[\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff\u302e\u302f]")


def garbled_word(word: str) -> bool:
    """At least two rare syllables, and they are at least half of the word's syllables (not Middle Korean)."""
    if _OLD_HANGUL_RE.search(word):
        return False
    syllables = [ch for ch in word if is_syllable(ch)]
    if len(syllables) < 2:
        return False
    rare = sum(not is_common_syllable(ch) for ch in syllables)
    return rare >= 2 and 2 * rare >= len(syllables)


def _block(ch: str) -> int | None:
    """The 256-code block of a syllable whose low byte is printable ASCII (a candidate for the byte map)."""
    o = ord(ch)
    return o & ~0xFF if is_syllable(ch) and 0x20 <= (o & 0xFF) <= 0x7E else None


def _runs(text: str):
    """(start, end, block) of maximal runs of characters in one candidate block."""
    i, n = 0, len(text)
    while i < n:
        b = _block(text[i])
        if b is None:
            i += 1
            continue
        j = i + 1
        while j < n and _block(text[j]) == b:
            j += 1
        yield i, j, b
        i = j


def byte_mapped_blocks(texts: list[str]) -> frozenset[int]:
    """Blocks that a document's garbled runs (>= 2 rare syllables, at least half the run) fall in, on >= 2 lines."""
    lines_with: Counter = Counter()
    for text in texts:
        if not _has_rare(text):
            continue
        found = set()
        for i, j, b in _runs(text):
            rare = sum(not is_common_syllable(ch) for ch in text[i:j])
            if rare >= 2 and 2 * rare >= j - i:
                found.add(b)
        lines_with.update(found)
    return frozenset(b for b, n in lines_with.items() if n >= 2)


def _repair(text: str, blocks: frozenset[int], dropped: Counter) -> str:
    """Runs in a byte-mapped block read back as ASCII: those with a rare syllable, and common ones that end a
    word and map to punctuation (줬 is a Korean syllable but `되어줬 ` can only be `되어, `)."""
    out, last = [], 0
    for i, j, b in _runs(text):
        run = text[i:j]
        punct = (j == len(text) or text[j] == " ") and all(chr(ord(ch) & 0xFF) in ",.;:!?)" for ch in run)
        if b in blocks and (punct or any(not is_common_syllable(ch) for ch in run)):
            out += [text[last:i], "".join(chr(ord(ch) & 0xFF) for ch in text[i:j])]
            last = j
            dropped["garbled_hangul_repaired"] += 1
    return "".join(out) + text[last:] if out else text


_LATIN1_LETTER_RE = re.compile("[\u00c0-\u00ff]")
_LATIN1_RE = re.compile("[\u00a0-\u00ff]")
_HANGUL_SYLLABLE_RE = re.compile("[\uac00-\ud7a3]")


@lru_cache(maxsize=1)
def _rare_re() -> re.Pattern:
    return re.compile("[" + "".join(chr(c) for c in range(0xAC00, 0xD7A4) if not is_common_syllable(chr(c))) + "]")


def _has_rare(text: str) -> bool:
    """A syllable outside KS X 1001 (one regex over a class of the 8,822 others: C speed on every line)."""
    return _rare_re().search(text) is not None


def _legacy_junk(text: str, n_control: int, visible: int) -> bool:
    """A font without a usable map read as Latin-1: control codes among Latin-1 symbols (`'¯(¼\x88)G \x07;`).
    Controls never occur in real text, accented letters do, so both are needed, together 10% of the line."""
    n_latin1 = len(_LATIN1_RE.findall(text))
    return n_latin1 > 0 and n_control + n_latin1 >= max(3, 0.1 * visible)


def _mojibake(text: str) -> bool:
    """UTF-8 read as Latin-1: mostly accented Latin letters, and no Hangul (a line listing `ò ó ô` in Korean
    prose is not mojibake)."""
    if not _LATIN1_LETTER_RE.search(text) or _HANGUL_SYLLABLE_RE.search(text):
        return False
    letters = [ch for ch in text if ch.isalpha()]
    return len(letters) >= 10 and sum("\u00c0" <= ch <= "\u00ff" for ch in letters) / len(letters) > 0.3


MIN_LETTERS_KEPT = 10  # letters a line mostly of private-use glyphs must still hold to be kept


def clean_span(text: str, dropped: Counter, byte_mapped: frozenset[int] = frozenset()) -> str:
    """The usable part of one line of a text layer ("" when none), counting what was removed by reason:
    `control`/`private_use` characters, `emphasis_marks` (˙ over Hangul), `garbled_hangul` words, and whole
    lines for `cid_codes`, `bad_characters` (mostly unusable characters) or `mojibake` (UTF-8 read as Latin-1). `byte_mapped`:
    blocks from byte_mapped_blocks, read back as ASCII."""
    visible = len(text.replace(" ", ""))
    if not visible:
        return ""
    if _CID_RE.search(text):
        dropped["cid_codes"] += 1
        return ""
    n_control = len(_CONTROL_RE.findall(text))
    n_private = len(_PRIVATE_RE.findall(text))
    if n_control + n_private > 0.3 * visible and (
            n_control > 0.3 * visible or sum(ch.isalpha() for ch in _PRIVATE_RE.sub("", text)) < MIN_LETTERS_KEPT):
        # mostly unusable: control characters (a wrong encoding), or private-use glyphs with next to no text beside
        # them (a matrix's bracket pieces); a sentence set with a few private-use glyphs (old Hangul in a font's
        # private area) keeps its text, as pdftotext does, and loses the glyphs below
        dropped["bad_characters"] += 1
        return ""
    if n_control and _legacy_junk(text, n_control, visible):
        dropped["mojibake"] += 1
        return ""
    if n_control:
        dropped["control"] += n_control
        text = _CONTROL_RE.sub("", text)
    if n_private:  # private-use glyphs (brackets of a matrix, logos) carry no text
        dropped["private_use"] += n_private
        text = _PRIVATE_RE.sub("", text)
    if "\u02d9" in text:
        text, n = _EMPHASIS_RE.subn("", text)
        dropped["emphasis_marks"] += n
    if _mojibake(text):
        dropped["mojibake"] += 1
        return ""
    if byte_mapped:
        text = _repair(text, byte_mapped, dropped)
    if _has_rare(text):
        words = text.split(" ")
        kept = [w for w in words if not garbled_word(w)]
        if len(kept) < len(words):
            dropped["garbled_hangul"] += len(words) - len(kept)
            text = " ".join(kept)
    return " ".join(text.split())


# Hangul-space-Hangul transitions per syllable under which a page's Korean has lost its word spaces: healthy pages
# of the Debian manuals measure 0.14 and up (a page of classical text in luatexko-doc.pdf, its figures unspaced),
# most 0.2 to 0.25; project-history.ko.pdf's glued pages 0 to 0.03, and one visibly unspaced 0.042, which 0.04 kept.
MIN_HANGUL_SPACE_RATIO = 0.08


def page_garbage_reason(text: str, min_hangul_space_ratio: float = MIN_HANGUL_SPACE_RATIO) -> str | None:
    """Why what is left of a page is unusable as a whole, or None: nothing left, or Korean with (almost) no
    spaces between words (a text layer that lost its word spaces; OCR does better)."""
    body = text.strip()
    if not body:
        return "no_text_layer"
    if count_syllables(body) >= 100 and hangul_space_ratio(body) < min_hangul_space_ratio:
        return "glued_words"
    return None
