"""Output folders: one made and written to before long work (writable_folder: a command that trains for hours and
then cannot write its result has thrown the hours away), and one a command replaces (which of its entries the
command made, so that replacing it never deletes what someone else put there). Shared by `axk1 export` (a model
folder, axk1/checkpoint/folder.py), the checkpoints of a training run (axk1/checkpoint/dcp.py), `axk1 data run
--force` (a pipeline's run folder, axk1/data/run_folder.py), `axk1 data tokenizer train -o` and `axk1 eval -o`;
imports nothing heavy, as `axk1 data ...` starts without torch."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

# the errors of a full disk (or a used-up quota), by what they say: the run lock and a failed checkpoint write name
# them and advise freeing space or another disk
DISK_FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}


def writable_folder(folder: Path, flag: str) -> list[Path]:
    """Makes `folder` (and its missing parents) and writes a file in it, removed at once; a PermissionError naming
    `flag` and the folder when either fails (`-o` a file or under one, a read-only file system, a folder not the
    user's).
    A file written, not os.access: that says yes on a read-only mount, and to root for any folder. Returns the
    folders it made, outermost first, for `remove_made` to take back."""
    folder = Path(folder)
    file = file_in_the_way(folder)
    if file is not None:  # said as such: the OSError read "cannot write there (File exists)"
        raise PermissionError(f"{flag} {folder}: cannot write there: {'it' if file == folder else file} is a file, "
                              "not a folder: give the path of a folder (a new one is made), or move the file away")
    missing = missing_folders(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        remove_made(missing)
        raise PermissionError(f"{flag} {folder}: cannot write there ({e.strerror or e}): give a folder you can "
                              "create and write to") from None
    return missing


def missing_folders(folder: Path) -> list[Path]:
    """The folders that making `folder` (and its missing parents) creates, outermost first, for `remove_made`."""
    folder = Path(folder)
    return [p for p in (folder, *folder.parents) if not (p.exists() or p.is_symlink())][::-1]


def file_in_the_way(folder: Path) -> Path | None:
    """The file (not a folder) at `folder` or at one of its parents, which keeps it from being made; None if none."""
    return next((p for p in (folder, *folder.parents) if _a_file(p)), None)


def _a_file(path: Path) -> bool:
    """Whether something other than a folder is at `path` (a folder it cannot look into: no, the write says)."""
    try:
        return path.exists() and not path.is_dir()
    except OSError:
        return False


def remove_made(made: list[Path]) -> None:
    """Removes the folders `writable_folder` (or a run lock, axk1/checkpoint/run_lock.py) made that are still empty,
    innermost first (a refused run leaves no empty folders of its own behind)."""
    for p in reversed(made):
        try:
            p.rmdir()
        except OSError:  # not empty (something was written) or already gone: left as it is
            return


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


def swap_siblings(out: Path) -> tuple[Path, Path]:
    """(where a new folder for `out` is written before it takes `out`'s place, where the folder it replaces waits
    meanwhile): hidden, beside `out` (one file system, so each rename is atomic). axk1/checkpoint/folder.py's
    begin_replacing and replace_folder swap them in."""
    return out.parent / f".{out.name}.partial", out.parent / f".{out.name}.replaced"


def interrupted_swap_hint(out: str | Path) -> str:
    """For an error about a folder `out` that does not exist: what a command stopped while replacing it left
    beside it, and what to do ("" where it left nothing). A kill between replace_folder's two renames leaves no
    `out` at all: the earlier folder in `.out.replaced`, the new one in `.out.partial`."""
    out = Path(out)
    partial, replaced = swap_siblings(out)
    if replaced.is_dir():
        new = f", the new one in {partial}" if partial.is_dir() else ""
        return (f"; a command replacing it (`axk1 export`, `axk1 merge`, an sft or rl run's export) was stopped "
                f"between its two renames: the model that was there is in {replaced}{new}. Run that command again "
                f"(it puts the earlier model back first), or `mv {replaced} {out}` to use the earlier model now")
    if partial.is_dir():
        return (f"; {partial} holds a model a command (`axk1 export`, `axk1 merge`, an sft or rl run's export) "
                "was writing there and did not finish: run it again")
    return ""
