"""Web pages as Documents, for the `warc` source (records of a crawl) and the `html` source (a folder of saved
pages): decode the bytes (axk1/data/charset.py), extract the main text (axk1/data/html_extract.py), keep the URL,
fetch date, content type, charset and title in the metadata. Each page becomes a Document or a Failure with its
reason (undecodable, no_main_text, extract_error, too_complex, extract_timeout, too_deep; a saved page's not_html,
too_large, broken_gzip; and the WARC reader's not_html / http_status_* / too_large / unsupported_encoding /
unsupported_format / digest_mismatch / broken_record).
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from datetime import datetime, timezone
from html import unescape
from pathlib import Path
from typing import Iterator
from urllib.parse import quote, urljoin, urlsplit

from datatrove.data import Document

from axk1.data.charset import UndecodableError, decode_html
from axk1.data.failure import Failure
from axk1.data.gzip_members import inflate_members
from axk1.data.html_extract import ExtractLimit, WebConfig, extract_main_text
from axk1.data.sniff import GZIP, binary_kind, script_kind
from axk1.data.url_filter import ascii_host
from axk1.data.warc import Skipped, WebPage, read_warc

HTML_SUFFIXES = (".html", ".htm", ".xhtml")
# a page that is a shell around a frame (a Naver blog post's page holds only <iframe id="mainFrame" src=PostView...>,
# old sites are <frameset>s): the text is at the frame's URL, which the failure names
_FRAME = re.compile(r"""<i?frame\b[^>]*?\ssrc\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)


def host_of(url: str) -> str:
    """The site a page belongs to (repeated-boilerplate removal groups pages by it); "" for a URL that does not
    parse (a crawl's `http://[bad/x` raised here and lost the rest of its WARC file)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _frame_url(base: str, src: str) -> str:
    """A frame's URL, absolute where it can be made so (urljoin raises on 'http://[bad': it ended the WARC file's
    reader, and every later page of the file was lost)."""
    try:
        return urljoin(base, src)
    except ValueError:
        return src


def page_document(page: WebPage, item_id: str, base: dict, cfg: WebConfig, source, rel: str):
    """A Document with the page's main text, or a Failure naming why there is none."""

    try:
        repairs: list[str] = []
        html, charset = decode_html(page.payload, page.content_type, repairs)
    except UndecodableError as e:
        return Failure(item_id, f"undecodable: {e} ({page.url})", source, rel)
    try:
        result = extract_main_text(html, page.url or None, cfg)
    except ExtractLimit as e:  # a page over a bound (too_complex, extract_timeout, too_deep): it fails, the run goes on
        return Failure(item_id, f"{e} ({page.url})", source, rel)
    except Exception as e:  # a third-party parser meeting hostile markup: this page fails, the task goes on
        return Failure(item_id, f"extract_error: {type(e).__name__}: {str(e)[:200]} ({page.url})", source, rel)
    if len(result.text) < cfg.min_text_chars:
        frame = _FRAME.search(html)
        where = f"; its text is in a frame: crawl {_frame_url(page.url, unescape(frame.group(1)))[:300]}" \
            if frame else ""
        return Failure(item_id, f"no_main_text ({len(result.text)} characters{where}; {page.url})", source, rel)
    meta = {**base, "url": page.url, "host": host_of(page.url), "fetch_date": page.fetch_date,
            "content_type": page.content_type, "charset": charset, "title": result.title}
    if repairs:
        meta["charset_repairs"] = repairs
    if result.controls_removed:
        meta["control_chars_removed"] = result.controls_removed
    if page.record_id:
        meta["warc_record_id"] = page.record_id
    if page.digest:
        meta["warc_digest"] = page.digest
    return Document(text=result.text, id=item_id, metadata=meta)


def read_warc_source(spec, path: Path, rel: str, base: dict, cfg: WebConfig, described: Counter | None = None
                     ) -> Iterator:
    """Documents and failures of one WARC/ARC file; ids are <source>/<file>#<n>, n counting page records. The
    records describing the crawl (request, revisit, metadata, warcinfo) are no input; they are counted by type in
    `described`, and a sound file holding nothing else fails saying so (a bare "no_records" read as a damaged
    file)."""
    mine: Counter = Counter()
    n = -1
    for n, item in enumerate(read_warc(path, cfg.max_page_bytes, mine)):
        item_id = f"{spec.name}/{rel}#{n}"
        if isinstance(item, Skipped):
            yield Failure(item_id, f"{item.reason}" + (f" ({item.url})" if item.url else ""), spec.name, rel)
        else:
            yield page_document(item, item_id, base, cfg, spec.name, rel)
    if described is not None:
        described.update(mine)
    if n < 0 and mine:
        yield Failure(f"{spec.name}/{rel}", f"no_records: holds only non-page records ({describe_records(mine)}): "
                      "no response or resource record, so no page", spec.name, rel)


def describe_records(counts: Counter) -> str:
    """"3 revisit, 1 request" (most first)."""
    return ", ".join(f"{k} {t}" for t, k in sorted(counts.items(), key=lambda x: (-x[1], x[0])))


def file_url(spec, rel: str) -> str:
    """A saved page's URL: `base_url` + its path inside the folder when the source sets one, else a file: URL."""
    if spec.base_url:
        return spec.base_url.rstrip("/") + "/" + quote(rel.replace("\\", "/"))
    root = Path(spec.path).resolve()
    return (root / rel).as_uri() if root.is_dir() else root.as_uri()


def read_html_file(spec, path: Path, rel: str, base: dict, cfg: WebConfig):
    """One saved page of an `html` source; its file time stands for the fetch date. A page saved gzip-compressed,
    as its server sent it, is inflated; a file of another kind (a PDF, an image) is no page: not_html."""

    item_id = f"{spec.name}/{rel}"
    size = path.stat().st_size
    if size > cfg.max_page_bytes:
        return Failure(item_id, f"too_large ({size} bytes)", spec.name, rel)
    fetched = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = path.read_bytes()
    if payload.startswith(GZIP):
        try:
            payload = _gunzipped(payload, cfg.max_page_bytes)
        except ValueError as e:
            return Failure(item_id, f"broken_gzip (a gzip-compressed page whose stream {e})", spec.name, rel)
        if len(payload) > cfg.max_page_bytes:
            return Failure(item_id, f"too_large (over {cfg.max_page_bytes} bytes inflated)", spec.name, rel)
    if kind := binary_kind(payload) or script_kind(payload):  # a PDF, an image, an API's JSON saved as .html
        return Failure(item_id, f"not_html ({kind}, in a file named {path.suffix})", spec.name, rel)
    page = WebPage(file_url(spec, rel), fetched, "", payload)
    return page_document(page, item_id, base, cfg, spec.name, rel)


def _gunzipped(data: bytes, limit: int) -> bytes:
    """A gzip stream, all its members, inflated up to limit + 1 bytes (a bomb stops there); ValueError saying why when it does not
    inflate whole."""
    try:
        out, ended = inflate_members(data, limit)  # every member, not the first alone
    except zlib.error as e:
        raise ValueError(f"does not inflate: {e}") from None
    if not ended and len(out) <= limit:
        raise ValueError("ends early (the file is cut short)")
    return out


def _site_host(site: str) -> str:
    """A folder name as a URL's host: a Korean domain in its punycode form (`한국.kr` -> `xn--3e0b707e.kr`), as a
    crawl writes it; percent-encoded, as it was, it matched no `allow_domains` entry and every page was excluded.
    A name that is no domain (`my pages`) stays, percent-encoded."""
    return quote(ascii_host(site))


def folder_pages(root: str | Path) -> Iterator[WebPage]:
    """The saved pages under a folder as crawl records (what `axk1 data starter --web DIR` writes to a WARC). Each
    top-level subfolder is one site, https://<subfolder>/<path below it>; pages directly in the folder belong to a
    site named after the folder. Hidden files and folders (`.cache/`, `.old.html`) are no pages, as for sources.
    The file time stands for the fetch date; the charset is left to the reader."""
    root = Path(root)
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(HTML_SUFFIXES)):
        parts = path.relative_to(root).parts
        if any(part.startswith(".") for part in parts):
            continue
        site, rest = (parts[0], parts[1:]) if len(parts) > 1 else (root.resolve().name, parts)
        fetched = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        yield WebPage(f"https://{_site_host(site)}/{quote('/'.join(rest))}", fetched, "text/html",
                      path.read_bytes())
