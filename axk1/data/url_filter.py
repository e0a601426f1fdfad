"""URL filtering for web documents, as a datatrove filter: a block-list file and a domain allow-list.

FineWeb starts from a URL block list (adult and malware domains, the UT1 list); a team's own crawl usually also
wants to keep only some sites. Documents without a URL (every non-web source) pass untouched.

Block-list file: one entry a line, `#` starts a comment. A bare domain (`example.com`) blocks that host and every
subdomain; an entry with a path (`example.com/ads/`, with or without a scheme) blocks URLs that start with it. The
forms block lists are published in are read too: hosts-file lines (`0.0.0.0 example.com`), wildcards
(`*.example.com`, `.example.com`: the same as `example.com`), a port (ignored). Hosts are compared lower-case and
in their ASCII (punycode) form, so `한국.kr` in a list blocks `xn--3e0b707e.kr` in a crawl and the reverse. A line
that is none of these is an error naming it (it was kept, and never matched anything).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from axk1.data.filter_entry import FilterEntry


@dataclass
class UrlFilterConfig:
    block_list: str = ""                                    # a file as above; relative to the pipeline file
    allow_domains: list[str] = field(default_factory=list)  # non-empty: only these domains and their subdomains

    def __post_init__(self) -> None:
        # each entry is read as a block-list line is (scheme, port, wildcard, trailing slash dropped): kept as
        # written, "https://www.korea.kr" became the host "https" (the port's colon) and excluded every page
        for entry in self.allow_domains:
            host, path = split_entry(entry)
            if path and len(str(entry).split()) == 1:
                raise ValueError(f"[filters.url] allow_domains entry {str(entry)[:100]!r} names a path: a domain is "
                                 f"allowed whole, with its subdomains; write {host!r}")
            if not host or len(str(entry).split()) != 1:
                raise ValueError(f"[filters.url] allow_domains entry {str(entry)[:100]!r} is not a domain: give one "
                                 "host an entry, such as \"korea.kr\" (its subdomains are allowed too)")


def _strip_scheme(url: str) -> str:
    url = url.strip()
    return url.split("://", 1)[1] if "://" in url else url


def ascii_host(host: str) -> str:
    """An internationalised domain in ASCII, punycode (`한국.kr` -> `xn--3e0b707e.kr`), as crawls write it; a name
    that is no valid IDN (an empty label, a label over 63 characters) as written."""
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _host_key(host: str) -> str:
    """A host as the lists compare it: lower case, no port, wildcard or trailing dot, IDN in ASCII (punycode)."""
    host = host.strip().lower().removeprefix("*.").strip(".")
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host  # a port (an IPv6 address has several colons)
    return ascii_host(host)


def split_entry(entry: str) -> tuple[str, str]:
    """(host as the lists compare it, the path after it, lower case, "" for none) of a list entry: a domain or a
    URL, with or without a scheme (`https://www.korea.kr/`, `korea.kr/news/`)."""
    host, _, rest = _strip_scheme(str(entry)).partition("/")
    return _host_key(host), rest.lower() if rest.strip("/") else ""


def _domains(host: str) -> list[str]:
    """www.news.example.com -> [www.news.example.com, news.example.com, example.com, com]."""
    parts = _host_key(host).split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


_HOSTS_ADDRESSES = ("0.0.0.0", "127.0.0.1", "::", "::1")


def load_block_list(path: str | Path) -> tuple[set[str], tuple[str, ...]]:
    """(blocked domains, blocked URL prefixes: host/path, lower case) from a block-list file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"[filters.url] block_list = {str(path)!r} is not a file: give a text file with one "
                                "domain or URL a line, or set block_list = \"\"")
    domains, prefixes = set(), []
    for n, raw in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        fields = raw.split("#", 1)[0].split()
        if len(fields) == 2 and fields[0] in _HOSTS_ADDRESSES:  # a hosts file: the address, then the name
            fields = fields[1:]
        if not fields:
            continue
        if len(fields) > 1:
            raise ValueError(f"[filters.url] block_list {str(path)!r} line {n}: {raw.strip()[:100]!r} is not a "
                             "domain, a URL prefix or a hosts-file line (0.0.0.0 domain)")
        host, path = split_entry(fields[0])
        if path:
            prefixes.append(f"{host}/{path}")
        else:
            domains.add(host)
    return domains, tuple(prefixes)


class UrlFilter(BaseFilter):
    name = "axk1 URL"

    def __init__(self, cfg: UrlFilterConfig, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.blocked, self.prefixes = load_block_list(cfg.block_list) if cfg.block_list else (set(), ())
        self.allowed = {split_entry(d)[0] for d in cfg.allow_domains}

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        url = doc.metadata.get("url")
        if not url or url.startswith("file:"):
            return True
        try:
            parts = urlsplit(url.strip())
            domains = _domains(parts.hostname or "")
        except ValueError:  # http://[bad/ : no host to judge the page by
            return False, "url_invalid"
        if self.allowed and not any(d in self.allowed for d in domains):
            return False, "domain_not_allowed"
        if any(d in self.blocked for d in domains):
            return False, "url_blocked"
        where = f"{domains[0]}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        if self.prefixes and where.lower().startswith(self.prefixes):
            return False, "url_blocked"
        return True


def url_step(cfg: UrlFilterConfig, exclusions) -> UrlFilter | None:
    """The extract stage's entry (axk1/data/filter_steps.py): on when `[filters.url]` names a block list or
    allowed domains; removals go to excluded/url/."""
    if not cfg.block_list and not cfg.allow_domains:
        return None
    return UrlFilter(cfg, exclusion_writer=exclusions("url"))


URL_STEP = FilterEntry(url_step, table="url", config=UrlFilterConfig)
