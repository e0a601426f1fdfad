"""When a failed request to an OpenAI-compatible server is tried again, and after how long: the back-off of a
failure, the tries of a 429 (rate limited) counted apart, and the wait a 429's or 503's Retry-After asks for, up to a
cap with a bound on one request's waits in all (used by openai_backend.py, which sends the requests).
"""

from __future__ import annotations

import email.utils
import math
import time
import urllib.error
from dataclasses import dataclass
from datetime import datetime, timezone

# A 429 (rate limited) says "later", not "wrong": a rate-limited API (one whose quota refills each minute) failed
# every sample within the 1 + 2 + 4 s of the other failures' back-off. A 429 gets this many tries of its own, and a
# 429's or 503's Retry-After (seconds, or an HTTP date) is waited, up to RETRY_AFTER_CAP_S (said on stderr when cut).
RATE_LIMIT_RETRIES = 8
RETRY_AFTER_CAP_S = 60.0
# ... and one request waits this long in all at most, whatever its failures ask: a server answering every request
# 429 with Retry-After: 30 kept each sample 8 x 30 s = 4 minutes before it failed. The last wait is cut to what is
# left, and the sample's error then says the budget was spent (Tries.spent).
TOTAL_WAIT_S = 120.0


def retry_after_s(headers) -> float | None:
    """The wait a reply's Retry-After header asks for, in seconds (`120`, or an HTTP date such as `Wed, 21 Oct 2015
    07:28:00 GMT`); None without one or with one that is neither."""
    value = (headers.get("Retry-After") or "").strip() if headers is not None else ""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP date is GMT
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def retry_delay(error: BaseException | None, attempt: int) -> tuple[float, float | None]:
    """(seconds to wait before try `attempt + 2`, the Retry-After asked for where it was cut to the cap, else None):
    a 429's or 503's Retry-After up to RETRY_AFTER_CAP_S, otherwise 1, 2, 4 ... s up to 30."""
    asked = None
    if isinstance(error, urllib.error.HTTPError) and error.code in (429, 503):
        asked = retry_after_s(error.headers)
    if asked is None:
        return min(2.0 ** attempt, 30.0), None
    return min(asked, RETRY_AFTER_CAP_S), asked if asked > RETRY_AFTER_CAP_S else None


@dataclass
class Tries:
    """One request's tries so far: failures and 429s counted apart (RATE_LIMIT_RETRIES)."""

    retries: int
    failed: int = 0
    rate_limited: int = 0
    waited: float = 0.0  # seconds slept between tries so far, at most TOTAL_WAIT_S

    def again(self, error: BaseException | None, note) -> bool:
        """After a failed try: whether to try again, having waited as retry_delay says (`note(delay, asked)` before a
        429's wait, and where a wait was cut to the cap: `asked` what Retry-After asked, else None)."""
        limited = isinstance(error, urllib.error.HTTPError) and error.code == 429
        if limited:
            self.rate_limited += 1
            if self.rate_limited > RATE_LIMIT_RETRIES:
                return False
            attempt = self.rate_limited - 1
        else:
            self.failed += 1
            if self.failed > self.retries:
                return False
            attempt = self.failed - 1
        left = TOTAL_WAIT_S - self.waited
        if left <= 0:
            return False
        delay, cut = retry_delay(error, attempt)
        delay = min(delay, left)
        if limited or cut is not None:
            note(delay, cut)
        time.sleep(delay)
        self.waited += delay
        return True

    def spent(self) -> str:
        """How the tries ended, for a failed request's error: "5 tries", with the wait where its budget ran out."""
        if self.waited < TOTAL_WAIT_S:
            return f"{self.count} tries"
        return f"{self.count} tries and {TOTAL_WAIT_S:g} s of waiting between them (the most one request waits)"

    @property
    def count(self) -> int:
        return self.failed + self.rate_limited
