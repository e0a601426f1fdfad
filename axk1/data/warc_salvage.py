"""Going on past a broken record of a gzipped WARC file.

warcio reads a file as one stream: once a record breaks it (a record without a WARC-Target-URI, a corrupt deflate
stream, a wrong Content-Length), its iterator is finished and the rest of the file would be lost. But Common
Crawl's layout compresses every record as its own gzip member, so the next member is a clean place to resume.
`members` walks the file's members from an offset with zlib alone (a member that does not inflate is reported,
and the walk goes on at the next gzip header found in the bytes), and `member_records` parses one member's
records with warcio from its inflated bytes, kept up to a bound so that a member inflating to gigabytes costs
time, not memory.
"""

from __future__ import annotations

import io
import zlib
from typing import BinaryIO, Iterator

GZIP_MAGIC = b"\x1f\x8b\x08"
_READ = 1 << 16      # compressed bytes read at a time
_INFLATE = 1 << 20   # inflated bytes made at a time (a bomb costs time, never a buffer of its size)


def members(fh: BinaryIO, start: int, keep: int) -> Iterator[tuple[int, bytes | None, str]]:
    """(offset, the member's first `keep` inflated bytes, "") for each gzip member from `start`, in order, or
    (offset, None, why) for one that does not inflate to its end."""
    offset = start
    while True:
        fh.seek(offset)
        inflate, kept, pending, used = zlib.decompressobj(wbits=31), bytearray(), b"", 0
        try:
            while not inflate.eof:
                if not pending:
                    pending = fh.read(_READ)
                    if not pending:
                        if used == 0:
                            return  # the end of the file, between members
                        raise EOFError("the file ends inside this gzip member")
                    used += len(pending)
                out = inflate.decompress(pending, _INFLATE)
                pending = inflate.unconsumed_tail
                if len(kept) < keep:
                    kept += out[: keep - len(kept)]
        except (zlib.error, EOFError) as e:
            yield offset, None, f"{type(e).__name__}: {e}"
            offset = _next_magic(fh, offset + 1)
            if offset is None:
                return
            continue
        yield offset, bytes(kept), ""
        # At the member's end every byte read past it is in unused_data. (unconsumed_tail, the input left over when
        # the output cap stopped an earlier call, still holds those same bytes then: subtracting both, as this once
        # did, put the next member too early after one that inflated past _INFLATE.)
        offset += used - len(inflate.unused_data)


def _next_magic(fh: BinaryIO, start: int) -> int | None:
    """The offset of the next gzip header at or after `start`, or None."""
    fh.seek(start)
    tail, base = b"", start
    while chunk := fh.read(_READ):
        data = tail + chunk
        at = data.find(GZIP_MAGIC)
        if at >= 0:
            return base + at
        tail = data[-(len(GZIP_MAGIC) - 1):]
        base += len(data) - len(tail)
    return None


def is_member_start(fh: BinaryIO, offset: int | None) -> bool:
    """Whether a gzip header starts at `offset` (warcio's record offsets are file offsets only for a record that
    starts its own member; inside a member holding several records they are not, and may be negative)."""
    if offset is None or offset < 0:
        return False
    fh.seek(offset)
    return fh.read(len(GZIP_MAGIC)) == GZIP_MAGIC


def holds_one_record(fh: BinaryIO, offset: int, keep: int) -> bool:
    """Whether the gzip member at `offset` inflates whole and holds exactly one record: the one-record-per-member
    layout that makes the member after it the next record."""
    for _, data, _ in members(fh, offset, keep):
        if data is None or len(data) >= keep:  # broken, or cut at `keep`: its records cannot be counted
            return False
        try:
            return sum(1 for _ in member_records(data)) == 1
        except Exception:  # noqa: BLE001 — any parse failure means "not a clean one-record member"; never raise
            return False
    return False


def member_records(data: bytes) -> Iterator:
    """warcio's records of one member's inflated bytes (arc2warc, as the streaming reader)."""
    from warcio.archiveiterator import ArchiveIterator

    yield from ArchiveIterator(io.BytesIO(data), arc2warc=True)
