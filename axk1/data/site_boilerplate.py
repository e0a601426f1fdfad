"""Repeated-boilerplate removal across the pages of one site: a line that appears on many pages of a site (a menu,
a footer, "Report a bug", a cookie notice) is the site's template, not its content. An extractor cannot see this
from one page; counting over the site's pages can (as CCNet removes paragraphs repeated across a shard).

Three datatrove steps, run as three stages because the counts must cover every task's pages before any line is
removed (axk1/data/pipeline.py), and no task may need every site's counts (at web scale, billions of distinct lines):
  SiteLineCounter    per task, for each site: its pages by URL, each with the hashes of its captures' texts,
                     the distinct lines of them all (64-bit hashes), which of those have a number, and those
                     lines with their numbers masked (a counter, a time: what a copy changes), split by the
                     site's hash into one file per partition (as many as the stage's tasks)
                     -> site_lines/<partition>/<rank>.json.gz
  SiteLineReducer    per partition: merges its sites' pages over every task (records sharing a URL or a text are
                     one page; near-copies one voter), and keeps the boilerplate lines only, those on at least
                     `min_pages` distinct voters and at least `min_share` of their site's
                     -> site_boilerplate/<partition>.json.gz
  SiteBoilerplate    drops those lines from each page, reading a partition's file when a page of one of its sites
                     first comes; a page left empty is excluded with the reason "site_boilerplate_only", its text
                     as it came, so that the exclusion shows what was removed.
Votes are counted per page, not per copy: a line counts once for all the captures of one URL (a page crawled in
five snapshots, its view counter different each time, is one page) and once for all the pages that share a text
(a page saved twice, "기사 (2).html"). Counted per copy, a page fetched five times was "on five pages of the site":
its own article reached min_pages / min_share alone and the page lost all its text. The reducer joins a site's
records that share a URL or a text, over every task, and counts the lines of each such page once. Near-copies at
other URLs (`?print=1`, `index.html`, a view counter apart) then vote once too: pages whose lines, their
numbers masked ("조회수 1234" and "조회수 1301" alike) and the site's template aside, are near-identical, and
whose numbers differ in two lines at most (a counter, a time: not "RTX 4090" and "RTX 4080" pages), are one
voter (axk1/data/site_near_copies.py), and min_share is a share of the site's voters.
Only web documents take part (those with a `host`, or a `url`, in their metadata); a site is its host name, or
the source's name for pages with file: URLs.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

from axk1.data.site_near_copies import NearCopies, copy_lines, find_root, mask_numbers, signature, stamp_signature
from axk1.json_text import read_json_file

RERUN = "rerun the pipeline (axk1 data run --force)"
# a page record of the counting stage (numbered, masked: since near-copies compare lines with numbers masked)
_FIELDS = {"texts", "lines", "numbered", "masked"}


@dataclass
class SiteBoilerplateConfig:
    enabled: bool = True     # adds two stages to runs that read `warc` or `html` sources
    min_pages: int = 3       # a line is boilerplate on at least this many pages of its site ...
    min_share: float = 0.2   # ... and on at least this share of them

    def __post_init__(self) -> None:
        # out of range, each was taken in silence: min_share = 7 removes no line, and min_pages = 1 or -3 every line
        # of a site's only page (excluded as site_boilerplate_only)
        if not (isinstance(self.min_pages, int) and self.min_pages >= 2):
            raise ValueError(f"filters.site_boilerplate.min_pages = {self.min_pages!r}: give a whole number of pages, "
                             "2 or more (a line on one page is no repetition; default 3)")
        if not (isinstance(self.min_share, (int, float)) and 0 <= self.min_share <= 1):
            raise ValueError(f"filters.site_boilerplate.min_share = {self.min_share!r}: give a share of a site's "
                             "pages in [0, 1] (default 0.2)")


def _counted(line: str) -> bool:
    """A line that can be a site's template text: one with a letter or digit. A line of markup alone (a Markdown
    table's `|---|---|`, a rule `---`, an empty cell row) is structure, repeated because pages share a layout; as
    "boilerplate" it was cut out of every kept table on a help site, and copies of a page on two sites then differed."""
    return any(ch.isalnum() for ch in line)


def _key(line: str) -> int:
    import xxhash

    return xxhash.xxh64_intdigest(" ".join(line.split()))


def _page_lines(text: str) -> tuple[set[int], set[int], set[int]]:
    """The distinct counted lines of a page, as hashes; those of them with a digit; and those lines with their
    numbers masked. (A line without a digit is its own masked form, so only those with one are listed twice.)"""
    lines = {ln for ln in text.split("\n") if _counted(ln)}
    numbered = {ln for ln in lines if any(ch.isdigit() for ch in ln)}
    return {_key(ln) for ln in lines}, {_key(ln) for ln in numbered}, {_key(mask_numbers(ln)) for ln in numbered}


def _site(doc: Document) -> str | None:
    meta = doc.metadata
    if "host" not in meta and "url" not in meta:
        return None
    return meta.get("host") or f"source:{meta.get('source', '')}"


def _page_key(doc: Document, text_hash: str) -> str:
    """The page a document is a capture of: its URL without the fragment (`#section` names a place in the same
    page), or its text for a document without a URL."""
    url = doc.metadata.get("url")
    return f"url:{url.split('#', 1)[0]}" if url else f"text:{text_hash}"


def _partition(site: str, parts: int) -> int:
    import xxhash

    return xxhash.xxh64_intdigest(site) % parts


class SiteLineCounter(PipelineStep):
    name = "axk1 site line counts"
    type = "📊 - STATS"

    def __init__(self, output_folder: str):
        super().__init__()
        self.output_folder = output_folder

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        # site -> page (its URL) -> the hashes of its captures' texts and the union of their lines (and of their
        # numbered and masked lines): a recapture adds its new lines to the same page's vote, never a vote of its own
        pages: dict[str, dict[str, dict[str, set]]] = defaultdict(dict)
        for doc in data:
            site = _site(doc)
            if site is not None:
                text = str(_key(doc.text))
                page = pages[site].setdefault(_page_key(doc, text), {field: set() for field in _FIELDS})
                if text not in page["texts"]:  # (the same text again adds nothing)
                    page["texts"].add(text)
                    for field, hashes in zip(("lines", "numbered", "masked"), _page_lines(doc.text)):
                        page[field].update(hashes)
            yield doc
        parts: dict[int, dict] = defaultdict(dict)
        for site, site_pages in pages.items():
            parts[_partition(site, world_size)][site] = {
                "pages": {key: {field: sorted(hashes) for field, hashes in p.items()} for key, p in site_pages.items()}}
        for part in range(world_size):  # every partition's file, empty ones too: the reducer knows it saw them all
            folder = Path(self.output_folder) / f"{part:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            with gzip.open(folder / f"{rank:05d}.json.gz", "wt", encoding="utf-8") as f:
                json.dump(parts.get(part, {}), f)


class SiteLineReducer(PipelineStep):
    """Task `rank` of as many as the counting stage had: its partition's sites' counts summed over every counting
    task, and their boilerplate lines (thresholds of SiteBoilerplateConfig) written alone."""

    name = "axk1 site boilerplate lines"
    type = "📊 - STATS"

    def __init__(self, counts_folder: str, output_folder: str, cfg: SiteBoilerplateConfig):
        super().__init__()
        self.counts_folder, self.output_folder, self.cfg = counts_folder, output_folder, cfg

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        files = sorted((Path(self.counts_folder) / f"{rank:05d}").glob("*.json.gz"))
        # Several passes over the files (three, four when near-copies are found), so that memory grows with a
        # site's distinct pages and lines, not with every page's lines.
        # First, which records are one page: those sharing a URL (recaptures, read by several tasks) or a text
        # (one page under two URLs), joined in a union-find over "url:"/"text:" keys.
        pages = _Pages()
        for site, key, rec in _records(files):
            pages.add((site, key), rec["texts"])
        n_pages = pages.count()
        # Then each page's lines counted once: a page held by one record straight away, one held by several
        # (the only lines kept in memory) as the union of its records' lines.
        def page_of(site, key):
            return pages.find((site, key))

        # Each page's masked lines (its numbered lines with their numbers masked) are counted in the same pass,
        # apart: they must not vote as lines (a masked "조회수 0" is no line of the pages that have "조회수 1234").
        lines, masked = _counts(files, page_of, pages.records, "lines", "masked")
        # Near-copies at other URLs (?print=1, index.html: a counter apart) vote once too: pages grouped by their
        # lines with numbers masked that are not the site's template, then every line counted again a group a voter.
        copies = NearCopies()
        for page, (page_lines, numbered, page_masked) in _voter_lines(files, page_of, pages.records,
                                                                      "lines", "numbered", "masked"):
            site = page[0]
            # a masked line always has a digit ("0"), so it is never one of the lines without one
            counted = [(h, lines[site][h]) for h in set(page_lines).difference(numbered)]
            counted += [(h, masked[site][h]) for h in page_masked]
            # copies differ in a stamp or two (a counter, a time), not in their model, price and wattage
            copies.add(site, page, signature(copy_lines(counted, n_pages[site])), stamp_signature(numbered))
        del masked  # (its memory is the lines' count's again in the next pass)
        copies.group()
        if copies.joined():
            def voter_of(site, key):
                return copies.find(pages.find((site, key)))

            records = Counter(voter_of(*r) for r in pages.occurrences)
            lines, = _counts(files, voter_of, records, "lines")
            n_pages = dict(Counter(site for site, _ in records))  # min_share is a share of the site's voters
        cfg = self.cfg
        drop = {}
        for site, counts in lines.items():
            n = n_pages[site]
            drop[site] = sorted(k for k, c in counts.items() if c >= cfg.min_pages and c >= cfg.min_share * n)
        os.makedirs(self.output_folder, exist_ok=True)
        with gzip.open(Path(self.output_folder) / f"{rank:05d}.json.gz", "wt", encoding="utf-8") as f:
            json.dump({site: hashes for site, hashes in drop.items() if hashes}, f)
        if data:
            yield from data


def _voter_lines(files: list[Path], voter_of, records: Counter, *fields: str):
    """(voter, [its distinct hashes of each of `fields`]) once for each voter (a page, or a group of near-copies):
    one held by a single record straight from it, one held by several as the union of their records', the only
    hashes kept in memory. (A line has a number or not by its text, so the union of a page's records' "numbered"
    is the page's.)"""
    pending: dict[tuple, list[set[int]]] = {}
    for site, key, rec in _records(files):
        voter = voter_of(site, key)
        if records[voter] == 1:
            yield voter, [rec[field] for field in fields]
        else:
            held = pending.setdefault(voter, [set() for _ in fields])
            for hashes, field in zip(held, fields):
                hashes.update(rec[field])
    yield from pending.items()


def _counts(files: list[Path], voter_of, records: Counter, *fields: str) -> list[dict[str, Counter]]:
    """For each of `fields`: site -> hash -> how many voters have it, in one pass over the files."""
    counts: list[dict[str, Counter]] = [defaultdict(Counter) for _ in fields]
    for voter, voter_fields in _voter_lines(files, voter_of, records, *fields):
        for site_counts, hashes in zip(counts, voter_fields):
            site_counts[voter[0]].update(hashes)
    return counts


def _records(files: list[Path]):
    """(site, page key, {"texts", "lines", "numbered", "masked"}) for each page record of the counting tasks'
    files."""
    for p in files:
        for site, rec in read_json_file(p, RERUN, what="site line counts", need_object=True).items():
            site_pages = rec.get("pages") if isinstance(rec, dict) else None
            if not isinstance(site_pages, dict) or not all(isinstance(r, dict) and _FIELDS <= r.keys()
                                                           for r in site_pages.values()):
                raise ValueError(f"{p}: site line counts for {site!r} are not in this version's form (written by "
                                 f"an older axk1?): {RERUN}")
            for key, page in site_pages.items():
                yield site, key, page


class _Pages:
    """Union-find over (site, "url:..."/"text:...") keys: the records that are one page."""

    def __init__(self) -> None:
        self.parent: dict[tuple, tuple] = {}
        self.occurrences: list[tuple] = []  # each record read, as its (site, key)
        self.records: Counter = Counter()   # page (a root) -> its records; filled by count()

    def find(self, node: tuple) -> tuple:
        return find_root(self.parent, node)

    def add(self, record: tuple, texts: list[str]) -> None:
        self.occurrences.append(record)
        root = self.find(record)
        for text in texts:
            other = self.find((record[0], f"text:{text}"))
            if other != root:
                self.parent[other] = root

    def count(self) -> dict[str, int]:
        """Each page's number of records, and each site's number of distinct pages."""
        self.records = Counter(self.find(r) for r in self.occurrences)
        per_site: Counter = Counter(site for site, _ in self.records)
        return dict(per_site)


class SiteBoilerplate(BaseFilter):
    name = "axk1 site boilerplate"

    def __init__(self, boilerplate_folder: str, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.boilerplate_folder = boilerplate_folder
        self.parts: dict[int, dict[str, set[int]]] = {}  # partition -> site -> boilerplate hashes, as pages come
        self.n_parts: int | None = None

    def _lines(self, site: str) -> set[int] | None:
        """The site's boilerplate lines, its partition's file read on first need in the task's own process."""
        if self.n_parts is None:
            self.n_parts = len(list(Path(self.boilerplate_folder).glob("*.json.gz")))
        if not self.n_parts:
            return None
        part = _partition(site, self.n_parts)
        if part not in self.parts:
            file = Path(self.boilerplate_folder) / f"{part:05d}.json.gz"
            found = read_json_file(file, RERUN, what="site boilerplate lines", need_object=True)
            self.parts[part] = {site: set(hashes) for site, hashes in found.items()}
        return self.parts[part].get(site)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        site = _site(doc)
        if site is None:
            return True
        drop = self._lines(site)
        if not drop:
            return True
        lines = doc.text.split("\n")
        kept = [ln for ln in lines if not _counted(ln) or _key(ln) not in drop]
        removed = len(lines) - len(kept)
        if not removed:
            return True
        # recorded on the page, so that one a later filter excludes still says what was cut before it
        doc.metadata["site_boilerplate_lines"] = removed
        doc.metadata["chars_before_site_boilerplate"] = len(doc.text)
        self.stat_update("site_boilerplate_lines", value=removed)
        text = "\n".join(kept).strip()
        if not text:
            return False, "site_boilerplate_only"  # excluded with its text as it came: what was removed
        doc.text = text
        return True
