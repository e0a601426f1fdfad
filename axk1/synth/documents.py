"""Documents in (JSONL rows with `text`, `id`, `metadata`, as the data pipeline writes them) → passages."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axk1.compressed_file import read_lines
from axk1.json_text import JsonError, find_surrogate, parse_json
from axk1.synth.recipe import PassageConfig
from axk1.synth.text import hangul_language
from axk1.text.ngrams import normalize

_MATH = re.compile(r"[=+\-×÷*/^<>≤≥∑∫√]|\\frac|\\sum|\\int|\$")


@dataclass
class Document:
    id: str
    text: str
    language: str
    domain: str | None
    metadata: dict[str, Any] = field(default_factory=dict)


def read_documents(path: str | Path) -> Iterator[tuple[int, Document | None, str | None]]:
    """(line number, document, None) or (line number, None, why the line is unusable), for every non-blank line.
    The reason is "<kind>: <detail>" (the kind is what the summary counts). Lines are decoded one by one, so a stray
    non-UTF-8 byte costs its line, not the run; a repeated id is excluded, since samples and the duplicate index
    are keyed by it. A row without an id is named by its text's hash (`text-<sha1 prefix>`, then `-2`, `-3`... for
    the second and later copies of one text): the id seeds its requests, which the cache is keyed by, so removing
    or adding other lines re-pays nothing."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"documents file {path} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"documents {path} is a folder: give one JSONL file (or .jsonl.gz, .zst, .bz2, .xz)")
    seen: dict[str, int] = {}  # id -> line it was first used on
    copies: Counter = Counter()  # text hash -> rows without an id holding that text so far
    # a compressed file cut short or damaged is one ValueError naming it (read_lines), not gzip's bare EOFError
    lines = read_lines(path, "compress the documents again, or give the plain .jsonl", what="documents file")
    for n, raw in enumerate(lines, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield n, None, f"invalid UTF-8: byte {e.start} of {path}:{n}"
            continue
        if not line.strip():
            continue
        try:
            row = parse_json(line)
        except JsonError as e:
            yield n, None, f"not JSON: {path}:{n}: {e}"
            continue
        if not isinstance(row, dict):
            yield n, None, f"not a JSON object: {path}:{n} is a {type(row).__name__}"
            continue
        if not isinstance(row.get("text"), str):
            yield n, None, f"no 'text' string: {path}:{n} has text = {str(row.get('text'))[:40]!r}"
            continue
        surrogate = find_surrogate(row)
        if surrogate is not None:  # valid JSON ("\ud800") but not text: no prompt, cache key or output holds it
            yield n, None, f"lone_surrogate: {path}:{n} at {surrogate}"
            continue
        text = normalize(row["text"]).strip()
        if not text:
            yield n, None, f"empty text: {path}:{n}"
            continue
        # 0 and False are ids too; only a missing, null or empty id falls back to the text's hash
        raw_id = row.get("id")
        if raw_id is None or raw_id == "":
            digest = hashlib.sha1(text.encode()).hexdigest()[:16]
            copies[digest] += 1
            doc_id = f"text-{digest}" + (f"-{copies[digest]}" if copies[digest] > 1 else "")
        else:
            doc_id = str(raw_id)
        if doc_id in seen:
            yield n, None, f"duplicate id: {path}:{n} repeats id {doc_id!r} of line {seen[doc_id]} (give ids once)"
            continue
        seen[doc_id] = n
        meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        lang = meta.get("language") if meta.get("language") in ("ko", "en") else hangul_language(text)
        domain = meta.get("domain") if isinstance(meta.get("domain"), str) else None
        yield n, Document(doc_id, text, lang, domain, meta), None


def _pieces(text: str, max_chars: int) -> Iterator[str]:
    """Paragraphs, a longer one cut at sentence ends. Lazy and index-based: a 16M-char paragraph is not copied
    once per cut, and the caller stops reading once it has its passages."""
    for para in re.split(r"\n\s*\n", text):
        start, end = 0, len(para)
        while start < end and para[start].isspace():
            start += 1
        while end > start and para[end - 1].isspace():
            end -= 1
        while end - start > max_chars:
            limit = start + max_chars
            cut = max(para.rfind(". ", start, limit), para.rfind("다. ", start, limit))
            cut = cut + 1 if cut - start > max_chars // 2 else limit
            piece = para[start:cut].strip()
            if piece:
                yield piece
            start = cut
            while start < end and para[start].isspace():
                start += 1
        if end > start:
            yield para[start:end]


def split_passages(text: str, spec: PassageConfig, dropped: Counter | None = None) -> list[str]:
    """Paragraphs joined up to max_chars (a longer paragraph is cut at sentence ends); pieces shorter than
    min_chars are dropped; at most max_per_document passages. `dropped` counts what is left out, by reason."""
    if spec.max_chars < 1 or spec.max_per_document < 1:  # validate() refuses these; 0 would never advance
        raise ValueError(f"passages: max_chars ({spec.max_chars}) and max_per_document ({spec.max_per_document}) "
                         "must be >= 1")
    passages: list[str] = []
    current = ""
    dropped = Counter() if dropped is None else dropped

    def take(passage: str) -> None:
        if len(passage) < spec.min_chars:
            dropped["under min_chars"] += 1
        elif len(passages) >= spec.max_per_document:
            dropped["past max_per_document"] += 1
        else:
            passages.append(passage)

    for piece in _pieces(text, spec.max_chars):
        if current and len(current) + 2 + len(piece) > spec.max_chars:
            take(current)
            current = piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        take(current)
    return passages


def looks_like_math(text: str) -> bool:
    """Enough digits and operators (or LaTeX) that a worked problem can be built from it."""
    digits = sum(ch.isdigit() for ch in text)
    return digits >= 5 and len(_MATH.findall(text)) >= 3
