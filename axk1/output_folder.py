"""An output folder that a command replaces: which of its entries the command made, so that replacing it never
deletes what someone else put there. Shared by `axk1 export` (a model folder, axk1/checkpoint/folder.py) and
`axk1 data run --force` (a pipeline's run folder, axk1/data/run_folder.py); imports nothing heavy, as
`axk1 data ...` starts without torch."""

from __future__ import annotations

import shutil
from pathlib import Path


def sort_entries(out: Path, names: tuple[str, ...] | set[str], patterns: tuple[str, ...] = ()
                 ) -> tuple[list[Path], list[str]]:
    """(the entries of folder `out` a command writes: a name in `names` or matching a glob of `patterns`, the names
    of the others, sorted). A missing folder has neither."""
    if not out.is_dir():
        return [], []
    entries = sorted(out.iterdir())
    own = [p for p in entries if p.name in names or any(p.match(g) for g in patterns)]
    return own, [p.name for p in entries if p not in own]


def named(items: list[str], most: int = 4) -> str:
    """The first few of a list for a message: `a, b, c, d ...`."""
    return ", ".join(items[:most]) + (" ..." if len(items) > most else "")


def discard(path: Path | None) -> None:
    """Deletes a file, link or folder if there is one (a link itself, never what it points to)."""
    if path is None or not (path.exists() or path.is_symlink()):
        return
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path)
