"""WARC and ARC files (Common Crawl's layout: one gzip member per record; also several records a member, one gzip
stream for the whole file, or uncompressed) as a stream of pages, parsed with warcio (the library datatrove's own
WarcReader uses), and the writer the starter corpus uses.

Only `response` and `resource` records are pages (ARC records become `response` records); `warcinfo`, `request`,
`metadata` and `revisit` records describe the crawl and are not inputs; a WET file's `conversion` records (a page's
text without its HTML), `continuation` records (a segmented page's rest) and a segmented page's first record (a
page record with WARC-Segment-Number: the page's beginning only) fail as "unsupported_record", so a folder of WET
files is no silently empty crawl; a record of any other type (a damaged header) is a "broken_record". A page
that cannot be used is yielded as a `Skipped` with its reason, so the reader can count it: a non-HTML payload
("not_html"), an HTTP status other than 200 ("http_status_404"), a payload over the size limit, or stored bytes over
it (a page of tiny chunks is not read short) ("too_large"), a Content-Encoding no decoder here reads
("unsupported_encoding"). Bytes that are no record (a corrupt or oversized header, a Content-Length that does not
match, a gzip member that does not inflate) are one "broken_record" each, and reading goes on at the next record
(warc_salvage.py finds them). Memory stays flat: records are read one at a time, a header up to 1 MiB and a payload
up to the size limit.
"""

from __future__ import annotations

import io
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from warcio.exceptions import ArchiveLoadFailed

from axk1.data.gzip_members import inflate_members
from axk1.data.sniff import binary_kind, looks_like_html, script_kind
from axk1.data.warc_digest import DigestMismatch, check_digests
from axk1.data.warc_salvage import Block, Broken, RecordStream

HTML_TYPES = ("text/html", "application/xhtml+xml")
PAGE_RECORDS = ("response", "resource")
SEGMENTED = "split over several records (WARC segmentation), which this reader does not join; recrawl or rewrite " \
            "the file unsegmented"
# records that stand for a page without its HTML (WET files are made of them): each is one failure with what to do,
# so a folder of WET files is not read as an empty crawl
DERIVED_RECORDS = {"conversion": "a WET file's text, extracted by the crawler; read the .warc.gz files it was made "
                                 "from, or the text through a `text` or `jsonl` source",
                   "continuation": f"the rest of a page the crawler {SEGMENTED}"}
DESCRIPTION_RECORDS = ("warcinfo", "request", "metadata", "revisit")  # about the crawl: no input


@dataclass
class WebPage:
    url: str
    fetch_date: str          # as the crawler recorded it (WARC-Date, ISO 8601)
    content_type: str        # the HTTP Content-Type (with its charset parameter, if any)
    payload: bytes
    record_id: str = ""
    digest: str = ""         # what of the record's digests was checked (warc_digest.py); "" outside a WARC


@dataclass
class Skipped:
    url: str
    reason: str


def _mime(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def read_warc(path: str | Path, max_page_bytes: int = 4 << 20, described: Counter | None = None
              ) -> Iterator[WebPage | Skipped]:
    """Pages (or why not) of one WARC/ARC file, gzipped or plain, in file order. The records that describe the
    crawl (DESCRIPTION_RECORDS: no page, no input) are counted by type in `described`, where given."""
    from warcio.recordloader import ArcWarcRecordLoader

    loader = ArcWarcRecordLoader(verify_http=False, arc2warc=True)
    with open(path, "rb") as fh:
        if fh.read(4) == b"\x28\xb5\x2f\xfd":
            yield Skipped("", "unsupported_format (a zstd-compressed WARC, .warc.zst: decompress it first, "
                              "zstd -d FILE, or recompress it with gzip)")
            return
        fh.seek(0)
        stream = RecordStream(fh)
        run = _BrokenRun()
        while True:
            try:
                header = stream.next_header()
            except Broken as e:
                yield from run.add(str(e), e.count)
                continue
            yield from run.flush()
            if header is None:
                return
            # HTTP headers beyond a megabyte are no page either: the block is served up to this much
            block = Block(stream, header, cap=max_page_bytes + (1 << 20))
            url, item, description = "", None, ""
            # a response stored without its HTTP headers (the page's bytes alone): warcio would read the page's
            # first lines as a status line and headers
            bare = header.fmt == "warc" and not block.peek(5).startswith(b"HTTP/")
            try:
                record = loader.parse_record_stream(_Joined(header.data, block), known_format=header.fmt,
                                                    no_record_parse=bare)
                segment = record.rec_headers.get_header("WARC-Segment-Number")
                if record.rec_type in PAGE_RECORDS and segment:
                    # the first segment holds the page's beginning only: it was kept as a shortened page while
                    # its continuation records failed
                    url = record.rec_headers.get_header("WARC-Target-URI") or ""
                    item = Skipped(url, f"unsupported_record (segmented {record.rec_type}, WARC-Segment-Number "
                                        f"{segment.strip()[:20]}: the beginning of a page the crawler {SEGMENTED})")
                elif record.rec_type in PAGE_RECORDS:
                    url = record.rec_headers.get_header("WARC-Target-URI") or ""
                    item = _page(record, url, max_page_bytes)
                elif record.rec_type in DERIVED_RECORDS:  # a page's stand-in, not a description: account for it
                    url = record.rec_headers.get_header("WARC-Target-URI") or ""
                    item = Skipped(url, f"unsupported_record ({record.rec_type}: {DERIVED_RECORDS[record.rec_type]})")
                elif record.rec_type in DESCRIPTION_RECORDS:
                    description = record.rec_type  # counted below, once its bytes are known sound
                else:  # no WARC type: a damaged header, not a description
                    url = record.rec_headers.get_header("WARC-Target-URI") or ""
                    item = Skipped(url, f"broken_record: an unknown WARC-Type {str(record.rec_type)[:40]!r} "
                                        "(a damaged header?)")
                # the block was served up to its cap: the payload decoded from it is a page's beginning only (a
                # chunked page of small chunks, a gzip stream cut short), however small it came out
                if block.capped and isinstance(item, WebPage):
                    item = Skipped(url, f"too_large (HTTP headers and payload over {block.cap} bytes)")
            except _BROKEN as e:
                item = Skipped(url, _broken(e))
            why = block.finish()
            if why:  # the record's own bytes are not to be trusted: it fails, whatever it looked like
                item = Skipped(url, f"broken_record: {why}")
            elif item is not None and block.whole:  # (a block over the cap is a failure already)
                try:
                    checked = check_digests(header.data, block.kept)
                except DigestMismatch as e:  # a byte changed since the crawl: not the page the crawler saw
                    item = Skipped(url, str(e))
                else:
                    if isinstance(item, WebPage):
                        item.digest = checked
            if item is not None:
                yield item
            elif description and described is not None:
                described[description] += 1


class _BrokenRun:
    """Broken records in a row that broke alike (a file of `WARC/1.0` lines, junk that repeats) as one failure with
    their count: each was no page, and a failure apiece made such a file a failure a line to write."""

    def __init__(self):
        self.why, self.count = "", 0

    def add(self, why: str, count: int) -> Iterator[Skipped]:
        if why != self.why:
            yield from self.flush()
        self.why, self.count = why, self.count + count

    def flush(self) -> Iterator[Skipped]:
        if self.count:
            many = f" ({self.count} records in a row broke so)" if self.count > 1 else ""
            yield Skipped("", f"broken_record: {self.why}{many}")
        self.why, self.count = "", 0


class _Joined:
    """A record's header bytes, then its block: the one stream warcio's loader parses a record from."""

    def __init__(self, head: bytes, block: Block):
        self.head, self.block = io.BytesIO(head), block

    def read(self, n: int | None = -1) -> bytes:
        return self.head.read(n) or self.block.read(n)

    def readline(self, n: int | None = -1) -> bytes:
        return self.head.readline(n) or self.block.readline(n)


# what a broken record raises from warcio (a record without a URI: AttributeError inside warcio)
_BROKEN = (ArchiveLoadFailed, EOFError, ValueError, OSError, AttributeError, TypeError, KeyError)


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
    if http is None and not (headers.get_header("Content-Type") or "").startswith("application/http"):
        content_type = headers.get_header("Content-Type") or ""  # a resource, or a response without HTTP headers
    content_type = content_type or headers.get_header("WARC-Identified-Payload-Type") or ""
    mime = _mime(content_type)
    if mime and mime not in HTML_TYPES and not mime.startswith("text/plain"):
        return Skipped(url, f"not_html ({mime})")
    try:
        payload = _body(record, http, max_page_bytes)
    except _PayloadError as e:
        reason = str(e)
        return Skipped(url, reason if reason.startswith("unsupported_encoding") else f"broken_record: {reason}")
    if len(payload) > max_page_bytes:
        return Skipped(url, f"too_large (over {max_page_bytes} bytes)")
    binary = binary_kind(payload)
    if binary:  # a server's text/html over an image or a PDF: its bytes came out as a "Korean" document
        return Skipped(url, f"not_html ({binary}, served as {mime or 'no content type'})")
    if mime not in HTML_TYPES and not looks_like_html(payload):  # no type, or text/plain served for a page
        return Skipped(url, f"not_html ({mime or 'no content type'})")
    script = script_kind(payload)
    if script:  # an API's JSON or a script served as text/html: braces and quoted keys kept as a "document"
        return Skipped(url, f"not_html ({script}, served as {mime or 'no content type'})")
    return WebPage(url, headers.get_header("WARC-Date") or "", content_type, payload,
                   headers.get_header("WARC-Record-ID") or "")


def _read_up_to(stream, n: int) -> bytes:
    parts, got = [], 0
    while got < n and (data := stream.read(n - got)):
        parts.append(data)
        got += len(data)
    return b"".join(parts)


class _PayloadError(ValueError):
    """A payload whose transfer or content coding cannot be undone."""


def _body(record, http, limit: int) -> bytes:
    """The payload with its transfer coding (chunked) and content coding (gzip, deflate, br, zstd) undone, as a browser
    does, up to `limit` + 1 bytes. warcio's own decoding matches only the exact header value `chunked` (so
    `Chunked` or `gzip, chunked` left chunk sizes inside the page), passes an unknown coding through as if none,
    and ends a payload that stops inflating half-way in silence."""
    raw = _read_up_to(record.raw_stream, limit + (1 << 20))
    if http is None:
        return raw[: limit + 1]
    codings = [c.strip().lower() for name in ("Content-Encoding", "Transfer-Encoding")
               for c in (http.get_header(name) or "").split(",") if c.strip()]
    # a payload the crawler cut at its own size limit says so (WARC-Truncated): its coding may end early
    cut_ok = bool(record.rec_headers.get_header("WARC-Truncated"))
    for coding in reversed(codings):  # applied content coding first, transfer coding last: undone in reverse
        raw = _undo(coding, raw, limit, cut_ok)
    return raw[: limit + 1]


def _undo(coding: str, data: bytes, limit: int, cut_ok: bool = False) -> bytes:
    """`data` with one coding undone, up to limit + 1 bytes; a gzip, deflate or br stream that ends early (a page
    read short, or empty for br) fails unless the record says it was truncated."""
    if coding in ("identity", ""):
        return data
    if coding == "chunked":
        body, whole = _dechunk(data)
        return _whole(body, whole, coding, limit, cut_ok)
    if coding in ("gzip", "x-gzip", "deflate"):
        if coding != "deflate" and not data.startswith(b"\x1f\x8b"):
            return data  # a server that names gzip and sends the bytes as they are: browsers read them so
        try:
            if coding != "deflate":  # every gzip member, not the first alone (a bomb stops at the limit)
                out, ended = inflate_members(data, limit, wbits=47)
            else:  # zlib-wrapped or raw deflate: one stream
                inflate = zlib.decompressobj(wbits=15 if data[:1] == b"\x78" else -15)
                out = inflate.decompress(data, limit + 1)
                ended = inflate.eof
        except zlib.error as e:
            raise _PayloadError(f"its {coding} content coding does not inflate: {e}") from None
        return _whole(out, ended, coding, limit, cut_ok)
    if coding == "br":
        try:
            import brotli
        except ImportError:
            raise _PayloadError("unsupported_encoding (br: install the brotli package to read it)") from None
        decoder = brotli.Decompressor()
        try:
            out = decoder.process(data, output_buffer_limit=limit + 1)
        except brotli.error as e:
            raise _PayloadError(f"its br content coding does not decode: {e}") from None
        return _whole(out, decoder.is_finished(), coding, limit, cut_ok)
    if coding == "zstd":  # browsers send it since 2024; RFC 9659 caps its window at 8 MB for HTTP
        import zstandard

        # fed a little at a time (256 bytes inflate to 8 MiB at most): a bomb stops near the limit, and a frame cut
        # short is seen (zstandard's stream reader ends such a frame in silence)
        inflate, out, got = zstandard.ZstdDecompressor(max_window_size=8 << 20).decompressobj(), [], 0
        try:
            for at in range(0, len(data), 256):
                out.append(inflate.decompress(data[at:at + 256]))
                got += len(out[-1])
                if got > limit or inflate.eof:
                    return b"".join(out)
        except zstandard.ZstdError as e:
            raise _PayloadError(f"its zstd content coding does not decode: {e}") from None
        raise _PayloadError("its zstd content coding ends inside its frame")
    raise _PayloadError(f"unsupported_encoding ({coding}: a coding no decoder here reads)")


def _whole(out: bytes, ended: bool, coding: str, limit: int, cut_ok: bool) -> bytes:
    if ended or cut_ok or len(out) > limit:
        return out
    raise _PayloadError(f"its {coding} content coding ends early (the payload is cut short, and the record does not "
                        f"say WARC-Truncated)")


def _dechunk(data: bytes) -> tuple[bytes, bool]:
    """The body of a chunked message, and whether it is whole: False where a chunk claims more bytes than are left
    (the message was cut short). Bytes that are not chunked (a crawler that stored them decoded but kept the
    header) are returned as they are."""
    out, pos = [], 0
    while True:
        eol = data.find(b"\r\n", pos, pos + 1024)
        size = data[pos:eol].split(b";", 1)[0].strip() if eol >= 0 else b""
        if not size or any(c not in b"0123456789abcdefABCDEF" for c in size):
            return (b"".join(out) + data[pos:] if out else data), True
        n = int(size, 16)
        if n == 0:
            return b"".join(out), True
        out.append(data[eol + 2: eol + 2 + n])
        if eol + 2 + n > len(data):
            return b"".join(out), False
        pos = eol + 2 + n + 2


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
