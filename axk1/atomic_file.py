"""A text file written whole or not at all: opened at a temporary name beside its path and renamed onto it only
when the writing completes, so a failure part-way (a full disk, a kill) leaves the old file, or none, never a cut
one that a later run would take as done."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def staged_path(path: Path) -> Path:
    """The temporary name beside `path` its content is written under before the rename (a check that the folder
    takes it, as --port-file's, probes this name)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_writer(path: str | Path) -> Iterator:
    """The open text file (UTF-8) to write `path`'s content to; renamed onto `path` when the block completes."""
    path = Path(path)
    if path.is_dir():  # else the error names the temporary file ("Is a directory: .out.123.tmp"), not the path given
        raise IsADirectoryError(f"{path} is a folder: give the path of the file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = staged_path(path)
    try:
        with tmp.open("w", encoding="utf-8") as f:
            yield f
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """`path.write_text(text)`, whole or not at all (atomic_writer for a text already in hand)."""
    with atomic_writer(path) as f:
        f.write(text)
