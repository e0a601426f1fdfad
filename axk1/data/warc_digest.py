"""A WARC record's own check of its bytes: WARC-Block-Digest (the whole block: HTTP headers and payload) and, where
a record has no block digest, WARC-Payload-Digest (the bytes after the HTTP headers). In an uncompressed WARC no
other check exists: without this, a flipped byte gave a wrong page and no failure.

A digest is `algorithm:value`. Writers use sha1 in base32 (WARC 1.1, section 5.9; warcio, Heritrix, wget), some
other algorithms (sha256, md5) or encodings (hex, base64): any algorithm hashlib has is checked, in any of those
three encodings; one it does not have is left unchecked, and the page says so (`warc_digest` in its metadata).
"""

from __future__ import annotations

import base64
import hashlib
import re

_FIELD = r"(?im)^{}:[ \t]*(\S+?)[ \t]*\r?$"
_BLOCK = re.compile(_FIELD.format("WARC-Block-Digest").encode())
_PAYLOAD = re.compile(_FIELD.format("WARC-Payload-Digest").encode())
_SEGMENT = re.compile(rb"(?im)^WARC-Segment-Number:")
_CHUNKED = re.compile(rb"(?im)^transfer-encoding:[^\r\n]*chunked")


class DigestMismatch(ValueError):
    """The record's bytes are not those its writer hashed."""


def check_digests(header: bytes, block: bytes) -> str:
    """What was checked of a record, given its WARC header and its whole block: "sha1" (the algorithm that
    matched), "none" (no digest), or "unchecked (why)". Raises DigestMismatch when a digest does not match."""
    m = _BLOCK.search(header)
    if m:
        return _check("WARC-Block-Digest", m.group(1), block)
    m = _PAYLOAD.search(header)
    if not m:
        return "none"
    if _SEGMENT.search(header):  # a segment's payload digest is that of the whole, joined payload
        return "unchecked (the payload digest of a segmented record covers every segment)"
    payload = block
    if block.startswith(b"HTTP/"):
        end = block.find(b"\r\n\r\n")
        if end < 0:
            return "unchecked (a payload digest, and no end to the HTTP headers)"
        if _CHUNKED.search(block, 0, end):  # writers disagree on whether it covers the chunks or the body
            return "unchecked (the payload digest of a chunked payload)"
        payload = block[end + 4:]
    return _check("WARC-Payload-Digest", m.group(1), payload)


def _check(field: str, digest: bytes, data: bytes) -> str:
    name, _, value = digest.decode("ascii", "replace").partition(":")
    if not value:
        return f"unchecked ({field} {digest[:60]!r} names no algorithm)"
    algorithm = _hashlib_name(name)
    if algorithm is None:
        return f"unchecked ({field} uses {name[:30]!r}, which hashlib does not have)"
    raw = hashlib.new(algorithm, data).digest()
    # the same digest as each encoding writes it: base32 (padded or not), hex, base64 (standard or URL-safe)
    spelled = {base64.b32encode(raw).decode().rstrip("="), raw.hex().upper(),
               base64.b64encode(raw).decode().rstrip("=").upper(),
               base64.urlsafe_b64encode(raw).decode().rstrip("=").upper()}
    if value.rstrip("=").upper() in spelled:
        return algorithm
    raise DigestMismatch(f"digest_mismatch ({field} {name}:{value[:64]} does not match the record's "
                         f"{len(data)} bytes: they were changed after the crawler wrote them)")


def _hashlib_name(name: str) -> str | None:
    """hashlib's name for a digest label: sha1, SHA-1, sha-256, sha3-256, md5 ..."""
    low = name.strip().lower()
    for candidate in (low, low.replace("-", ""), low.replace("-", "_")):
        if candidate in hashlib.algorithms_available and not candidate.startswith("shake"):  # (no fixed size)
            return candidate
    return None
