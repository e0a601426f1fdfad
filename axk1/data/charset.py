"""Decoding a web page's bytes: the declared charset when it decodes, else UTF-8, else a detected one.

Korean sites still serve EUC-KR, and what they call EUC-KR is in practice CP949 (Windows' superset, which
adds the 8,822 syllables EUC-KR lacks), so EUC-KR is always decoded as CP949, as browsers do (the WHATWG
Encoding Standard maps both labels to one decoder). Order: byte-order mark, the HTTP Content-Type charset, a
<meta> charset in the first 4 KB, strict UTF-8, then charset_normalizer's guess, which must also read as a page
(markup survives, almost no control or unassigned characters: a detector finds *some* codec for any bytes). A page
none of these decode is "undecodable" (the reader counts it; it is never decoded with replacement characters).
"""

from __future__ import annotations

import codecs
import re
import unicodedata

_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HEADER = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.IGNORECASE)
# Labels that mean a superset in practice (WHATWG Encoding Standard).
_SUPERSETS = {"euc-kr": "cp949", "ks_c_5601-1987": "cp949", "ksc5601": "cp949", "euc_kr": "cp949",
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
        return codecs.lookup(label).name
    except LookupError:
        return None  # an unknown label is ignored, as a browser does


def _reads_as_html(text: str) -> bool:
    """Markup present and at most 0.5% control / private-use / unassigned characters."""
    if "<" not in text or ">" not in text:
        return False
    sample = text[:20000]
    odd = sum(1 for ch in sample if unicodedata.category(ch) in ("Cc", "Co", "Cn") and ch not in "\t\n\r")
    return odd <= 0.005 * len(sample)


def declared_charset(payload: bytes, content_type: str = "") -> str | None:
    """The charset the page declares: HTTP header first, then a <meta> tag near the top."""
    m = _HEADER.search(content_type or "")
    if m and _codec(m.group(1)):
        return _codec(m.group(1))
    m = _META.search(payload[:4096])
    return _codec(m.group(1).decode("ascii", "ignore")) if m else None


def decode_html(payload: bytes, content_type: str = "") -> tuple[str, str]:
    """(text, codec name) of a page; raises UndecodableError naming what was tried."""
    for bom, codec in _BOMS:
        if payload.startswith(bom):
            return payload.decode(codec, errors="strict"), codec
    tried = []
    for codec in (declared_charset(payload, content_type), "utf-8"):
        if codec and codec not in tried:
            tried.append(codec)
            try:
                return payload.decode(codec), codec
            except UnicodeDecodeError:
                pass
    from charset_normalizer import from_bytes

    best = from_bytes(payload[:65536]).best()
    if best is not None:
        codec = _codec(best.encoding)
        if codec and codec not in tried:
            tried.append(codec)
            try:
                text = payload.decode(codec)
                if _reads_as_html(text):
                    return text, codec
            except UnicodeDecodeError:
                pass
    raise UndecodableError(f"no charset decodes the page (tried {', '.join(tried) or 'none'})")
