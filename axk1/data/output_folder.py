"""An output folder made and tried before long work: a command that trains for hours and then cannot write its result
(`-o` under a file, on a read-only file system, in a folder not the user's) has thrown the hours away."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def writable_folder(folder: Path, flag: str) -> list[Path]:
    """Makes `folder` (and its missing parents) and writes a file in it, removed at once; an error naming the folder
    when either fails. Returns the folders it made, outermost first, for `remove_made` to take back."""
    folder = Path(folder)
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        remove_made(missing)
        raise ValueError(f"{flag} {folder}: cannot write there ({e.strerror or e}): give a folder you can create and "
                         "write to") from None
    return missing


def remove_made(made: list[Path]) -> None:
    """Removes the folders `writable_folder` made that are still empty, innermost first (a refused run leaves no
    empty folders of its own behind)."""
    for p in reversed(made):
        try:
            p.rmdir()
        except OSError:  # not empty (something was written) or already gone: left as it is
            return
