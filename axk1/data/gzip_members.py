"""A file's bytes inflated across its gzip members, going on past a broken one (warc_salvage.py reads WARC/ARC
records from them): one member a record (Common Crawl), several records a member, or one member for the whole file
all read alike, each member's bytes bounded as they are read, so a bomb costs time, never a buffer of its size.
"""

from __future__ import annotations

import re
import zlib
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b\x08"
READ = 1 << 16       # bytes read (and inflated) at a time: a bomb costs time, never a buffer of its size
_NAME_MAX = 1 << 12  # a gzip member's file name or comment, at most (gzip writes a file's name)


class Inflated:
    """The file's bytes, inflated when gzipped; `read` gives b"" at the end of a segment, `error` says why it
    ended (empty at the end of the file)."""

    def __init__(self, fh: BinaryIO):
        self.fh = fh
        head = fh.read(len(GZIP_MAGIC))
        self.gzipped = head == GZIP_MAGIC
        # a .gz file whose first gzip header is damaged (and that starts no plain record): read as plain, it was one
        # failure for the whole file; it is a broken first member, and reading goes on at the next gzip header
        damaged = not self.gzipped and str(getattr(fh, "name", "")).endswith(".gz") \
            and not re.match(rb"\s*(WARC/|filedesc:)", head + fh.read(64)) and _next_magic(fh, 1) is not None
        self.gzipped = self.gzipped or damaged
        self.error = ""
        self.delivered = 0  # bytes given by read
        self.checked = 0    # of those, the ones in gzip members that ended with their check passed
        self._start(0)
        if damaged:
            self.error = "the file starts with no gzip header (its first gzip member is damaged)"

    def verified(self, position: int) -> bool:
        """Whether the bytes before `position` (of those given) passed gzip's check (a plain file has none)."""
        return not self.gzipped or self.checked >= position

    def _start(self, offset: int) -> None:
        self.member, self.used, self.pending = offset, 0, b""
        self.inflate = zlib.decompressobj(wbits=31)
        if self.gzipped and not _header_ends(self.fh, offset):
            self.error = f"gzip member at byte {offset}: its header has a name or comment over {_NAME_MAX} bytes"
        self.fh.seek(offset)

    def read(self, n: int = READ) -> bytes:
        out = self.fh.read(n) if not self.gzipped else self._inflate(n)
        self.delivered += len(out)
        return out

    def _inflate(self, n: int) -> bytes:
        out = b""
        while not out and not self.error:
            if self.inflate.eof:  # every byte read past the member's end is in unused_data
                self._start(self.member + self.used - len(self.inflate.unused_data))
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
