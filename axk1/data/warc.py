"""WARC and ARC files (Common Crawl's layout: one gzip member per record, or uncompressed) as a stream of pages,
through warcio (the library datatrove's own WarcReader uses), and the writer the starter corpus uses.

Only `response` and `resource` records are pages (ARC records become `response` records); `warcinfo`, `request`,
`metadata` and `revisit` records describe the crawl and are not inputs. A page that cannot be used is yielded as a
`Skipped` with its reason, so the reader can count it: a non-HTML payload ("not_html"), an HTTP status other than
200 ("http_status_404"), a payload over the size limit ("too_large"). A record that cannot be parsed, or a gzip
stream that breaks, is "broken_record". In a gzipped file (one member a record) the reading goes on at the next
member (warc_salvage.py); in a plain one it ends the file: past a corrupt header there is no reliable place to
resume. Memory stays flat: records are read one at a time and a payload is read only up to the size limit.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from warcio.exceptions import ArchiveLoadFailed

from axk1.data.warc_salvage import GZIP_MAGIC, holds_one_record, is_member_start, member_records, members

HTML_TYPES = ("text/html", "application/xhtml+xml")
PAGE_RECORDS = ("response", "resource")
WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")


@dataclass
class WebPage:
    url: str
    fetch_date: str          # as the crawler recorded it (WARC-Date, ISO 8601)
    content_type: str        # the HTTP Content-Type (with its charset parameter, if any)
    payload: bytes
    record_id: str = ""


@dataclass
class Skipped:
    url: str
    reason: str


def _mime(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def looks_like_html(payload: bytes) -> bool:
    """For records without a usable Content-Type: markup near the start, as browsers sniff."""
    head = payload[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")) or b"<html" in head


def read_warc(path: str | Path, max_page_bytes: int = 4 << 20) -> Iterator[WebPage | Skipped]:
    """Pages (or why not) of one WARC/ARC file, gzip per record or plain, in file order."""
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as fh:
        gzipped = fh.read(3) == GZIP_MAGIC
        fh.seek(0)
        records = ArchiveIterator(fh, arc2warc=True)
        last = None  # the offset of the last record read whole
        while True:
            url, current = "", None
            try:
                record = next(records, None)
                if record is None:
                    break
                current = records.offset  # where this record starts (get_record_offset() would read it to its end)
                if record.rec_type in PAGE_RECORDS:
                    url = record.rec_headers.get_header("WARC-Target-URI") or ""
                    item = _page(record, url, max_page_bytes)
                    yield item
                last = current
            except _BROKEN as e:
                if not gzipped:
                    yield Skipped(url, _broken(e))
                    return
                start, skip = _resume_point(fh, current, last, max_page_bytes)  # one member a record: the next one
                yield Skipped(url, _broken(e) + ("" if start is not None else _REST_LOST))
                yield from _go_on(fh, start, skip, max_page_bytes)
                return
        if gzipped and last is not None:
            # warcio ends quietly at a member cut short before its record's headers end: whatever members follow
            # the last record read are read (or failed) here, so that no record goes uncounted
            yield from _go_on(fh, *_resume_point(fh, None, last, max_page_bytes, after_last=True), max_page_bytes)


_REST_LOST = "; the rest of the file is not read (its gzip members hold several records each: no clean place to go on)"


def _resume_point(fh, current: int | None, last: int | None, max_page_bytes: int,
                  after_last: bool = False) -> tuple[int | None, int]:
    """(offset, members to skip there) where reading goes on after the broken record, or (None, 0) where there is
    no safe place. warcio's offset is a file offset only for a record that starts its own gzip member: in a
    member holding several records it is not (it may be negative), and skipping "the next member" would skip
    records silently, so salvage needs the one-record-per-member layout: the broken record at a member's start,
    or (when warcio broke before giving its offset) the last good record alone in its member, the broken one in
    the next."""
    keep = max_page_bytes + (1 << 16)
    try:
        if current is not None:
            return (current, 1) if is_member_start(fh, current) else (None, 0)
        if last is None:
            return (0, 1) if not after_last else (None, 0)
        if is_member_start(fh, last) and holds_one_record(fh, last, keep):
            return last, 1 if after_last else 2
    except OSError:
        pass
    return None, 0


def _go_on(fh, start: int | None, skip: int, max_page_bytes: int) -> Iterator[WebPage | Skipped]:
    """_salvage from `start`, if there is one; a read error there is one more failure, never a traceback."""
    if start is None:
        return
    try:
        yield from _salvage(fh, start, skip, max_page_bytes)
    except _BROKEN as e:
        yield Skipped("", _broken(e))


# what a broken record raises from warcio or zlib (a record without a URI: AttributeError inside warcio)
_BROKEN = (ArchiveLoadFailed, zlib.error, EOFError, ValueError, OSError, AttributeError, TypeError, KeyError)


def _salvage(fh, start: int, skip: int, max_page_bytes: int) -> Iterator[WebPage | Skipped]:
    """The pages of the gzip members after `skip` members from `start`, each member read on its own."""
    for i, (offset, data, why) in enumerate(members(fh, start, keep=max_page_bytes + (1 << 16))):
        if i < skip:
            continue
        if data is None:
            yield Skipped("", f"broken_record: gzip member at byte {offset}: {why[:200]}")
            continue
        url = ""
        try:
            for record in member_records(data):
                if record.rec_type in PAGE_RECORDS:
                    url = record.rec_headers.get_header("WARC-Target-URI") or ""
                    yield _page(record, url, max_page_bytes)
        except _BROKEN as e:
            yield Skipped(url, _broken(e))


def _broken(e: Exception) -> str:
    if isinstance(e, (AttributeError, TypeError, KeyError)):  # warcio's own code tripped on the record
        return f"broken_record: warcio could not parse it (a header missing, e.g. WARC-Target-URI?): {str(e)[:200]}"
    return f"broken_record: {type(e).__name__}: {str(e)[:200]}"


def _page(record, url: str, max_page_bytes: int) -> WebPage | Skipped:
    headers = record.rec_headers
    http = record.http_headers  # None for `resource` records and for responses without HTTP headers
    content_type = ""
    if http is not None:
        status = http.get_statuscode()
        if status and status != "200":
            return Skipped(url, f"http_status_{status}")
        content_type = http.get_header("Content-Type") or ""
    if not content_type and record.rec_type == "resource":
        content_type = headers.get_header("Content-Type") or ""
    content_type = content_type or headers.get_header("WARC-Identified-Payload-Type") or ""
    mime = _mime(content_type)
    if mime and mime not in HTML_TYPES and not mime.startswith("text/plain"):
        return Skipped(url, f"not_html ({mime})")
    payload = record.content_stream().read(max_page_bytes + 1)
    if len(payload) > max_page_bytes:
        return Skipped(url, f"too_large (over {max_page_bytes} bytes)")
    missing = getattr(record.raw_stream, "limit", 0)  # bytes the record declared and the file did not hold
    if missing:
        raise EOFError(f"record ends {missing} bytes short of its Content-Length")
    if mime not in HTML_TYPES and not looks_like_html(payload):  # no type, or text/plain served for a page
        return Skipped(url, f"not_html ({mime or 'no content type'})")
    return WebPage(url, headers.get_header("WARC-Date") or "", content_type, payload,
                   headers.get_header("WARC-Record-ID") or "")


def write_warc(path: str | Path, pages: Iterable[WebPage]) -> int:
    """Writes pages as HTTP response records, one gzip member each (Common Crawl's layout); returns the count."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    n = 0
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=str(path).endswith(".gz"))
        for page in pages:
            http = StatusAndHeaders("200 OK", [("Content-Type", page.content_type or "text/html"),
                                               ("Content-Length", str(len(page.payload)))], protocol="HTTP/1.1")
            date = page.fetch_date or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            record = writer.create_warc_record(page.url, "response", payload=io.BytesIO(page.payload),
                                               http_headers=http, warc_headers_dict={"WARC-Date": date})
            writer.write_record(record)
            n += 1
    return n
