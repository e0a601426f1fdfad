"""WARC records built for the WARC reader's tests: a response record, numbered pages in WARC 1.0 and 1.1, and
hypothesis crawls of them, damaged, joined and gzipped in the ways real files are; and the reader's work counted in
bytes (read from its files, moved in its buffers), for the tests that it stays linear on hostile files."""

import gzip
import io
import re

from hypothesis import strategies as st


def warc_response(uri: str, payload: bytes, headers: list) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(uri, "response", payload=io.BytesIO(payload), http_headers=http,
                                                  length=len(payload)))
    return out.getvalue()


N_RECORDS = 6


def warc_record(i: int, version: str) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    body = b"<html><body><p>page %d " % i + b"\xea\xb0\x80 text line\r\n" * (20 + 7 * i) + b"</p></body></html>"
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False, warc_version=version)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(f"https://ex.kr/{i}", "response", payload=io.BytesIO(body),
                                                  http_headers=http))
    data = re.sub(rb"urn:uuid:[0-9a-f-]+", b"urn:uuid:00000000-0000-0000-0000-%012d" % i, out.getvalue())
    return re.sub(rb"WARC-Date: \S+", b"WARC-Date: 2025-03-05T10:21:00Z", data)


RECORDS = {(i, v): warc_record(i, v) for i in range(N_RECORDS) for v in ("1.0", "1.1")}


JUNK = st.one_of(
    st.binary(min_size=1, max_size=60),
    st.just(b"WARC/1.0\r\n"),
    st.integers(1, 4).map(lambda k: b"WARC/1.0\r\n" * k),
    st.just(b"WARC/1.1\r\nWARC-Type: response\r\nContent-Length: 999999\r\n\r\n"),
)


DAMAGE = st.one_of(
    st.just(("none",)),
    st.tuples(st.just("cut"), st.floats(0.01, 0.99)),
    st.tuples(st.just("flip"), st.floats(0, 0.999), st.integers(1, 255)),
    st.tuples(st.just("length"), st.integers(-300, 300).filter(bool)),
)


def damage_bytes(data: bytes, how: tuple) -> bytes:
    if how[0] == "cut":
        return data[: max(1, int(len(data) * how[1]))]
    if how[0] == "flip":
        at = int(len(data) * how[1])
        return data[:at] + bytes([data[at] ^ how[2]]) + data[at + 1:]
    if how[0] == "length":
        n = int(re.search(rb"Content-Length: (\d+)", data).group(1))
        return data.replace(b"Content-Length: %d" % n, b"Content-Length: %d" % max(0, n + how[1]), 1)
    return data


@st.composite
def crawls(draw):
    """(file bytes, the undamaged records' numbers in file order, whether it is gzipped)."""
    pieces, intact = [], []
    for i in range(draw(st.integers(1, N_RECORDS))):
        if draw(st.booleans()) and draw(st.booleans()):
            pieces.append(("junk", draw(JUNK)))
        how = draw(DAMAGE)
        data = damage_bytes(RECORDS[i, draw(st.sampled_from(["1.0", "1.1"]))], how)
        pieces.append(("record", data))
        if how == ("none",):
            intact.append(i)
    layout = draw(st.sampled_from(["plain", "member-per-piece", "whole", "split", "joined"]))
    if layout == "plain":
        return b"".join(p for _, p in pieces), intact, False
    if layout == "joined":  # files joined (cat a.warc b.warc.gz ...): runs of pieces, each plain or gzipped
        parts, at = [], 0
        while at < len(pieces):
            n = draw(st.integers(1, len(pieces) - at))
            run = b"".join(p for _, p in pieces[at:at + n])
            parts.append(gzip.compress(run, mtime=0) if draw(st.booleans()) else run)
            at += n
        return b"".join(parts), intact, draw(st.booleans())
    if layout == "whole":
        return gzip.compress(b"".join(p for _, p in pieces), mtime=0), intact, True
    if layout == "member-per-piece":
        members, n = [], -1
        for kind, p in pieces:
            n += kind == "record"
            if draw(st.booleans()) and draw(st.booleans()):
                members.append(gzip.compress(draw(st.sampled_from([b"", b"\r\n", b"garbage"])), mtime=0))
            member = gzip.compress(p, mtime=0)
            how = draw(st.sampled_from([("none",)] * 4 + [("cut", 0.5), ("flip", 0.5, 1), ("flip", 0.05, 8)]))
            if how != ("none",):  # the member's own bytes damaged: its record is lost, no other
                member = damage_bytes(member, how)
                if kind == "record" and n in intact:
                    intact.remove(n)
            members.append(member)
        return b"".join(members), intact, True
    whole = b"".join(p for _, p in pieces)  # split: members cut at any byte, records across them
    cuts = sorted(draw(st.lists(st.integers(0, len(whole)), max_size=6)))
    return b"".join(gzip.compress(whole[a:b], mtime=0) for a, b in zip([0] + cuts, cuts + [len(whole)])), intact, True


class _CountingReader(io.BufferedReader):
    """A file opened by the WARC reader that counts the bytes it hands out: the work a read costs, measured in bytes
    and not in seconds, so a test of linear time holds on a loaded machine and fails on quadratic rereading."""

    total = 0

    def read(self, n=-1):
        out = super().read(n)
        type(self).total += len(out)
        return out

    def read1(self, n=-1):
        out = super().read1(n)
        type(self).total += len(out)
        return out

    def readline(self, n=-1):
        out = super().readline(n)
        type(self).total += len(out)
        return out

    def readinto(self, b):
        got = super().readinto(b)
        type(self).total += got or 0
        return got


def bytes_read(read):
    """(what `read()` returns, the bytes it had the WARC reader (axk1.data.warc's open) read from its files)."""
    import pytest

    import axk1.data.warc

    class Counting(_CountingReader):
        total = 0

    def counting_open(path, mode="r", *args, **kwargs):
        assert mode == "rb", mode  # the reader opens its files this way, and only then is the count whole
        return Counting(io.FileIO(path, "rb"))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(axk1.data.warc, "open", counting_open, raising=False)
        out = read()
    return out, Counting.total


def buffer_work(read):
    """(what `read()` returns, the bytes the record reader's buffers (axk1.data.warc_salvage's bytearrays) held
    each time bytes were cut from them or put into them): what such a change may move, so a buffer copied whole
    for every tiny record shows as quadratic work, in bytes and not in seconds."""
    import pytest

    import axk1.data.warc_salvage

    moved = [0]

    class Counting(bytearray):
        def __delitem__(self, key):
            moved[0] += len(self)
            super().__delitem__(key)

        def __setitem__(self, key, value):
            moved[0] += len(self) if isinstance(key, slice) else 1
            super().__setitem__(key, value)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(axk1.data.warc_salvage, "bytearray", Counting, raising=False)
        out = read()
    return out, moved[0]
