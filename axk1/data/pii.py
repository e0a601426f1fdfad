"""Korean PII scrubbing as a datatrove step: resident registration numbers, phone numbers, e-mail addresses and
bank account numbers become placeholders; counts go to metadata["pii"]. (datatrove's own PII formatter covers
e-mail and IP addresses only.)"""

from __future__ import annotations

import re
from collections import Counter

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

PLACEHOLDERS = {"rrn": "<RRN>", "phone": "<PHONE>", "email": "<EMAIL>", "account": "<ACCOUNT>"}

# Resident (1-4) and foreigner (5-8) registration numbers: YYMMDD-SNNNNNN, month 01-12, day 01-31.
_RRN = re.compile(r"(?<![\d-])\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\s?-?\s?[1-8]\d{6}(?![\d-])")
_PHONE = re.compile(
    r"(?<![\d-])(?:\+82[-.\s]?(?:0?1[016789]|0?[2-6]\d?)|01[016789]|0(?:2|[3-6][1-5]|70|50\d))"
    r"[-.\s)]?\d{3,4}[-.\s]?\d{4}(?![\d-])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_ACCOUNT = re.compile(r"(?<![\d-])\d{2,6}-\d{2,6}-\d{2,7}(?:-\d{1,3})?(?![\d-])")
_BANK_CONTEXT = re.compile(r"(계좌|은행|입금|송금|예금주|농협|국민|신한|우리|하나|기업|카카오뱅크|토스뱅크|account|bank)",
                           re.IGNORECASE)


def scrub_pii(text: str) -> tuple[str, Counter]:
    """Returns the scrubbed text and how many of each kind were replaced."""
    counts: Counter = Counter()

    def sub(kind: str, pattern: re.Pattern, s: str, check=None) -> str:
        def repl(m: re.Match) -> str:
            if check is not None and not check(m, s):
                return m.group(0)
            counts[kind] += 1
            return PLACEHOLDERS[kind]
        return pattern.sub(repl, s)

    text = sub("email", _EMAIL, text)
    text = sub("rrn", _RRN, text)
    text = sub("phone", _PHONE, text)
    text = sub("account", _ACCOUNT, text, _looks_like_account)
    return text, counts


def _looks_like_account(m: re.Match, text: str) -> bool:
    """Dashed digit groups are an account number only with 10-14 digits and a banking word just before."""
    digits = sum(ch.isdigit() for ch in m.group(0))
    if not 10 <= digits <= 14:
        return False
    return bool(_BANK_CONTEXT.search(text[max(0, m.start() - 40): m.start()]))


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
