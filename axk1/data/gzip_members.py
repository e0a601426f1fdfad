"""A file's bytes inflated across its gzip members, going on past a broken one (warc_salvage.py reads WARC/ARC
records from them): one member a record (Common Crawl), several records a member, or one member for the whole file
all read alike, each member's bytes bounded as they are read, so a bomb costs time, never a buffer of its size.
Files concatenated from plain and gzipped parts (`cat a.warc b.warc.gz`, as crawls are sometimes joined) are read
part by part: after a member, plain records are read as they are, and after plain records, a gzip member whose
bytes inflate to a record start is inflated (`to_gzip`, at a record boundary the record reader finds).
`inflate_members` does the same for a payload held in memory (a page sent gzip-compressed, or saved so): every
member, not the first alone.
"""

from __future__ import annotations

import re
import zlib
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b\x08"
READ = 1 << 16       # bytes read (and inflated) at a time: a bomb costs time, never a buffer of its size
_NAME_MAX = 1 << 12  # a gzip member's file name or comment, at most (gzip writes a file's name)
# a plain WARC or ARC record's first bytes (an ARC record's URL line: a scheme a crawler fetches)
_PLAIN_START = re.compile(rb"\s*(?:WARC/|filedesc:|(?:https?|ftp|dns|whois)://)")
_RECORD_MARK = re.compile(rb"WARC/[01]\.\d+\r?\n|filedesc://|(?:https?|ftp|dns|whois)://\S* \S+ \d{14} ")


def inflate_members(data: bytes, limit: int, wbits: int = 31) -> tuple[bytes, bool]:
    """(the bytes of every gzip member in `data`, one after the other, up to limit + 1 bytes; whether the last
    member ended). A gzip stream may hold several members, and a reader gives them all (RFC 1952, 2.2); zlib
    stops after the first, so a page compressed in parts (a server flushing its gzip stream per chunk) kept its
    first part only, unsaid. Bytes after the last member that start no member (padding, a crawler's junk) end it,
    as they do for gzip(1). Raises zlib.error where a member does not inflate. `wbits` 47 also reads a zlib
    stream (one member)."""
    out, total = [], 0
    while True:
        inflate = zlib.decompressobj(wbits=wbits)
        out.append(inflate.decompress(data, limit + 1 - total))  # a bomb stops at the limit
        total += len(out[-1])
        if total > limit or not inflate.eof:
            return b"".join(out), inflate.eof
        data = inflate.unused_data
        if not data.startswith(GZIP_MAGIC):
            return b"".join(out), True


class Inflated:
    """The file's bytes, inflated when gzipped; `read` gives b"" at the end of a segment, `error` says why it
    ended (empty at the end of the file)."""

    def __init__(self, fh: BinaryIO):
        self.fh = fh
        head = fh.read(len(GZIP_MAGIC))
        self.gzipped = head == GZIP_MAGIC
        # a .gz file whose first gzip header is damaged (and that starts no plain record): read as plain, it was one
        # failure for the whole file; it is a broken first member, and reading goes on at the next gzip header.
        # Not where plain records come before that header (bytes cut short, then records, then gzipped ones)
        magic = _next_magic(fh, 1) if not self.gzipped and str(getattr(fh, "name", "")).endswith(".gz") \
            and not _PLAIN_START.match(head + fh.read(64)) else None
        damaged = magic is not None and not _records_before(fh, magic)
        self.gzipped = self.gzipped or damaged
        self.error = ""
        self.delivered = 0  # bytes given by read
        self.checked = 0    # of those, the ones in gzip members that ended with their check passed
        self.plain_at = self.plain_from = 0  # where plain bytes were last started: file offset, bytes given then
        self._start(0)
        if damaged:
            self.error = "the file starts with no gzip header (its first gzip member is damaged)"

    def verified(self, position: int) -> bool:
        """Whether the bytes before `position` (of those given) passed gzip's check (a plain file has none)."""
        return not self.gzipped or self.checked >= position

    def _start(self, offset: int) -> None:
        self.member, self.used, self.pending = offset, 0, b""
        self.inflate = zlib.decompressobj(wbits=31)
        if self.gzipped and offset and _plain_records_at(self.fh, offset):  # a plain part after the members
            self.gzipped, self.plain_at, self.plain_from = False, offset, self.delivered
        if self.gzipped and not _header_ends(self.fh, offset):
            self.error = f"gzip member at byte {offset}: its header has a name or comment over {_NAME_MAX} bytes"
        self.fh.seek(offset)

    def read(self, n: int = READ) -> bytes:
        out = self.fh.read(n) if not self.gzipped else self._inflate(n)
        self.delivered += len(out)
        return out

    def joins_gzip(self, position: int) -> bool:
        """In a plain part: whether the bytes from `position` (of those given) on are gzip members of records."""
        if self.gzipped:
            return False
        found = _gzipped_records_at(self.fh, self.plain_at + position - self.plain_from)
        self.fh.seek(self.plain_at + self.delivered - self.plain_from)  # where plain reading was
        return found

    def to_gzip(self, position: int) -> bool:
        """If the bytes from `position` on are gzip members of records (`joins_gzip`), inflate them from there on
        (what was given after `position` is to be dropped)."""
        if not self.joins_gzip(position):
            return False
        offset = self.plain_at + position - self.plain_from
        self.gzipped, self.error, self.delivered = True, "", position
        self.checked = position  # (the plain bytes before have no check to pass)
        self._start(offset)
        return True

    def _inflate(self, n: int) -> bytes:
        out = b""
        while not out and not self.error:
            if self.inflate.eof:  # every byte read past the member's end is in unused_data
                self._start(self.member + self.used - len(self.inflate.unused_data))
            if not self.gzipped:  # the member was followed by plain records
                return self.fh.read(n)
            if not self.pending:
                self.pending = self.fh.read(READ)
                if not self.used and not self.pending.strip(b"\x00\r\n\t "):
                    more = self.fh.read(1)
                    if not more:
                        return b""  # the end of the file, between members (zero padding some writers leave included)
                    self.pending += more
                if not self.pending:
                    self.error = f"gzip member at byte {self.member}: the file ends inside it"
                    return b""
                self.used += len(self.pending)
            before = self.inflate.copy()
            try:
                out = self.inflate.decompress(self.pending, n)
            except zlib.error as e:
                self.error = f"gzip member at byte {self.member} does not inflate: {e}"
                return _up_to_error(before, self.pending)  # the bytes before the corruption are records too
            self.pending = self.inflate.unconsumed_tail
            if self.inflate.eof:
                self.checked = self.delivered + len(out)
        return out

    def resume(self) -> bool:
        """After an error: go on at the next gzip header after the broken member's start; False if none."""
        self.error = ""
        at = _next_magic(self.fh, self.member + 1) if self.gzipped else None
        if at is None:
            self.gzipped, self.fh = False, _Empty()
            return False
        self._start(at)
        return True


def _up_to_error(inflate, data: bytes) -> bytes:
    """What `data` inflates to before zlib finds it corrupt (a failed call gives nothing: this one inflates it a
    little at a time)."""
    out = []
    try:
        while data:
            out.append(inflate.decompress(data, 512))
            data = inflate.unconsumed_tail
    except zlib.error:
        pass
    return b"".join(out)


def _header_ends(fh: BinaryIO, offset: int) -> bool:
    """Whether the gzip header at `offset` ends where a writer's would: its file name and comment within _NAME_MAX
    bytes each. zlib reads a name up to its NUL however far: at every gzip magic of a hostile file (b'\\x1f\\x8b\\x08'
    over and over: a header flagged with a name and no NUL) it read to the end of the file: quadratic time."""
    fh.seek(offset)
    head = fh.read(10)
    flags = head[3] if len(head) == 10 else 0
    at = offset + 10
    if flags & 4:  # FEXTRA: a length, then that many bytes
        extra = fh.read(2)
        at += 2 + int.from_bytes(extra, "little")
    for bit in (8, 16):  # FNAME, FCOMMENT: zero-terminated
        if flags & bit:
            fh.seek(at)
            data = fh.read(_NAME_MAX)
            end = data.find(b"\x00")
            if end < 0:
                return len(data) < _NAME_MAX  # the file ends first: zlib says so
            at += end + 1
    return True


def _records_before(fh: BinaryIO, end: int) -> bool:
    """Whether a plain record starts in the file's first `end` bytes (looked for in the first READ)."""
    fh.seek(0)
    return re.search(rb"WARC/|filedesc:", fh.read(min(end, READ))) is not None


def _plain_records_at(fh: BinaryIO, offset: int) -> bool:
    """Whether plain records (not a gzip member) start at `offset`, within its first 64 KiB (bytes cut short may come
    first, a damaged record before the next: with a 1 KiB look such a part after a member was taken for a broken
    member, and every plain record after it was lost; compressed bytes hold no record start)."""
    fh.seek(offset)
    head = fh.read(1024)  # a member of the usual file (one a record) is told by its first two bytes: no more read
    if head.startswith(GZIP_MAGIC):
        return False
    return _RECORD_MARK.search(head) is not None or _RECORD_MARK.search(head + fh.read((64 << 10) - 1024)) is not None


def _gzipped_records_at(fh: BinaryIO, offset: int) -> bool:
    """Whether a gzip member at `offset` inflates to a record start within its first 64 KiB (bytes cut short may
    come first: a joined member whose first record was damaged, its next record after it, was read as plain junk
    with a 1 KiB look and both records lost), or to nothing but blank lines (an empty member some writers leave),
    and not, say, to a gzip-coded page."""
    fh.seek(offset)
    head = fh.read(READ)
    if not head.startswith(GZIP_MAGIC):
        return False
    inflate = zlib.decompressobj(wbits=31)
    try:
        out = inflate.decompress(head, 64 << 10)
    except zlib.error:
        return False
    return _RECORD_MARK.search(out) is not None or inflate.eof and not out.strip()


class _Empty:
    def read(self, n: int = -1) -> bytes:
        return b""


def _next_magic(fh: BinaryIO, start: int) -> int | None:
    """The offset of the next gzip header at or after `start`, or None."""
    fh.seek(start)
    tail, base = b"", start
    while chunk := fh.read(READ):
        data = tail + chunk
        at = data.find(GZIP_MAGIC)
        if at >= 0:
            return base + at
        tail = data[-(len(GZIP_MAGIC) - 1):]
        base += len(data) - len(tail)
    return None
