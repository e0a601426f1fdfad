"""The WARC reader against files built at random from valid records (warcio's writer): cuts, byte flips, junk,
duplicated record starts, wrong Content-Lengths, gzip members split at odd places, empty members and members of
garbage, plain and gzipped parts joined in one file, WARC/1.0 and 1.1. For every file: no exception, every
undamaged record read with its exact payload, in order, and no failure at all when nothing was damaged (warcio's
digests included)."""

import gzip

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from axk1.data.warc import Skipped, WebPage, read_warc
from tests.warc_helpers import DAMAGE, N_RECORDS, RECORDS, crawls, damage_bytes


BODIES = {i: RECORDS[i, "1.0"].split(b"\r\n\r\n", 2)[2][:-4] for i in range(N_RECORDS)}


def _check(tmp_path, data: bytes, intact: list, gz: bool | None = None):
    path = tmp_path / ("f.warc.gz" if (data[:2] == b"\x1f\x8b" if gz is None else gz) else "f.warc")
    path.write_bytes(data)
    items = list(read_warc(path))  # never raises
    pages = {x.url: x.payload for x in items if isinstance(x, WebPage)}
    for i in intact:
        assert pages.get(f"https://ex.kr/{i}") == BODIES[i], (i, [getattr(x, "reason", x.url) for x in items])
    failures = [x.reason for x in items if isinstance(x, Skipped)]
    # a byte flipped in a record's block: its digest no longer matches (warc_digest.py)
    assert all(r.startswith(("broken_record: ", "digest_mismatch (", "not_html", "http_status_")) for r in failures), \
        failures
    return pages, failures


R0, R1 = RECORDS[0, "1.0"], RECORDS[1, "1.1"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(crawl=crawls())
# each found by this test on the first reader: the record after the damage was lost, most with no failure for it
@example(crawl=(b"\x00" + R0, [0]))  # a record start inside a line was never a place to resync
@example(crawl=(R0[:len(R0) // 2] + R1, [1]))  # a record cut short, the next one written on
@example(crawl=(gzip.compress(R0[:len(R0) // 2]) + gzip.compress(R1), [1]))  # ... in a member of its own
@example(crawl=(gzip.compress(b"garbage") + gzip.compress(R1), [1]))  # a member of garbage before a record's own
# a header of a record that claims more than is left: its block, the next record, was not searched from its first byte
@example(crawl=(b"WARC/1.1\r\nWARC-Type: response\r\nContent-Length: 999999\r\n\r\n" + R1, [1]))
# cut inside its HTTP header, not_html: the bytes warcio did not read were skipped, not searched for the next record
@example(crawl=(R0[:R0.index(b"HTTP/1.1 200 OK") + 24] + R1, [1]))
# cut inside a WARC header value: both headers were read as one, /0's URI with /1's payload, and /1 lost silently
@example(crawl=(R0[:R0.index(b"WARC-Payload-Digest: sha1:") + 26] + R1, [1]))
# a Content-Length 33 bytes too large ends on a blank line of the next header: /0 read with its start in the payload
@example(crawl=(damage_bytes(R0, ("length", 33)) + R1, [1]))
@example(crawl=(R0[:-12] + R1, [1]))  # its start then inside the block's last line, after '</body'
# a .warc.gz whose first gzip header is damaged was read as an uncompressed file: one failure, every record lost
@example(crawl=(damage_bytes(gzip.compress(b"\r\n", mtime=0), ("flip", 0.05, 8)) + gzip.compress(R0, mtime=0), [0],
                True))
# a header claiming 999999 bytes ran on into a member cut short: the records it swallowed were not searched for
@example(crawl=(gzip.compress(b"WARC/1.1\r\nWARC-Type: response\r\nContent-Length: 999999\r\n\r\n", mtime=0)
                + gzip.compress(R0, mtime=0) + gzip.compress(R1, mtime=0)[:100], [0], True))
# files joined from plain and gzipped parts: the part after the first was read as junk, its records lost
@example(crawl=(R0 + gzip.compress(R1, mtime=0), [0, 1], False))
@example(crawl=(gzip.compress(R0, mtime=0) + b"\x00" + R1, [0, 1], True))  # bytes cut short before the plain part
@example(crawl=(b"\x00" + R0 + gzip.compress(R1, mtime=0), [0, 1], True))  # ... in a .gz: no damaged first member
# a plain header cut inside a value, then a gzipped record: the member went into the cut header's last line (only a
# line starting with it was looked at), so the next plain record's start ended the header and the member was lost
@example(crawl=(R0[:R0.index(b"WARC-Payload-Digest: sha1:") + 40] + gzip.compress(R1, mtime=0) + RECORDS[2, "1.0"],
                [1, 2], False))
def test_every_undamaged_record_is_read_whatever_broke_around_it(tmp_path, crawl):
    _check(tmp_path, *crawl)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(st.integers(0, N_RECORDS - 1), min_size=1, max_size=N_RECORDS, unique=True),
       version=st.sampled_from(["1.0", "1.1"]), layout=st.sampled_from(["plain", "member", "whole"]))
def test_a_sound_file_gives_every_page_and_no_failure(tmp_path, ids, version, layout):
    records = [RECORDS[i, version] for i in ids]
    data = {"plain": b"".join(records), "whole": gzip.compress(b"".join(records), mtime=0),
            "member": b"".join(gzip.compress(r, mtime=0) for r in records)}[layout]
    pages, failures = _check(tmp_path, data, ids)
    assert failures == [] and len(pages) == len(ids)


ARC_HEAD = (lambda desc: b"filedesc://t.arc 0.0.0.0 20250101000000 text/plain %d\n" % len(desc) + desc + b"\n")(
    b"1 0 axk1-test\nURL IP-address Archive-date Content-type Archive-length\n")


def _arc_record(i: int) -> bytes:
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n" + BODIES[i]
    return b"http://ex.kr/%d 10.0.0.1 20250102030405 text/html %d\n" % (i, len(http)) + http + b"\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=st.lists(DAMAGE, min_size=1, max_size=N_RECORDS), junk=st.lists(st.binary(max_size=30)),
       gz=st.booleans())
# a record cut short, the next one's header line then inside a line: never a place to resync, so it was lost
@example(damage=[("cut", 0.5), ("none",)], junk=[], gz=False)
@example(damage=[("cut", 0.125), ("none",)], junk=[], gz=True)  # ... found at 'HTThttp://', with that URL
@example(damage=[("none",), ("cut", 0.0625), ("none",)], junk=[], gz=False)  # a sound record before a cut header
# a block that swallowed 'htt' of the next header was taken as sound, and the next page read as 'p://ex.kr/2'
@example(damage=[("none",), ("cut", 0.984375), ("none",)], junk=[b"", b"", b"\x00\x00\x00\x00"], gz=False)
def test_arc_files_read_every_undamaged_record(tmp_path, damage, junk, gz):
    parts, intact, joined = [ARC_HEAD], [], False
    for i, how in enumerate(damage):
        if i < len(junk) and junk[i]:
            parts.append(junk[i] + b"\n")
            joined = False
        parts.append(damage_bytes(_arc_record(i), how) if how[0] != "length" else _arc_record(i).replace(
            b"text/html %d\n" % (len(_arc_record(i)) - len(b"http://ex.kr/%d 10.0.0.1 20250102030405 text/html " % i)
                                 - len(str(len(_arc_record(i))).encode()) - 2), b"text/html 9\n", 1))
        if how == ("none",) and not joined:
            intact.append(i)
        # a header line cut before its end reads as one line with the next record's: a URL and a length that look
        # sound (an ARC header is one line; a URL may hold another URL), so that next record is not asked for
        joined = how[0] == "cut" and len(parts[-1]) <= _arc_record(i).index(b"\n")
    data = b"".join(parts)
    path = tmp_path / ("t.arc.gz" if gz else "t.arc")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    pages = {x.url: x.payload for x in read_warc(path) if isinstance(x, WebPage)}
    for i in intact:
        assert pages.get(f"http://ex.kr/{i}") == BODIES[i], (i, list(read_warc(path)))


@pytest.mark.parametrize("junk", [b"WARC/1.0\r\n", b"WARC/1.0\r\nWARC-Type: response\r\n"])
def test_a_plain_header_cut_short_before_joined_gzip_members_loses_no_member(tmp_path, junk):
    """A case the fuzz above drew in session 19: a plain record, a dangling header line, then a gzip member of
    records 1-4 (files joined): the member's bytes were read as the cut header's, to the next plain record's start,
    and records 1-4 were lost. The member is read on, inflated, now."""
    data = RECORDS[0, "1.0"] + junk + gzip.compress(b"".join(RECORDS[i, "1.0"] for i in range(1, 5)), mtime=0) \
        + RECORDS[5, "1.0"]
    _check(tmp_path, data, list(range(N_RECORDS)), gz=False)


def test_plain_records_after_a_member_are_found_past_a_damaged_first_one(tmp_path):
    """The fuzz's other case of session 19: a gzip member of records 0-2, then plain records whose first (3) was
    damaged at its start: with a 1 KiB look for a record start the plain part was taken for a broken gzip member
    and records 4 and 5 were lost with it ("no gzip member after it: the rest of the file is lost")."""
    damaged = b"V" + RECORDS[3, "1.0"][1:]
    data = gzip.compress(b"".join(RECORDS[i, "1.0"] for i in range(3)), mtime=0) + damaged + RECORDS[4, "1.0"] \
        + RECORDS[5, "1.0"]
    _check(tmp_path, data, [0, 1, 2, 4, 5], gz=False)
