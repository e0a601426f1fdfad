"""What a web payload is by its first bytes, before any charset is tried: markup (`looks_like_html`), or a file of
another kind (`binary_kind`: a PDF, an image, an archive, gzip; or NUL bytes and no markup), or a script's data
served as a page (`script_kind`: JSON, JSONP, JavaScript; an API's JSON labelled text/html was kept as a "document"
of braces and quoted keys). Both web sources ask:
a WARC record's payload, whatever its server called it, and a saved page of an `html` source, whatever its name
(a PDF or PNG named .html failed as "undecodable ... not UTF-8", where the same bytes in a WARC were not_html)."""

from __future__ import annotations

import json
import re

from axk1.data.charset import utf16_without_bom

GZIP = b"\x1f\x8b"
# Any tag of markup (what JavaScript holding no HTML never has): a list of tag names missed HTML5's <section>,
# <article>, <main>, <em>, <pre>, <img>...
_TAG = re.compile(rb"<[a-z][a-z0-9-]*[\s/>]", re.IGNORECASE)
# A script's usual first words, each with the syntax that follows it: "function " or "import " alone started
# prose too ("function of a manager: planning ..." was called JavaScript).
_SCRIPT_START = re.compile(
    rb"(?:(?:async\s+)?function\s*\*?\s*[\w$]*\s*\(|(?:var|let|const)\s+[\w$]+\s*[=;,]|"
    rb"import\s*(?:[\"'][^\"'\n]+[\"']|[\w$*{][^;\n]*?\bfrom\s*[\"'])|"
    rb"export\s+(?:default|var|let|const|function|async|class)\b|export\s*[{*]|[\"']use strict[\"']|"
    rb"\(\s*function\b|!function\b|\(\s*\(\s*\)\s*=>|(?:window|document|self)\.[\w$]|"
    rb"define\(|require\()")
# JSONP, an API's JSON handed to a callback: `jQuery1124_1701({...});`, or Express's res.jsonp
# `/**/ typeof cb === 'function' && cb({...});` (the comment goes with the others below). What follows the
# parenthesis must be JSON to its closing one (_jsonp_argument): a word and a parenthesis start prose too.
_JSONP_CALL = re.compile(rb"(?:typeof\s+[\w$.]+\s*===?\s*[\"']function[\"']\s*&&\s*)?"
                         rb"[A-Za-z_$][\w$]*(?:\.[\w$]+)*\s*\(")
# comments before a script's first statement (a bundle's /*! licence */): skipped, the statement decides
_LEADING_COMMENTS = re.compile(rb"(?:\s*(?://[^\n]*|/\*.*?\*/))+\s*", re.DOTALL)
_MAGIC = ((b"%PDF-", "application/pdf"), (b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
          (b"GIF8", "image/gif"), (b"RIFF", "image/webp or other RIFF"), (b"PK\x03\x04", "application/zip"),
          (GZIP, "application/gzip"), (b"wOF", "font/woff"), (b"\x00\x00\x01\x00", "image/x-icon"))


def looks_like_html(payload: bytes) -> bool:
    """For records without a usable Content-Type: markup near the start, as browsers sniff."""
    head = payload[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")) or b"<html" in head


def binary_kind(payload: bytes) -> str:
    """What a payload is by its first bytes, when it is no text: a known file signature, or NUL bytes early on
    and no markup (UTF-16 pages hold NULs: they start with a byte-order mark, or their NULs fill one byte of each
    pair, charset.utf16_without_bom); "" for text."""
    for magic, kind in _MAGIC:
        if payload.startswith(magic):
            return kind
    if b"\x00" in payload[:1024] and not payload.startswith((b"\xff\xfe", b"\xfe\xff")) \
            and not looks_like_html(payload) and not utf16_without_bom(payload):
        return "binary data"
    return ""


def _json_container(data: bytes) -> bool:
    """Whether all of `data` is one JSON object or array."""
    try:
        return isinstance(json.loads(data), (dict, list))
    except ValueError:  # (UnicodeDecodeError and JSONDecodeError both): not JSON, whatever it is
        return False


def _jsonp_argument(statement: bytes) -> bool:
    """Whether `statement` is one callback call on a JSON object or array, and nothing more: JSONP. Markup inside
    the JSON's strings (an HTML fragment to insert) is data like any other there."""
    call = _JSONP_CALL.match(statement)
    if not call:
        return False
    rest = statement[call.end():].rstrip()
    rest = rest[:-1].rstrip() if rest.endswith(b";") else rest
    return rest.endswith(b")") and _json_container(rest[:-1])


def script_kind(payload: bytes) -> str:
    """"json" for a payload that is a JSON object or array (all of it parses), "jsonp" for one that is a callback
    called on one (`cb({...});`), "javascript" for one whose first statement (after any comments) is a script's
    (`function f(`, `var x =`, `import ... from "..."`, ...) and that holds no tag of markup at all, "" otherwise: a
    page that starts with whitespace, a byte-order mark, a comment or plain text, or a template's `{{ ... }}`, stays
    a page."""
    body = payload[3:] if payload.startswith(b"\xef\xbb\xbf") else payload
    body = body.lstrip()
    if body[:1] in (b"{", b"["):
        return "json" if _json_container(body) else ""
    comments = _LEADING_COMMENTS.match(body)
    statement = body[comments.end():] if comments else body
    if _jsonp_argument(statement):
        return "jsonp"
    if _SCRIPT_START.match(statement) and not _TAG.search(body):
        return "javascript"
    return ""
