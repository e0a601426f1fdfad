"""Repeated-boilerplate removal across the pages of one site: a line that appears on many pages of a site (a menu,
a footer, "Report a bug", a cookie notice) is the site's template, not its content. An extractor cannot see this
from one page; counting over the site's pages can (as CCNet removes paragraphs repeated across a shard).

Three datatrove steps, run as three stages because the counts must cover every task's pages before any line is
removed (axk1/data/pipeline.py), and no task may need every site's counts (at web scale, billions of distinct lines):
  SiteLineCounter    per task, for each site: its distinct pages (a hash of the page's text) and the distinct lines
                     of each (64-bit hashes), split by the site's hash into one file per partition (as many as the
                     stage's tasks) -> site_lines/<partition>/<rank>.json.gz
  SiteLineReducer    per partition: merges its sites' pages over every task, a page with the same text once, and
                     keeps the boilerplate lines only, those on at least `min_pages` distinct pages and at least
                     `min_share` of their site's distinct pages -> site_boilerplate/<partition>.json.gz
  SiteBoilerplate    drops those lines from each page, reading a partition's file when a page of one of its sites
                     first comes; a page left empty is excluded with the reason "site_boilerplate_only", its text
                     as it came, so that the exclusion shows what was removed.
Pages are counted by text, not by copy: a page crawled in three snapshots, or saved twice ("기사 (2).html"), is one
page; counted three times, every line of it was "on three pages of the site" and the page lost all its text.
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

from axk1.json_text import read_json_file

RERUN = "rerun the pipeline (axk1 data run --force)"


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


def _page_lines(text: str) -> list[int]:
    """The distinct counted lines of a page, as hashes."""
    return sorted({_key(ln) for ln in text.split("\n") if _counted(ln)})


def _site(doc: Document) -> str | None:
    meta = doc.metadata
    if "host" not in meta and "url" not in meta:
        return None
    return meta.get("host") or f"source:{meta.get('source', '')}"


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
        # site -> page-text hash -> its lines: a copy of a page (same text, whitespace aside) adds nothing
        pages: dict[str, dict[str, list[int]]] = defaultdict(dict)
        for doc in data:
            site = _site(doc)
            if site is not None:
                page = str(_key(doc.text))
                if page not in pages[site]:
                    pages[site][page] = _page_lines(doc.text)
            yield doc
        parts: dict[int, dict] = defaultdict(dict)
        for site, site_pages in pages.items():
            parts[_partition(site, world_size)][site] = {"pages": site_pages}
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
        # merged as they are read: per site the pages seen (the same page from two tasks, two snapshots, counts
        # once) and a count a line, so memory grows with distinct pages and lines, not with every page's lines
        seen: dict[str, set[str]] = defaultdict(set)
        lines: dict[str, Counter] = defaultdict(Counter)
        for p in sorted((Path(self.counts_folder) / f"{rank:05d}").glob("*.json.gz")):
            for site, rec in read_json_file(p, RERUN, what="site line counts", need_object=True).items():
                for page, page_lines in rec["pages"].items():
                    if page not in seen[site]:
                        seen[site].add(page)
                        lines[site].update(page_lines)
        cfg = self.cfg
        drop = {}
        for site, counts in lines.items():
            n = len(seen[site])
            drop[site] = sorted(k for k, c in counts.items() if c >= cfg.min_pages and c >= cfg.min_share * n)
        os.makedirs(self.output_folder, exist_ok=True)
        with gzip.open(Path(self.output_folder) / f"{rank:05d}.json.gz", "wt", encoding="utf-8") as f:
            json.dump({site: hashes for site, hashes in drop.items() if hashes}, f)
        if data:
            yield from data


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
