"""Which pages of one site are near-copies of one another: the same article at `?print=1`, `?utm_source=rss` and
`.../index.html`, its text differing by a view counter or a date. Site boilerplate removal
(axk1/data/site_boilerplate.py) lets such a group vote once, as it does for the captures of one URL; voting apart,
a page served at three URLs had every line "on three pages of the site" and lost its whole article as template.

Pages are compared on their lines with every number masked (mask_numbers: "조회수 1234" and "조회수 1301" are both
"조회수 0", "입력 2024.03.05 14:20" is "입력 0 0"): what a copy changes is its numbers, so compared with them a page
of two lines and a counter was 0.5 alike to its copy (2 of 4 lines), one of five lines 0.71, and at three URLs such
pages lost every line of their own as template (6 of the 23 real fixture pages). A line is masked, never dropped:
a short headline with a number ("서울 아파트값 3주 연속 상승", "기준금리 3% 동결") is text of its page, and a
brief of such lines tells itself from the next brief by them. (Dropping short lines with a number as "stamps"
made every such brief a copy of its section's other briefs, and each section's "Most read" block stayed.)

Two pages are near-copies when their own lines (masked) are near-identical: a Jaccard of at least SIMILAR over
the lines that are not the site's template, a line on at least NEAR_UNIVERSAL of its pages (a counter or a time
on every page is template once masked). The template is left out because over all lines thin pages look alike:
ten lines of menu and footer and one line of their own are 0.8 alike, and grouped into one voter they would stop
the template being found.

A copy differs from its page by numbers only: a page with a line that, masked, is on no other page of its site
has text of its own and is nobody's copy, so it joins no group. Sibling articles of a section that share a block
under half the site's pages ("Most read", 40 lines on 7 pages of 21) are 0.9 alike on their own lines when each
has one or two lines of its own: grouped, each section was one voter and its block, on "one page", stayed as page
text. Pages whose own lines differ by their numbers alone (a daily "코스피 2,650선 회복" and "코스피 2,600선 회복")
are one page here, but only where their numbers are stamps: copies of one page differ in a counter or a time, one
or two lines, while a family of pages told apart by their numbers (product pages "RTX 4090", "RTX 4080", ...
each with its own model, price and wattage; scores; stock quotes) differs in more. Pages alike masked are one page
when at most STAMPS of their lines with a number differ unmasked: grouped, four product pages alike but for
their model were one voter, and their shop block ("장바구니에 담기", on 4 of 12 pages) stayed on each as "one
page"'s text; and a site's voters were fewer, so a line on 3 of 10 articles reached min_share and was cut.

The comparison is by MinHash, so that a site of 100k pages costs time linear in its lines and memory of one
fixed-size signature a page (HASHES 32-bit hashes; and one of its lines with a number): pages whose signatures agree on one band of ROWS hashes are
candidates, and a candidate joins the group of the page it met when their signatures agree on at least SIMILAR
of their hashes (the Jaccard's estimate; two pages of one or two lines each are alike only when the same). The
lines with a number, unmasked, have a signature of their own and their count (stamp_signature), from which
stamps_close tells whether two pages are STAMPS of them apart (its estimate's margin in its docstring). A
candidate is compared with up to MAX_REPS pages of its band's bucket, not with the first alone: in a family of
product pages alike masked, a copy of the second product must be able to meet it, not only the first. (In a
family of more than MAX_REPS pages, a copy of a later one meets no page of its own in the bucket and votes apart.)
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

SIMILAR = 0.8          # Jaccard of two pages' own lines at which they are one page
NEAR_UNIVERSAL = 0.5   # a line on at least this share of a site's pages is its template, not a page's own line
CHUNK = 65536          # lines folded into a signature at a time: a chunk's HASHES products are 32 MB
HASHES, ROWS = 64, 4   # signature size and band height: 16 bands; a pair at Jaccard 0.8 is a candidate with
                       # probability 1 - (1 - 0.8**4)**16 > 0.999, one at 0.5 with 0.64 (then checked)
STAMPS = 2              # lines with a number that may differ, unmasked, between copies of one page (a counter, a time)
MAX_REPS = 16          # pages of a bucket a candidate is compared with: a family of 100k product pages alike masked
                       # costs 16 comparisons a page and band, not 100k

_rng = np.random.default_rng(20240611)  # fixed, so that every run (and every task) draws the same permutations
_MUL = _rng.integers(0, 2**64, size=HASHES, dtype=np.uint64) | np.uint64(1)  # odd: a permutation of 64-bit values
_ADD = _rng.integers(0, 2**64, size=HASHES, dtype=np.uint64)


# A number: a run of digits and the digits joined to it by a separator ("1,234", "2024.03.05", "14:20", "03/05",
# "2024-03-05"), so that a counter reads the same masked whether it has three digits or four.
_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")


def mask_numbers(line: str) -> str:
    """The line with each number written 0: what a copy of a page may change ("조회수 1234" and "조회수 1301" are
    "조회수 0"; "입력 2024.03.05 14:20 | 수정 2024.03.06" is "입력 0 0 | 수정 0"), its words kept ("서울 아파트값
    3주 연속 상승" is "서울 아파트값 0주 연속 상승", a line of its page still). A line without a digit is itself."""
    return _NUMBER.sub("0", line)


def copy_lines(counted, n_pages: int) -> list[int]:
    """Of a page's lines (numbers masked), given as (line, how many of the site's `n_pages` pages have it): those
    that are not its site's template (on under NEAR_UNIVERSAL of its pages), or none when one of them is on this
    page alone: a page with text of its own copies nothing, however much it shares with its section's pages."""
    limit = NEAR_UNIVERSAL * n_pages
    own = [(h, c) for h, c in counted if c < limit]
    if any(c == 1 for _, c in own):
        return []
    return [h for h, _ in own]


def signature(lines) -> bytes | None:
    """The MinHash signature of a set of line hashes, or None for no lines (a page of template alone has nothing
    to be a copy of)."""
    if not lines:
        return None
    x = np.fromiter(lines, dtype=np.uint64, count=len(lines))
    # multiply-add modulo 2**64 (numpy's uint64 wraps): each column a permutation; the minimum cut to 32 bits
    # (two different minima agree one time in 4 billion). Folded CHUNK lines at a time: all at once, a page of
    # 1M distinct lines held a 1M x 64 array (512 MB, twice over with the addition's copy).
    mins = np.full(HASHES, np.iinfo(np.uint64).max, dtype=np.uint64)
    products = np.empty((min(CHUNK, len(x)), HASHES), dtype=np.uint64)  # one buffer for every chunk
    for start in range(0, len(x), CHUNK):
        chunk = products[:len(x[start:start + CHUNK])]
        np.multiply(x[start:start + CHUNK, None], _MUL[None, :], out=chunk)
        chunk += _ADD[None, :]
        np.minimum(mins, chunk.min(axis=0), out=mins)
    return mins.astype(np.uint32).tobytes()


def stamp_signature(numbered) -> bytes:
    """What copies of a page may differ in: the count of its lines with a number (unmasked hashes) and their
    MinHash signature (HASHES zeros for none)."""
    n = len(numbered)
    sig = signature(numbered) if n else bytes(4 * HASHES)
    return np.uint32(n).tobytes() + sig


def _agreeing(a: bytes, b: bytes) -> int:
    return int(np.count_nonzero(np.frombuffer(a, dtype=np.uint32) == np.frombuffer(b, dtype=np.uint32)))


def _alike(a: bytes, b: bytes) -> bool:
    return _agreeing(a, b) >= SIMILAR * HASHES


def stamps_close(a: bytes, b: bytes) -> bool:
    """Two pages' lines with a number (stamp signatures) are those of copies: STAMPS lines at most apart. Pages of
    up to STAMPS such lines always are; otherwise their Jaccard's estimate must reach, within three standard errors,
    that of two pages of the larger one's count n with STAMPS lines each of their own, (n - STAMPS) / (n + STAMPS).
    Product pages of three lines of their own (0 alike) are apart; a copy of a page with a hundred numbered lines
    two apart (0.96 alike) is refused for the estimate's noise about one time in 400 (with no margin, one in two
    was; with two errors, one in 25), and a refused copy votes apart. The cost: pages of four numbered lines three
    apart (0.14 alike) are copies about one time in three (with two errors, one in 15)."""
    n = max(int(np.frombuffer(a[:4], dtype=np.uint32)[0]), int(np.frombuffer(b[:4], dtype=np.uint32)[0]))
    if n <= STAMPS:
        return True
    expected = (n - STAMPS) / (n + STAMPS)
    return _agreeing(a[4:], b[4:]) / HASHES >= expected - 3 * np.sqrt(expected * (1 - expected) / HASHES)


def _copies(a: tuple[bytes, bytes], b: tuple[bytes, bytes]) -> bool:
    """Two pages, each (signature of its own lines masked, stamp signature), are copies: alike masked, and their
    numbers apart by stamps alone."""
    return _alike(a[0], b[0]) and stamps_close(a[1], b[1])


def find_root(parent: dict, node):
    """The root of `node` in a union-find kept as child -> parent links (a node without a link is its own root),
    compressing the path it walked; site_boilerplate's joining of a page's records uses it too."""
    root = node
    while parent.get(root, root) != root:
        root = parent[root]
    while node != root:
        parent[node], node = root, parent[node]
    return root


class NearCopies:
    """Groups of near-copy pages of each site: pages given with their signatures, then grouped a site at a time."""

    def __init__(self) -> None:
        self.sigs: dict[str, dict] = defaultdict(dict)  # site -> page -> (signature, stamp signature)
        self.parent: dict = {}

    def add(self, site: str, page, sig: bytes | None, stamps: bytes = stamp_signature(())) -> None:
        """A page with the signature of its own lines (masked) and the stamp signature of its lines with a number
        (unmasked; by default none)."""
        if sig is not None:
            self.sigs[site][page] = (sig, stamps)

    def group(self) -> None:
        # a band at a time, one site at a time: the buckets held are one band's of one site (100k pages, ~15 MB)
        width = ROWS * 4  # bytes of one band
        for sigs in self.sigs.values():
            for band in range(HASHES // ROWS):
                reps: dict[bytes, list] = {}  # the band's hashes -> up to MAX_REPS pages that had them
                for page, sig in sigs.items():
                    bucket = reps.setdefault(sig[0][band * width:(band + 1) * width], [])
                    root = self.find(page)
                    for other in bucket:
                        if self.find(other) == root:
                            break
                        if _copies(sig, sigs[other]):
                            self.parent[root] = self.find(other)
                            break
                    else:
                        if len(bucket) < MAX_REPS:
                            bucket.append(page)
        self.sigs.clear()

    def find(self, page):
        return find_root(self.parent, page)

    def joined(self) -> bool:
        return bool(self.parent)
