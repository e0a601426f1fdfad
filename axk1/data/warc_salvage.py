"""A WARC/ARC file as a stream of records that survives broken ones.

warcio reads a file as one stream and its iterator ends at the first record it cannot parse; it also refuses a
whole-file gzip stream (one member for every record, as some tools write) after its first record. So axk1 finds
the records itself and gives warcio one record at a time to parse (axk1/data/warc.py):

  Inflated       (gzip_members.py) the file's bytes, inflated across gzip members when it is gzipped (one member a
                 record, several records a member, or one member for the whole file all read alike). A member that
                 does not inflate, or that the file ends inside, ends a *segment*: reading stops there with the
                 reason, and `resume` goes on at the next gzip header in the file.
  RecordStream   the records of that stream: a record's header (bounded: a 300 MB header line costs 1 MiB, not a
                 gigabyte), then its block, read only as far as the reader wants (the rest is skipped unread).
                 Where bytes are not a record (a corrupt header, a Content-Length that does not match), it
                 resynchronises at the next line that starts a record (`WARC/1.0`, `WARC/1.1`, or an ARC header
                 line; a WARC record also inside a line, where the bytes before it were cut short), so one broken
                 record costs that record only.

A payload that itself holds a line such as `WARC/1.0` is only ever searched for a record start after its record
was found broken, never in a well-formed file. A record is broken when its Content-Length is not followed by a blank
line and the next record, or by a blank line, then bytes that are no record, while a record start is inside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO

from axk1.data.gzip_members import GZIP_MAGIC, READ as _READ, Inflated

MAX_HEADER_BYTES = 1 << 20   # a record's header block; Common Crawl's are under 2 KB
_SCAN_READ = 1 << 20         # bytes scanned at a time for a record start
_REREAD_FREE = 64 << 20      # bytes a file may have searched twice before the bound is its own size
_SCAN_TAIL = 1 << 13         # bytes kept between scan windows, so that a record start across two is still found
_GZIP_TRIES = 1000           # gzip headers a resync in plain bytes looks at, at most (each inflated a little)
_KEEP = 2 << 20              # bytes already read kept in the buffer, to be put back cheaply (a header is under 1 MiB)
_WARC_START = re.compile(rb"WARC/[01]\.\d+\r?\n")
_ARC_START = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*:\S* \S+ \d{14} \S+ \d+\r?\n")
# a WARC record start inside a line, as a resync finds one after bytes cut short (a writer that died inside a record
# and wrote on, a gzip member of garbage before a record's own member): its first line, then a header field
_WARC_START_INSIDE = re.compile(rb"WARC/[01]\.\d+\r?\n(?=[!-9;-~]+:)")
# an ARC record start where a resync looks for one, also inside a line: its URL's scheme one a crawler fetches (any
# scheme would take in the cut line's last word, as in 'HTThttp://...')
_ARC_START_INSIDE = re.compile(rb"(?:https?|ftp|dns|whois):\S* \S+ \d{14} \S+ \d+\r?\n")
_WARC_START_AT_END = re.compile(rb"WARC/[01]\.\d+\r?\n\Z")
_WARC_LINE_START = re.compile(rb"\n(?=" + _WARC_START.pattern + rb")")


@lru_cache(maxsize=8)
def _repeated(line: bytes) -> re.Pattern:
    return re.compile(b"(?:" + re.escape(line) + b")+")


@dataclass
class Header:
    data: bytes      # the header lines as read, up to and including the blank line (ARC: the one header line)
    length: int      # the block's declared length
    fmt: str         # "warc" or "arc"


class Broken(Exception):
    """Bytes that are no record; the stream has already moved on to the next record start. `count`: how many
    records in a row broke so (a run of record starts with nothing after them is skipped in one step)."""

    def __init__(self, why: str, count: int = 1):
        super().__init__(why)
        self.count = count


class RecordStream:
    """Records' headers and blocks from an Inflated stream, with the bytes read ahead kept in a buffer: buf[pos:]
    is still to be read, and up to _KEEP bytes before it, read last, stay, so that putting back what was just read
    is a step back, not a copy of the whole buffer (one per broken record made a block of tiny ones quadratic)."""

    def __init__(self, fh: BinaryIO):
        self.src = Inflated(fh)
        self.buf = bytearray()
        self.pos = 0
        self.fmt = ""               # set by the first record: a file is WARC or ARC
        self.at_line_start = True   # whether buf starts a line (the file's or a segment's start, or after a \n)
        self.reread = 0             # bytes put back to be searched again
        self.gzip_tries = 0         # gzip headers in plain parts that started no records

    # --- bytes ---------------------------------------------------------------------------------------------------

    def ahead(self) -> int:
        """Bytes in the buffer not read yet."""
        return len(self.buf) - self.pos

    def _fill(self, n: int = _READ) -> bool:
        if self.pos > 2 * _KEEP:
            self._drop(self.pos - _KEEP)
        data = self.src.read(n)
        self.buf += data
        return bool(data)

    def _drop(self, n: int) -> None:
        """Forgets the buffer's first n bytes, all read: pos stays within the buffer."""
        if not 0 <= n <= self.pos:
            raise ValueError(f"dropping {n} bytes of a buffer read to {self.pos}")
        del self.buf[:n]
        self.pos -= n

    def read(self, n: int) -> bytes:
        while self.ahead() < n and self._fill():
            pass
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += len(out)
        return out

    def readline(self, limit: int) -> bytes:
        """A line with its newline, or `limit` bytes of one, or what is left of the segment."""
        start = 0
        while (at := self.buf.find(b"\n", self.pos + start, self.pos + limit)) < 0 and self.ahead() < limit:
            start = self.ahead()
            if not self._fill():
                break
        return self.read(at + 1 - self.pos if at >= 0 else limit)

    def skip(self, n: int) -> int:
        """Drops up to n bytes unread (a block's rest); returns how many there were."""
        done = min(n, self.ahead())
        self.pos += done
        while done < n and (data := self.src.read(min(_READ, n - done))):
            done += len(data)
        return done

    def unread(self, data: bytes) -> None:
        start = self.pos - len(data)
        if start >= 0 and self.buf[start:self.pos] == data:  # what was read last: a step back
            self.pos = start
        else:
            self.buf[self.pos:self.pos] = data

    def _clear(self) -> None:
        self.buf.clear()
        self.pos = 0

    def search_again(self, data: bytes, line_start: bool = False) -> None:
        """Puts bytes already read back, to be searched for a record start (at their first byte only when
        `line_start`: a block's first byte, which follows its header, may start the record it swallowed). Bounded:
        all of a file's rereading stays under its size plus 64 MiB, so that a hostile file (records that each
        swallow the next ones) costs linear time; past that, the search goes on forward only."""
        if self.reread + len(data) <= _REREAD_FREE + self.src.delivered:
            self.reread += len(data)
            self.unread(data)
            self.at_line_start = line_start
        else:
            self.at_line_start = False

    # --- records -------------------------------------------------------------------------------------------------

    def end_of_segment(self) -> str:
        """The reason the stream stopped ("" at the end of the file); reading then goes on at the next member."""
        why = self.src.error
        if why:
            self._clear()
            if not self.src.resume():
                why += " (no gzip member after it: the rest of the file is lost)"
            self.at_line_start = True
        return why

    def next_header(self) -> Header | None:
        """The next record's header; None at the end of the file; raises Broken for bytes that are no record."""
        line = b"\r\n"
        while line.strip(b"\r\n") == b"":
            line = self.readline(MAX_HEADER_BYTES)
            if not line:
                why = self.end_of_segment()
                if why:
                    raise Broken(why)
                return None
        if line.startswith(GZIP_MAGIC) and self.src.to_gzip(self.src.delivered - self.ahead() - len(line)):
            self._clear()  # plain records, then gzip members of records (files joined): read on, inflated
            self.at_line_start = True
            return self.next_header()
        if not self.fmt:
            self.fmt = "arc" if _ARC_START.fullmatch(line) else "warc"
        if not self._starts(line):
            self.search_again(line[1:])
            raise Broken(f"no record starts here (it begins {_show(line)}){self.resync()}")
        if self.fmt == "arc":
            return Header(line, int(line.split()[-1]), "arc")
        lines = [line]
        size = len(line)
        while lines[-1].strip(b"\r\n"):
            lines.append(self.readline(MAX_HEADER_BYTES - size + 1))
            size += len(lines[-1])
            gz = lines[-1].find(GZIP_MAGIC)  # at the line's start, or inside it when the header was cut mid-line
            if gz >= 0 and self.src.to_gzip(self.src.delivered - self.ahead() - len(lines[-1]) + gz):
                # a plain header cut short, then gzip members of records (files joined: `cat a.warc b.warc.gz`):
                # the members are read on, inflated (they went into the cut header, and their records were lost)
                self._clear()
                self.at_line_start = True
                raise Broken("a header cut short by gzip members (files joined)")
            nxt = 0 if self._starts(lines[-1]) else self._start_at_end(lines[-1])
            if nxt is not None:  # the next record: this header was cut short (its start is read again)
                self.unread(lines[-1][nxt:])
                self.at_line_start = True
                again = self._skip_repeats(line) if len(lines) == 2 and nxt == 0 else 0
                raise Broken("a header cut short by the next record's start", 1 + again)
            if size > MAX_HEADER_BYTES or not lines[-1]:
                self.search_again(b"".join(lines[1:]))  # a record may start inside a cut header
                what = f"a header over {MAX_HEADER_BYTES} bytes" if size > MAX_HEADER_BYTES else "a header cut short"
                raise Broken(f"{what}{self.resync()}")
        data = b"".join(lines)
        m = re.search(rb"(?im)^content-length:[ \t]*(\d+)[ \t]*\r?$", data)
        if not m:
            self.search_again(data[len(line):])
            raise Broken(f"a WARC header without a valid Content-Length{self.resync()}")
        return Header(data, int(m.group(1)), "warc")

    def _skip_repeats(self, line: bytes) -> int:
        """Skips the copies of a record's first line that follow, each followed by another (records that are
        nothing but that line: a file of `WARC/1.0` lines), leaving the last to start the next record; returns
        how many were skipped. One regular-expression match a buffer, not a header read and a failure a line."""
        run, skipped = _repeated(line), 0
        while True:
            while self.ahead() < _SCAN_READ and self._fill(_SCAN_READ):
                pass
            m = run.match(self.buf, self.pos)
            copies = (m.end() - self.pos) // len(line) if m else 0
            if copies < 2:
                return skipped
            self.pos += (copies - 1) * len(line)
            skipped += copies - 1
            if m.end() < len(self.buf):  # something else follows the last copy
                return skipped

    def _starts(self, line: bytes) -> bool:
        return bool((_WARC_START if self.fmt == "warc" else _ARC_START).fullmatch(line))

    def _start_at_end(self, line: bytes) -> int | None:
        """Where a WARC header line ends in the next record's first line (a header cut inside a value, the next
        record written on: read as one, the cut record's URI went with the next record's payload), or None."""
        m = _WARC_START_AT_END.search(line) if self.fmt == "warc" else None
        return m.start() if m else None

    def resync(self) -> str:
        """Drops bytes up to the next line that starts a record. Returns "", or notes on the gzip members found
        broken on the way (reading went on past each), for the broken record's reason."""
        notes = []
        while True:
            at = self._record_start()
            if self._joined_gzip(at):  # the plain part ended, maybe cut short, then gzip members: read on, inflated
                break
            if at is not None:
                self.pos += at
                self.at_line_start = True
                break
            if self.ahead() > _SCAN_TAIL:
                # bytes scanned past are read (never put back) and dropped; the search goes on from the last
                # _SCAN_TAIL of them. (Dropping them unread left pos negative, and `find` reads a negative start
                # from the buffer's end: a record early in the next window went with the junk before it.)
                self.pos = len(self.buf) - _SCAN_TAIL
                self._drop(self.pos)
                self.at_line_start = False
            if not self._fill(_SCAN_READ):
                self._clear()
                why = self.end_of_segment()
                if not why:
                    break
                notes.append(f"; then {why}")
        return "".join(notes[:3]) + (f"; and {len(notes) - 3} more broken gzip members" if len(notes) > 3 else "")

    def _joined_gzip(self, at: int | None) -> bool:
        """In a plain part: whether gzip members of records start before the buffer's next record start (at `at`,
        or None for none), and if so, the stream goes on inflating them. The first _GZIP_TRIES gzip headers of a
        file that are not that are looked at, no more: each is inflated a little (a hostile file of gzip headers
        would cost that for every three bytes)."""
        start = self.pos
        end = len(self.buf) if at is None else start + at
        while not self.src.gzipped and self.gzip_tries < _GZIP_TRIES \
                and (k := self.buf.find(GZIP_MAGIC, start, end)) >= 0:
            if self.src.to_gzip(self.src.delivered - (len(self.buf) - k)):
                self._clear()
                self.at_line_start = True
                return True
            self.gzip_tries += 1
            start = k + 1
        return False

    def _record_start(self) -> int | None:
        """Where the buffer's first record start is: after a newline, or at the buffer's start if a line starts
        there (a WARC record also inside a line, its first header field following)."""
        return self.start_in(self.buf, self.at_line_start, self.pos)

    def start_in(self, data: bytes | bytearray, at_line_start: bool = True, pos: int = 0) -> int | None:
        """Where the first record start in `data[pos:]` is (counted from pos), as `_record_start` finds one, or
        None. Searched in place and only up to the first start: a search per broken record over a block's megabytes
        (each copied, then searched to its end) made a block of tiny broken records cost quadratic time."""
        if self.fmt == "warc" and data.find(b"WARC/", pos) < 0:
            return None
        if self.fmt == "arc":  # a header line is its own mark, wherever it starts (a 14-digit date, a length)
            m = _ARC_START_INSIDE.search(data, pos)
            return m.start() - pos if m else None
        if at_line_start and _WARC_START.match(data, pos):
            return 0
        m = _WARC_LINE_START.search(data, pos)
        found = m.end() if m else None
        # a start inside a line comes before `found`, its header field too (that line ends at `found` at the latest)
        inside = _WARC_START_INSIDE.search(data, pos, len(data) if found is None else found)
        at = inside.start() if inside else found
        return None if at is None else at - pos


class Block:
    """A record's block as warcio reads it: at most `cap` bytes are served, and those kept (for a resync inside
    it when the record turns out broken)."""

    def __init__(self, stream: RecordStream, header: Header, cap: int):
        self.stream, self.left, self.cap = stream, header.length, cap
        self.length = header.length
        self.kept = bytearray()

    @property
    def capped(self) -> bool:
        return len(self.kept) >= self.cap and self.left > 0

    @property
    def whole(self) -> bool:
        """Whether every byte of the block is kept (after `finish`, for a block up to the cap)."""
        return len(self.kept) == self.length

    def read(self, n: int | None = None) -> bytes:
        n = min(self.left, self.cap - len(self.kept), n if n is not None and n >= 0 else self.left)
        data = self.stream.read(n) if n > 0 else b""
        self.left -= len(data)
        self.kept += data
        return data

    def readline(self, n: int | None = None) -> bytes:
        n = min(self.left, self.cap - len(self.kept), n if n is not None and n >= 0 else self.left)
        data = self.stream.readline(n) if n > 0 else b""
        self.left -= len(data)
        self.kept += data
        return data

    def peek(self, n: int) -> bytes:
        """The block's next n bytes (fewer at its end), left unread."""
        data = self.stream.read(min(n, self.left, self.cap - len(self.kept)))
        self.stream.unread(data)
        return data

    def finish(self) -> str:
        """Reads the block's rest (kept up to the cap, skipped beyond) and checks what follows; "" when the record
        ended cleanly, else why not (the stream has then moved on to the next record start)."""
        s = self.stream
        # the rest is kept up to the cap, not skipped: a record it swallowed (a Content-Length too large) is searched
        # for in the whole block, not in the part warcio happened to read (an HTTP header, for a page not read)
        self.read()
        missing = self.left - s.skip(self.left)
        if missing:
            why = s.end_of_segment()  # a broken gzip member: reading goes on at the next one
            # a Content-Length too large: records it swallowed are in it (also where it ran on into a broken member)
            if len(self.kept) < self.cap:
                s.search_again(bytes(self.kept), line_start=True)
            return (f"the record ends {missing} bytes short of its Content-Length ({why or 'the end of the file'})"
                    f"{s.resync()}")
        nxt = s.readline(MAX_HEADER_BYTES)
        ended = not nxt.strip(b"\r\n")  # the blank line that ends a record
        end = s.src.delivered - s.ahead()
        after = [nxt]  # the lines read after the block, to be searched again with it
        while nxt and not nxt.strip(b"\r\n"):  # reading on to the next line that holds anything finishes its member
            nxt = s.readline(MAX_HEADER_BYTES)
            after.append(nxt)
        if s.src.error and not s.src.verified(end):  # ... whose check failed: its bytes are not what was written
            return s.end_of_segment()
        # not ended by a blank line, or by one, then bytes that are no record, while a record's start is inside the
        # block (a Content-Length a few bytes too large: the next header's first lines went into this payload)
        block = bytes(self.kept) + b"".join(after)
        # the next record right after the block; in an ARC file without the blank line only at a crawler's URL: a
        # block that swallowed 'htt' leaves 'p://...', which the loose header pattern takes for a record
        starts = s._starts(nxt) and (ended or s.fmt == "warc" or _ARC_START_INSIDE.fullmatch(nxt) is not None) \
            or ended and nxt.startswith(GZIP_MAGIC) and s.src.joins_gzip(s.src.delivered - s.ahead() - len(nxt))
        if not starts and (not ended or nxt.strip(b"\r\n") and _before(s.start_in(block), len(self.kept))):
            if len(self.kept) < self.cap:  # the whole block is at hand: a record it swallowed is found in it
                s.search_again(block, line_start=True)
            else:
                s.search_again(nxt[1:])
            return f"its Content-Length does not end the record (followed by {_show(nxt)}){s.resync()}"
        s.unread(nxt)
        return ""


def _before(at: int | None, end: int) -> bool:
    return at is not None and at < end


def _show(data: bytes) -> str:
    return repr(data[:40].decode("utf-8", "replace")) + ("..." if len(data) > 40 else "")
