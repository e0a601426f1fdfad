"""Repeated-boilerplate removal across the pages of one site: a line that appears on many pages of a site (a menu,
a footer, "Report a bug", a cookie notice) is the site's template, not its content. An extractor cannot see this
from one page; counting over the site's pages can (as CCNet removes paragraphs repeated across a shard).

Two datatrove steps, run as two stages because the counts must cover every task's pages before any line is
removed (axk1/data/pipeline.py):
  SiteLineCounter    per task, for each site: its pages, and on how many pages each distinct line appears
                     (lines kept as 64-bit hashes) -> site_lines/<rank>.json.gz
  SiteBoilerplate    sums every task's counts, then drops from each page the lines on at least `min_pages` pages
                     and at least `min_share` of its site's pages; a page left empty is excluded with the reason
                     "site_boilerplate_only".
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


@dataclass
class SiteBoilerplateConfig:
    enabled: bool = True     # adds two stages to runs that read `warc` or `html` sources
    min_pages: int = 3       # a line is boilerplate on at least this many pages of its site ...
    min_share: float = 0.2   # ... and on at least this share of them


def _key(line: str) -> int:
    import xxhash

    return xxhash.xxh64_intdigest(" ".join(line.split()))


def _site(doc: Document) -> str | None:
    meta = doc.metadata
    if "host" not in meta and "url" not in meta:
        return None
    return meta.get("host") or f"source:{meta.get('source', '')}"


class SiteLineCounter(PipelineStep):
    name = "axk1 site line counts"
    type = "📊 - STATS"

    def __init__(self, output_folder: str):
        super().__init__()
        self.output_folder = output_folder

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        pages: Counter = Counter()
        lines: dict[str, Counter] = defaultdict(Counter)
        for doc in data:
            site = _site(doc)
            if site is not None:
                pages[site] += 1
                lines[site].update({_key(ln) for ln in doc.text.split("\n") if ln.strip()})
            yield doc
        os.makedirs(self.output_folder, exist_ok=True)
        out = {site: {"pages": n, "lines": {str(k): c for k, c in lines[site].items()}} for site, n in pages.items()}
        with gzip.open(Path(self.output_folder) / f"{rank:05d}.json.gz", "wt", encoding="utf-8") as f:
            json.dump(out, f)


def load_boilerplate(folder: str | Path, cfg: SiteBoilerplateConfig) -> dict[str, set[int]]:
    """Site -> hashes of its boilerplate lines, from every task's counts."""
    pages: Counter = Counter()
    lines: dict[str, Counter] = defaultdict(Counter)
    for p in sorted(Path(folder).glob("*.json.gz")):
        with gzip.open(p, "rt", encoding="utf-8") as f:
            for site, rec in json.load(f).items():
                pages[site] += rec["pages"]
                lines[site].update({int(k): c for k, c in rec["lines"].items()})
    return {site: {k for k, c in lines[site].items() if c >= cfg.min_pages and c >= cfg.min_share * n}
            for site, n in pages.items()}


class SiteBoilerplate(BaseFilter):
    name = "axk1 site boilerplate"

    def __init__(self, counts_folder: str, cfg: SiteBoilerplateConfig, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.counts_folder = counts_folder
        self.cfg = cfg
        self.boilerplate: dict[str, set[int]] | None = None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        site = _site(doc)
        if site is None:
            return True
        if self.boilerplate is None:  # loaded in the task's own process, not pickled with the step
            self.boilerplate = load_boilerplate(self.counts_folder, self.cfg)
        drop = self.boilerplate.get(site)
        if not drop:
            return True
        lines = doc.text.split("\n")
        kept = [ln for ln in lines if not ln.strip() or _key(ln) not in drop]
        removed = len(lines) - len(kept)
        if removed:
            doc.metadata["site_boilerplate_lines"] = removed
            self.stat_update("site_boilerplate_lines", value=removed)
            doc.text = "\n".join(kept).strip()
        return (False, "site_boilerplate_only") if not doc.text else True
