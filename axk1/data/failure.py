"""An input that could not be read, as every source reports it (the pipeline writes it to failed/ with its reason)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datatrove.data import Document


@dataclass
class Failure:
    """An input item that could not be read: written to the run's failed/ output."""

    id: str
    reason: str
    source: str
    path: str

    def document(self) -> Document:
        return Document(text="", id=self.id, metadata={"failure_reason": self.reason, "source": self.source,
                                                       "path": self.path})


def gave_nothing(path: Path, source_type: str) -> str | None:
    """Why a file that gave no record at all fails, or None where nothing is what it holds. Bytes that held no
    record: "no_records" (a sound WARC whose records all describe the crawl, request, revisit, metadata, fails in
    its reader, saying so: axk1/data/html_pages.py). Zero bytes: "empty_file" for a crawl (a WARC holds a record at least) or a gzip file
    (a gzip stream is 20 bytes at least; Python reads zero bytes as an empty one, where zstd, bz2 and xz fail them
    as cut short), a download or write that stopped before its first byte, which was in no line of the
    accounting; an empty .jsonl is an empty dataset."""
    if path.stat().st_size:
        return "no_records"
    if source_type == "warc" or path.name.lower().endswith(".gz"):
        return "empty_file (0 bytes: a download or write that stopped before its first byte)"
    return None
