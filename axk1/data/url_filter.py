"""URL filtering for web documents, as a datatrove filter: a block-list file and a domain allow-list.

FineWeb starts from a URL block list (adult and malware domains, the UT1 list); a team's own crawl usually also
wants to keep only some sites. Documents without a URL (every non-web source) pass untouched.

Block-list file: one entry a line, `#` starts a comment. A bare domain (`example.com`) blocks that host and every
subdomain; an entry with a path (`example.com/ads/`, with or without a scheme) blocks URLs that start with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter


@dataclass
class UrlFilterConfig:
    block_list: str = ""                                    # a file as above; relative to the pipeline file
    allow_domains: list[str] = field(default_factory=list)  # non-empty: only these domains and their subdomains


def _strip_scheme(url: str) -> str:
    url = url.strip()
    return url.split("://", 1)[1] if "://" in url else url


def _domains(host: str) -> list[str]:
    """www.news.example.com -> [www.news.example.com, news.example.com, example.com, com]."""
    parts = host.lower().strip(".").split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def load_block_list(path: str | Path) -> tuple[set[str], tuple[str, ...]]:
    """(blocked domains, blocked URL prefixes without scheme) from a block-list file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"[filters.url] block_list = {str(path)!r} is not a file: give a text file with one "
                                "domain or URL a line, or set block_list = \"\"")
    domains, prefixes = set(), []
    for raw in p.read_text(encoding="utf-8", errors="replace").splitlines():
        entry = _strip_scheme(raw.split("#", 1)[0])
        if not entry:
            continue
        if "/" in entry.rstrip("/"):
            prefixes.append(entry.lower())
        else:
            domains.add(entry.rstrip("/").lower())
    return domains, tuple(prefixes)


class UrlFilter(BaseFilter):
    name = "axk1 URL"

    def __init__(self, cfg: UrlFilterConfig, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.blocked, self.prefixes = load_block_list(cfg.block_list) if cfg.block_list else (set(), ())
        self.allowed = {d.lower().strip(".") for d in cfg.allow_domains}

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        url = doc.metadata.get("url")
        if not url or url.startswith("file:"):
            return True
        host = urlsplit(url).hostname or ""
        domains = _domains(host)
        if self.allowed and not any(d in self.allowed for d in domains):
            return False, "domain_not_allowed"
        if any(d in self.blocked for d in domains):
            return False, "url_blocked"
        if self.prefixes and _strip_scheme(url).lower().startswith(self.prefixes):
            return False, "url_blocked"
        return True


def url_step(filters, exclusions) -> UrlFilter | None:
    """The extract stage's entry (axk1/data/filter_steps.py): on when `[filters.url]` names a block list or
    allowed domains; removals go to excluded/url/."""
    cfg = filters.url
    if not cfg.block_list and not cfg.allow_domains:
        return None
    return UrlFilter(cfg, exclusion_writer=exclusions("url"))
