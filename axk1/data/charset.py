"""Decoding a web page's bytes: valid UTF-8, else the declared charset, else Korean, else a detected one.

Korean sites still serve EUC-KR, and what they call EUC-KR is in practice CP949 (Windows' superset, which
adds the 8,822 syllables EUC-KR lacks), so EUC-KR is always decoded as CP949, as browsers do (the WHATWG
Encoding Standard maps both labels to one decoder). Order:
  1. a byte-order mark; else UTF-16 without one, where NUL bytes fill one byte of each pair (ASCII markup in
     UTF-16, `<\0h\0`), which was read as UTF-8 into markup full of U+FFFD; any other NUL byte is dropped (said in
     `notes`): lxml made each one a U+FFFD (`fer\0ry` -> `fer\ufffdry`);
  2. strict UTF-8, when the page has non-ASCII bytes: multi-byte UTF-8 that decodes is next to never another
     charset, and pages that declare EUC-KR or Latin-1 while serving UTF-8 are common (a template or a server
     default left behind);
  3. the HTTP Content-Type charset, then a <meta> charset in the first 4 KB, each if it decodes strictly; a
     single-byte charset (Latin-1, which Apache long sent by default) decodes any bytes, so it is taken only when
     the bytes are not CP949 that decodes into Hangul;
  4. CP874, when it reads as Thai and its CP949 reading is no Hangul-only Korean (script_readings.thai_reading;
     Thai pages were read as CP949 or CP932 mojibake), then CP949, when it decodes strictly into text whose
     non-ASCII letters are mostly Hangul; both also before a declared single-byte charset;
  5. a page mixing CP949 and UTF-8 (a UTF-8 widget pasted into an EUC-KR page, or the reverse): decoded run by run,
     the minority charset taking only the runs the main one cannot read ("cp949+utf-8");
  6. a damaged page, the broken bytes dropped and each repair said (`notes`), as CP949 first when the page
     declares a Korean charset, else as UTF-8 first: UTF-8 with a flaw no other charset explains, cut inside its
     last character (a crawler's length limit, WARC-Truncated) or stray bytes under 0.1% of the page (a Latin-1
     `©` in a footer; more than 3 only when the page is UTF-8 by other evidence, utf8_repaired); CP949 cut inside
     its last syllable or with broken sequences under 0.1% of the page, when it reads as Korean (cp949_repaired);
  7. charset_normalizer's guess, which must also read as a page (markup survives, almost no control or unassigned
     characters: a detector finds *some* codec for any bytes); a single-byte guess is never taken for a page
     declaring a Korean charset that reads as Korean CP949 however damaged (it read such pages as Thai, cp874);
     for a page declaring no charset, CP1258 that reads as Vietnamese, and CP1253, ISO-8859-7 or CP1251 that reads
     as its script where a Greek or Cyrillic guess does not, come first (script_readings.script_reading: Greek
     pages were read as CP1251 or KOI8-R, "ЕрйкпйнщнЯб", Vietnamese ones as CP1252, "Nôòi");
     for a page declaring no charset, a single-byte guess reading as Latin letters gives way to the reading in
     CP1252, CP1250, CP1257, CP1254 or ISO-8859-2/-15/-9 whose accented letters are one language's, the guess's
     when several are (latin_alphabets.choose_reading: Czech and Hungarian CP1250 pages were read as CP1252
     "pøíliš", "fõváros", Turkish CP1254 ones as CP1250 "ţehir", Lithuanian and Latvian CP1257 ones as CP1250,
     CP1252 or CP1258); where none is, a guess of a single-byte Latin codepage other than CP1252 (CP1250, CP1257,
     CP1258...) gives way to CP1252 where that decodes strictly and reads no less like words than the guess (the
     WHATWG default; the guess read Western pages as mojibake, "naďve", "garēon", "Ł5").
A page none of these decode is "undecodable", with the byte where UTF-8 breaks (the reader counts it; it is never
decoded with replacement characters).
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from axk1.data.latin_alphabets import accented_letters, choose_reading, is_latin, odd_in_words
from axk1.data.script_readings import script_reading, strict_decode, thai_reading
from axk1.text.korean import hangul_ratio, is_hangul, korean_script_ratio

_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HEADER = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.IGNORECASE)
# Labels that mean a superset in practice (WHATWG Encoding Standard).
_SUPERSETS = {"windows-949": "cp949", "x-windows-949": "cp949", "ks_c_5601-1989": "cp949", "ksc_5601": "cp949",
              "cseuckr": "cp949", "csksc56011987": "cp949", "iso-ir-149": "cp949", "x-euc-kr": "cp949",
              "iso-8859-1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252",
              "gb2312": "gb18030", "gbk": "gb18030", "shift_jis": "cp932", "x-sjis": "cp932"}
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class UndecodableError(ValueError):
    """No declared, default or detected charset decodes the page."""


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    label = _SUPERSETS.get(label, label)
    try:
        info = codecs.lookup(label)
    except LookupError:
        return None  # an unknown label is ignored, as a browser does
    if not getattr(info, "_is_text_encoding", True):  # charset=base64, hex, zlib: Python codecs, no web charset
        return None
    name = info.name
    return "cp949" if name == "euc_kr" else name  # every EUC-KR label ("korean", "euckr", ...) means CP949


def _reads_as_html(text: str) -> bool:
    """Markup present and at most 0.5% control / private-use / unassigned characters."""
    if "<" not in text or ">" not in text:
        return False
    sample = text[:20000]
    odd = sum(1 for ch in sample if unicodedata.category(ch) in ("Cc", "Co", "Cn") and ch not in "\t\n\r")
    return odd <= 0.005 * len(sample)


def _declared(payload: bytes, content_type: str) -> tuple[str | None, str | None]:
    """(the HTTP Content-Type's charset, the <meta> charset), each a codec name or None."""
    m = _HEADER.search(content_type or "")
    header = _codec(m.group(1)) if m else None
    m = _META.search(payload[:4096])
    return header, (_codec(m.group(1).decode("ascii", "ignore")) if m else None)


def decode_html(payload: bytes, content_type: str = "", notes: list[str] | None = None) -> tuple[str, str]:
    """(text, codec name) of a page; raises UndecodableError naming what was tried. `notes`, where given, gets a
    line for each repair made (UTF-8 cut inside a character, stray bytes dropped)."""
    tried = []

    def attempt(codec: str | None) -> str | None:
        if not codec or codec in tried:
            return None
        tried.append(codec)
        try:
            return payload.decode(codec)
        except (UnicodeError, LookupError):  # also a codec that is no text encoding (punycode, base64...)
            return None

    for bom, codec in _BOMS:
        # a byte-order mark over bytes that are not its encoding (a CP949 page behind a UTF-8 BOM) raised here and
        # ended its WARC file's reader: such a page is decoded as one without a mark
        if payload.startswith(bom) and (text := attempt(codec)) is not None:
            return text, codec
    if (codec := utf16_without_bom(payload)) and (text := attempt(codec)) is not None and _reads_as_html(text):
        return text, codec
    if (nuls := payload.count(0)):  # no NUL byte is part of a character in UTF-8, CP949 or any charset tried below
        if notes is not None:
            notes.append(f"{nuls} NUL bytes dropped, the first at byte {payload.index(0)}")
        payload = payload.replace(b"\x00", b"")

    if not payload.isascii() and (text := attempt("utf-8")) is not None:
        return text, "utf-8"
    header, meta = _declared(payload, content_type)
    for codec in (header, meta):
        if codec in _SINGLE_BYTE and (thai := thai_reading(payload)) is not None and _reads_as_html(thai):
            return thai, "cp874"
        if codec in _SINGLE_BYTE and (korean := _korean(payload)) is not None:
            return korean, "cp949"
        if (text := attempt(codec)) is not None:
            return text, codec
    if (text := attempt("utf-8")) is not None:  # pure ASCII
        return text, "utf-8"
    if (thai := thai_reading(payload)) is not None and _reads_as_html(thai):
        return thai, "cp874"
    if (korean := _korean(payload)) is not None:
        return korean, "cp949"
    tried += [] if "cp949" in tried else ["cp949"]
    for main, minority in (("cp949", "utf-8"), ("utf-8", "cp949")):
        text = _mixed(payload, main, minority)
        if text is not None:
            return text, f"{main}+{minority}"
    # damaged bytes: a page declaring a Korean charset is repaired as CP949 first, any other as UTF-8 first
    korean_declared = bool({header, meta} & _KOREAN)
    repairs = [("cp949", lambda: cp949_repaired(payload, korean_declared)),
               ("utf-8", lambda: utf8_repaired(payload, declared_utf8="utf-8" in (header, meta)))]
    why = []
    for codec, repair in repairs if korean_declared else repairs[::-1]:
        text, note = repair()
        if text is not None:
            if notes is not None:
                notes.append(note)
            return text, codec
        why.append(note)
    from charset_normalizer import from_bytes

    best = from_bytes(payload[:65536]).best()
    if best is not None:
        codec = _codec(best.encoding)
        if (text := attempt(codec)) is not None and _reads_as_html(text):
            # a single-byte guess (a character a byte) for a page declaring a Korean charset that reads as Korean
            # CP949 however damaged is mojibake: such pages were read as Thai (cp874). A multi-byte guess that
            # decodes strictly (GB2312, EUC-JP mislabelled EUC-KR) is another script's page, and is taken
            if korean_declared and len(text) == len(payload) and reads_korean(payload.decode("cp949", "ignore")):
                raise UndecodableError(f"the page declares {header or meta} and reads as Korean CP949, but is "
                                       f"damaged beyond repair ({why[0]}); a guess of {codec} would be mojibake")
            if not (header or meta) and len(text) == len(payload) \
                    and (script := script_reading(payload, codec, text)) is not None and _reads_as_html(script[0]):
                return script
            if not (header or meta) and len(text) == len(payload) and is_latin(accented_letters(text)) \
                    and (latin := _latin_reading(payload, codec, text)) is not None:
                return latin
            if not (header or meta) and codec in _OTHER_LATIN and (western := attempt("cp1252")) is not None \
                    and _reads_as_html(western) and odd_in_words(western) <= odd_in_words(text):
                return western, "cp1252"
            return text, codec
    raise UndecodableError(f"no charset decodes the page (tried {', '.join(tried) or 'none'}; {'; '.join(why)})")


# the single-byte Latin codepages an undeclared page is read in besides the guess, CP1252 (the WHATWG default) first
_LATIN_READINGS = ("cp1252", "cp1250", "cp1257", "cp1254", "iso8859-2", "iso8859-15", "iso8859-9")


def _latin_reading(payload: bytes, guess: str, guessed: str) -> tuple[str, str] | None:
    """(text, codec) of the page's reading whose accented letters are one language's, the guess's when several are
    (latin_alphabets.choose_reading); None when none is. Named CP1252 when its text is CP1252's (a German page's
    ä ö ü ß are the same bytes in CP1250 and CP1257)."""
    readings = {guess: guessed}
    for codec in _LATIN_READINGS:
        if codec not in readings and (text := strict_decode(payload, codec)) is not None and _reads_as_html(text):
            readings[codec] = text
    chosen = choose_reading(readings, guess)
    if chosen is None:
        return None
    return readings[chosen], "cp1252" if readings.get("cp1252") == readings[chosen] else chosen


def utf16_without_bom(payload: bytes) -> str | None:
    """"utf-16-le" or "utf-16-be" for bytes that look like UTF-16 without a byte-order mark: in the first 4 KiB,
    NUL bytes in at least 10% of the byte pairs (ASCII in UTF-16 is `<\0h\0`; a Korean page's markup, spaces and
    digits are ASCII), mostly in the same place of the pair: the other holds a NUL only in a character U+xx00 (가,
    관, 글 are U+AC00, U+AD00, U+AE00). Bytes of an even length only (a cut one does not decode strictly). Else
    None; the caller also asks that the text reads as HTML."""
    if len(payload) % 2 or len(payload) < 16:
        return None
    sample = payload[:4096]
    pairs = len(sample) // 2
    high, low = sample[1::2].count(0), sample[0::2].count(0)  # NULs as the high byte of little-endian pairs, ...
    for nuls, other, codec in ((high, low, "utf-16-le"), (low, high, "utf-16-be")):
        if nuls >= 0.1 * pairs and other <= 0.25 * nuls:
            return codec
    return None


# A repair drops at most one stray byte per STRAY_SPACING bytes of the payload, and at most MAX_STRAY of them unless
# the page is UTF-8 by other evidence: it declares UTF-8 and has valid multi-byte characters, or it has
# MULTIBYTE_MAJORITY times as many valid multi-byte characters as invalid bytes. A flat cap of 3 read an 88 KB
# German page declaring UTF-8, with 101 umlauts in UTF-8 and 4 in Latin-1 ("Mitgef\xfchl"), as CP1250 mojibake.
MAX_STRAY = 3
STRAY_SPACING = 1000
MULTIBYTE_MAJORITY = 10


def _escaped(ch: str) -> bool:
    return "\udc80" <= ch <= "\udcff"  # an undecodable byte, as surrogateescape keeps it


def utf8_repaired(payload: bytes, declared_utf8: bool = False) -> tuple[str | None, str]:
    """(text, what was repaired) for UTF-8 with a flaw too small to be another charset; else (None, where UTF-8
    breaks). A cut inside the last character (1-3 bytes of a multi-byte one) is a truncated fetch; a few stray
    bytes in a long page are a pasted Latin-1 sign. Either failed the whole page as undecodable."""
    try:
        return payload.decode("utf-8"), ""
    except UnicodeDecodeError as e:
        first = e.start
        cut = e.reason == "unexpected end of data" and e.start >= len(payload) - 3
    if cut:
        return payload[:first].decode("utf-8"), f"utf-8 cut inside its last character: {len(payload) - first} " \
                                                 f"bytes from byte {first} dropped"
    text = payload.decode("utf-8", "surrogateescape")  # each invalid byte becomes one of U+DC80-U+DCFF
    stray = sum(1 for ch in text if _escaped(ch))
    multibyte = sum(1 for ch in text if not ch.isascii() and not _escaped(ch))
    utf8_by_evidence = (declared_utf8 and multibyte >= stray) or multibyte >= MULTIBYTE_MAJORITY * stray
    if (stray <= MAX_STRAY or utf8_by_evidence) and stray * STRAY_SPACING < len(payload):
        return "".join(ch for ch in text if not _escaped(ch)), \
            f"{stray} stray non-UTF-8 bytes dropped, the first at byte {first}"
    # why no repair: a short record whose one accented letter is Latin-1 may be Latin-1 throughout
    return None, (f"not UTF-8 from byte {first}: {stray} invalid bytes in {len(payload)} bytes, not repaired (a "
                  f"repair drops at most {MAX_STRAY} stray bytes, fewer than one per {STRAY_SPACING:,} bytes; more at "
                  f"that rate when UTF-8 is declared or valid multi-byte characters outnumber them "
                  f"{MULTIBYTE_MAJORITY} to 1)")


# single-byte charsets decode every byte string: taken only when the page is not CP949 Korean
_SINGLE_BYTE = {"cp1252", "iso8859-1", "iso8859-15", "iso8859-2", "cp1250"}
# single-byte Latin codepages other than CP1252 that charset_normalizer guesses for a Western page without a declared
# charset: a few accented letters do not tell them apart, and its guess read French, Italian and English pages with
# an `é`, a `£`, a `ï` as CP1257 / CP1250 / CP1258 mojibake ("garēon", "naďve", "Ł5"). An undeclared page that
# decodes strictly as CP1252 is read so, the WHATWG default for such pages (Korean ones are CP949 before this)
_OTHER_LATIN = {"cp1250", "cp1254", "cp1257", "cp1258", "iso8859-2", "iso8859-3", "iso8859-4", "iso8859-9",
                "iso8859-10", "iso8859-13", "iso8859-14", "iso8859-15", "iso8859-16", "mac-latin2", "mac-roman",
                "mac-iceland", "mac-turkish", "cp850", "cp852", "cp437", "iso8859-1"}
# labels of a Korean charset (every EUC-KR label is cp949 by now, see _codec)
_KOREAN = {"cp949", "johab", "iso2022_kr"}


def korean_legacy(data: bytes) -> str | None:
    """The bytes as CP949 (EUC-KR and its extension) when they decode strictly and read as Korean (reads_korean);
    else None."""
    try:
        text = data.decode("cp949")
    except UnicodeDecodeError:
        return None
    return text if reads_korean(text) else None


def reads_korean(text: str) -> bool:
    """Whether text read as CP949 is Korean: the non-ASCII letters are mostly Korean script, and the Hangul mostly
    KS X 1001's 2,350 syllables (EUC-KR's, nearly all of written Korean). Korean script counts the Hanja of
    mixed-script Korean (국한문: "이 法은 國民의 權利와", korean_script_ratio), which KS X 1001 also encodes: counting
    Hangul alone, a Hanja-heavy statute or gazette was no CP949 and failed as undecodable, or was kept as Latin-1
    mojibake. A Latin-1 or CP1252 text whose `°`, `©` or `Ä` stands before a letter decodes strictly too, into the
    extension's rare syllables (`4°C` -> `4캜`): such a file was kept as Korean mojibake."""
    non_ascii = re.sub(r"[\x00-\x7f]+", " ", text)  # markup and Latin aside, word boundaries kept
    syllables = [ch for ch in non_ascii if "\uac00" <= ch <= "\ud7a3"]
    if not syllables or korean_script_ratio(non_ascii) < 0.5:
        return False
    # Python's euc_kr spells a syllable outside KS X 1001 as an 8-byte jamo sequence: 2 bytes is a common one
    common = sum(1 for ch in syllables if len(ch.encode("euc_kr", errors="replace")) == 2)
    return common >= 0.9 * len(syllables)


def cp949_repaired(payload: bytes, declared: bool = False) -> tuple[str | None, str]:
    """(text, what was repaired) for CP949 cut inside its last syllable (a crawler's byte limit) or with invalid
    sequences, at most one per STRAY_SPACING bytes (a board cutting a subject mid-syllable and adding `..`), the
    broken bytes dropped; else (None, why not). Taken when the text reads as Korean, or, for a page declaring a
    Korean charset, when the cut was its only flaw (an ASCII head cut in its first syllable). Such a page was
    `undecodable`, or read by charset_normalizer as Thai (cp874) and then dropped as `language_th`."""
    decoder = codecs.getincrementaldecoder("cp949")("surrogateescape")
    text, pending = decoder.decode(payload), decoder.getstate()[0]
    cut = len(pending) == 1 and 0x81 <= pending[0] <= 0xFE  # a lead byte whose second byte was not fetched
    if not cut:
        text += decoder.decode(b"", final=True)
    stray = sum(1 for ch in text if _escaped(ch))
    if stray * STRAY_SPACING >= len(payload):
        return None, f"not CP949: {stray} invalid sequences in {len(payload)} bytes (a repair drops fewer than " \
                     f"one per {STRAY_SPACING:,} bytes)"
    text = "".join(ch for ch in text if not _escaped(ch))
    if not (reads_korean(text) or (declared and not stray)):
        return None, "not CP949: the text repaired as CP949 reads as no Korean"
    said = []
    if stray:
        try:
            payload[:len(payload) - cut].decode("cp949")
        except UnicodeDecodeError as e:
            said.append(f"{stray} invalid cp949 sequences dropped, the first at byte {e.start}")
    if cut:
        said.append(f"cp949 cut inside its last character: 1 byte from byte {len(payload) - 1} dropped")
    return text, "; ".join(said)


def _korean(payload: bytes) -> str | None:
    """The page as CP949 when it reads as Korean (korean_legacy) and as HTML (NULs and control bytes decode in
    CP949 too)."""
    text = korean_legacy(payload)
    return text if text is not None and _reads_as_html(text) else None


def _mixed(payload: bytes, main: str, minority: str) -> str | None:
    """The page decoded run by run: each run of non-ASCII bytes (a word, in Korean) in `main`, or in `minority`
    where `main` cannot read it or reads it as no Hangul while `minority` does (C8 AE is a valid UTF-8 'Ȯ' and the
    CP949 '확'). None when a run reads in neither, when the minority's runs are over a third of the non-ASCII
    bytes (then `main` is not the page's charset), or when the result is not mostly Hangul."""
    parts, taken, pos = [], 0, 0
    high = sum(map(len, re.findall(rb"[\x80-\xff]+", payload)))
    for m in _NON_ASCII.finditer(payload):
        parts.append(payload[pos:m.start()].decode("ascii"))
        pos, run = m.end(), m.group()
        text = strict_decode(run, main)
        if text is None or not _all_hangul(text):
            other = strict_decode(run, minority)
            if other is not None and (text is None or _all_hangul(other)):
                text, taken = other, taken + len(run)
        if text is None:
            return None
        parts.append(text)
    parts.append(payload[pos:].decode("ascii"))
    text = "".join(parts)
    if not taken or taken * 3 > high or not _reads_as_html(text):
        return None
    return text if hangul_ratio("".join(ch for ch in text if not ch.isascii())) >= 0.5 else None


# a run of non-ASCII bytes, with the ASCII letter after a byte where CP949 uses one as a second byte (똠 is 8C 63)
_NON_ASCII = re.compile(rb"(?:[\x80-\xff][A-Za-z]?)+")


def _all_hangul(text: str) -> bool:
    return all(is_hangul(ch) or ch.isascii() or not ch.isalpha() for ch in text)


def text_not_utf8(data: bytes, error: UnicodeDecodeError) -> tuple[str | None, dict, str]:
    """A text or JSONL source's bytes that are not strict UTF-8: (text, metadata saying how it was read, "") or
    (None, {}, the failure). Korean CP949/EUC-KR when they read as Korean; else UTF-8 whose flaw is too small to be
    another charset (utf8_repaired's rule), repaired as web pages are and said in `charset_repairs`: one stray byte
    failed a whole text file or JSON line."""
    if (text := korean_legacy(data)) is not None:
        return text, {"charset": "cp949"}, ""
    text, note = utf8_repaired(data)
    if text is not None:
        return text, {"charset_repairs": [note]}, ""
    text, repair = cp949_repaired(data)  # a Korean file cut inside a syllable, or with a damaged one
    if text is not None:
        return text, {"charset": "cp949", "charset_repairs": [repair]}, ""
    return None, {}, f"invalid_utf8 at byte {error.start} ({note}; nor CP949 Korean)"
