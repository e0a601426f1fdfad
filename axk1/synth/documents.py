"""Documents in (JSONL rows with `text`, `id`, `metadata`, as the data pipeline writes them) → passages."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axk1.synth.recipe import PassageConfig
from axk1.synth.text import detect_language
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
    """(line number, document, None) or (line number, None, why the line is unusable), for every line."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"documents file {path} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                yield n, None, f"line {n} is not JSON: {e.msg}"
                continue
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                yield n, None, f"line {n} has no 'text' string"
                continue
            text = normalize(row["text"]).strip()
            if not text:
                yield n, None, f"line {n}: empty text"
                continue
            meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
            lang = meta.get("language") if meta.get("language") in ("ko", "en") else detect_language(text)
            yield n, Document(str(row.get("id") or f"line-{n}"), text, lang, meta.get("domain"), meta), None


def split_passages(text: str, spec: PassageConfig) -> list[str]:
    """Paragraphs joined up to max_chars (a longer paragraph is cut at sentence ends); pieces shorter than
    min_chars are dropped; at most max_per_document passages."""
    pieces: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        while len(para) > spec.max_chars:
            cut = max(para.rfind(". ", 0, spec.max_chars), para.rfind("다. ", 0, spec.max_chars))
            cut = cut + 1 if cut > spec.max_chars // 2 else spec.max_chars
            pieces.append(para[:cut].strip())
            para = para[cut:].strip()
        if para:
            pieces.append(para)
    passages: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 2 + len(piece) > spec.max_chars:
            passages.append(current)
            current = piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        passages.append(current)
    return [p for p in passages if len(p) >= spec.min_chars][: spec.max_per_document]


def looks_like_math(text: str) -> bool:
    """Enough digits and operators (or LaTeX) that a worked problem can be built from it."""
    digits = sum(ch.isdigit() for ch in text)
    return digits >= 5 and len(_MATH.findall(text)) >= 3
