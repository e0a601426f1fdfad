"""Mojibake in decoded text: UTF-8 read as Latin-1 or Windows-1252 (`서울` as `ì„œìš¸`, `—` as `â€”`).

Each such character is one byte of the UTF-8 text, so a run of them encodes back to bytes that decode as UTF-8.
Real Latin text almost never does: a UTF-8 sequence is a lead byte (`Â`-`ô`) followed by continuation bytes, which
Latin-1 and Windows-1252 spell as symbols and C1 controls (`€`, `„`, `©`, `¸`, `\\x9c`), not as the letters that
follow an accented letter in a word. Hangul, CJK and most other scripts cannot be such a run at all. (The PDF text
layer's rule, data/pdf_garbage.py, judges a whole line by its share of accented letters instead: it misses a few
garbled words inside Korean or English text, which is what a teacher's reply holds.)
"""

from __future__ import annotations

import re

# a run of characters each of which is one byte 0x80-0xFF in Windows-1252 or Latin-1 (its C1 controls)
_RUN = re.compile("[\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014"
                  "\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]+")
# a UTF-8 multi-byte character (strictness is left to the decoder)
_UTF8 = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _byte(ch: str) -> bytes:
    try:
        return ch.encode("cp1252")
    except UnicodeEncodeError:
        return ch.encode("latin-1")  # the five bytes Windows-1252 leaves undefined, which Latin-1 reads as C1 codes


def utf8_read_as_latin1(text: str) -> tuple[str, str] | None:
    """(the garbled characters, the text they were) for the first run of UTF-8 read as Latin-1 or Windows-1252 in
    `text`, or None."""
    for run in _RUN.finditer(text):
        data = b"".join(_byte(ch) for ch in run.group())
        for m in _UTF8.finditer(data):
            try:
                was = m.group().decode("utf-8")
            except UnicodeDecodeError:
                continue
            # the whole run as far as it decodes, for the message
            return run.group(), data.decode("utf-8", "replace").strip("\ufffd") or was
    return None
