"""Korean PII scrubbing as a datatrove step: resident registration numbers, phone numbers, e-mail addresses,
payment card numbers and bank account numbers become placeholders; counts go to metadata["pii"]. (datatrove's own
PII formatter covers e-mail and IP addresses only.)"""

from __future__ import annotations

import datetime
import re
from collections import Counter

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from axk1.data.filter_entry import FilterEntry
from axk1.text.korean import normalize_text

PLACEHOLDERS = {"rrn": "<RRN>", "phone": "<PHONE>", "email": "<EMAIL>", "card": "<CARD>", "account": "<ACCOUNT>"}

# Patterns are matched on a view of the text in which every character maps to one character, so match positions
# are positions in the text: web pages and word processors write digit groups with fullwidth digits (NFKC is never
# applied, docs/data.md) and with Unicode hyphens, dashes or minus signs between them.
_VIEW = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)}, **dict.fromkeys(
    ["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212", "\ufe63", "\uff0d"], "-"),
    "\uff0b": "+", "\uff0e": ".", "\uff08": "(", "\uff09": ")", "\uff20": "@"})

# Resident (1-4) and foreigner (5-8) registration numbers: YYMMDD-SNNNNNN, month 01-12, day 01-31. Thirteen digits
# with no separator at all are taken only after a registration word (_check_rrn): Korean product barcodes (EAN-13,
# 880...) have that shape. The seventh digit gives the century (1, 2, 5, 6: 1900s; 3, 4, 7, 8: 2000s), so the birth
# date must be a real day and not in the future: a product code 880123-4567890 would be born in 2088. (The last digit
# is a checksum only on numbers issued before October 2020, so it is not checked.)
_RRN = re.compile(r"(?<![\d-])(\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(\s?-?\s?)([1-8])\d{6}(?![\d-])")
_RRN_CONTEXT = re.compile(r"주민|등록\s*번호|생년월일|RRN", re.IGNORECASE)
# Between the groups: a dash or dot (spaces either side allowed, "010 - 1234 - 5678"), a space, or after the area
# code a closing parenthesis ("(02) 788-4649", the usual printed form of a Seoul number).
# International form: +82 or 00 / 00X / 00XXX (the carriers' international prefixes) then 82, the area code with or
# without its 0, which may be written in parentheses ("+82 (0)2 788 4649", "+82-(0)10-1234-5678").
_PHONE = re.compile(
    r"(?<![\d-])(?:(?:\+|00(?:[1-9]\d{0,2}[-\s]?)?)82[-.\s]?(?:\(0\)[-.\s]?)?(?:0?1[016789]|0?[2-6]\d?)"
    r"|01[016789]|0(?:2|[3-6][1-5]|70|50\d))"
    r"(?:\s?[-.)]\s?|\s)?\d{3,4}(?:\s?[-.]\s?|\s)?\d{4}(?![\d-])")
# The local part starts where a run of its characters starts and has at most 64 of them (RFC 5321): tried from every
# position of a long run of letters or digits (a base64 blob, a number), the pattern took time quadratic in its length.
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Card numbers: 4-4-4-4 (most brands) or 4-6-5 (American Express), one separator throughout, Luhn-valid.
_CARD = re.compile(r"(?<![\d-])\d{4}([- ]?)(?:\d{4}\1\d{4}\1\d{4}|\d{6}\1\d{5})(?![\d-])")
# Account numbers: digit groups joined by dashes, or by single spaces ("110 123 456789", never one group of a longer
# spaced run), or written bare ("3333012345678", as banking apps copy them; not an amount: 원, 억, 만... after it).
_ACCOUNT = re.compile(r"(?<![\d-])(?:\d{2,6}-\d{2,6}-\d{2,7}(?:-\d{1,3})?"
                      r"|(?<!\d )\d{2,6} \d{2,6} \d{2,7}(?: \d{1,3})?(?! \d)"
                      r"|\d{10,14}(?!\s?(?:원|억|만|천|조|달러|%)))(?![\d-])")
# 은행 is also the ginkgo (은행나무, 은행잎, 은행알): those words are no banking context.
_BANK_CONTEXT = re.compile(r"계좌|은행(?!나무|나뭇|잎|알|열매)|입금|송금|예금주|농협|신한|카카오뱅크|토스뱅크|account|bank",
                           re.IGNORECASE)
# Bank names that are also everyday words (국민 "the people", 우리 "we", 하나 "one", 기업 "company") count only
# written right before the number ("국민 123-45-67890-1"): anywhere near it, they made any ten-digit dashed number
# (a business registration number, an ISBN) an account.
_BANK_NAME_BEFORE = re.compile(r"(?:국민|우리|하나|기업)\s*[:：]?\s*$")


def scrub_pii(text: str) -> tuple[str, Counter]:
    """Returns the scrubbed text and how many of each kind were replaced. The text is normalised first
    (normalize_text: NFC, invisible characters removed), so a number split by a zero-width space or a bank name
    written in NFD (macOS) is found like any other; the text returned is the normalised one."""
    text = normalize_text(text)
    counts: Counter = Counter()

    def sub(kind: str, pattern: re.Pattern, s: str, check=None) -> str:
        view = s.translate(_VIEW)
        parts, last = [], 0
        for m in pattern.finditer(view):
            if check is None or check(m, view):
                parts += [s[last:m.start()], PLACEHOLDERS[kind]]
                last = m.end()
                counts[kind] += 1
        return "".join(parts) + s[last:]

    text = sub("email", _EMAIL, text)
    text = sub("card", _CARD, text, _luhn_valid)
    text = sub("rrn", _RRN, text, _check_rrn)
    text = sub("phone", _PHONE, text)
    text = sub("account", _ACCOUNT, text, _looks_like_account)
    return text, counts


def _luhn_valid(m: re.Match, text: str) -> bool:
    """The check digit every payment card number carries; a random 16-digit number passes one time in ten."""
    total = 0
    for i, d in enumerate(int(ch) for ch in reversed(m.group(0)) if ch.isdecimal()):
        total += d if i % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d)
    return total % 10 == 0


def _check_rrn(m: re.Match, text: str) -> bool:
    """A real birth date, not in the future (the seventh digit gives the century); then with a separator (dash or
    space) the shape is enough, and thirteen bare digits need a registration word before."""
    birth, sep, sex = m.group(1), m.group(2), m.group(3)
    century = 1900 if sex in "1256" else 2000
    try:
        born = datetime.date(century + int(birth[:2]), int(birth[2:4]), int(birth[4:6]))
    except ValueError:  # 0230: no such day
        return False
    if born > datetime.date.today():
        return False
    if sep:
        return True
    return bool(_RRN_CONTEXT.search(text[max(0, m.start() - 20): m.start()]))


def _looks_like_account(m: re.Match, text: str) -> bool:
    """Digit groups are an account number only with 10-14 digits and a banking word just before."""
    digits = sum(ch.isdigit() for ch in m.group(0))
    if not 10 <= digits <= 14:
        return False
    before = text[max(0, m.start() - 40): m.start()]
    return bool(_BANK_CONTEXT.search(before) or _BANK_NAME_BEFORE.search(before))


class KoreanPIIScrubber(PipelineStep):
    name = "axk1 Korean PII"
    type = "✂️ - FORMAT"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                doc.text, counts = scrub_pii(doc.text)
            if counts:
                doc.metadata["pii"] = dict(counts)
                for kind, n in counts.items():
                    self.stat_update(f"pii_{kind}", value=n)
            yield doc


def pii_step(filters, exclusions) -> KoreanPIIScrubber | None:
    """The extract stage's entry (axk1/data/filter_steps.py): on unless `[filters] pii = false`. It rewrites text
    and removes nothing, so it takes no exclusion folder."""
    return KoreanPIIScrubber() if filters.pii else None


# First of all, and before site boilerplate removal when that is on: extracted/, the line counts per site and
# excluded/site_boilerplate/ then hold no phone number either.
PII_STEP = FilterEntry(pii_step, before_site_boilerplate=True)
