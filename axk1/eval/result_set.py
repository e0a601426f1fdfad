"""The files an evaluation writes when it ends (samples.jsonl, config.json, results.json, report.md, the plots),
replaced in its output folder as one set: a run cut short at any moment (a kill, a full disk) leaves the whole
previous set or the whole new one, never some of each.

Replacing the files one by one could not give that: a run stopped between two renames left config.json and
results.json of the new run beside the old report.md and scores.png. So each set is written into its own folder,
DIR/.eval-sets/<generation>/, and the names in DIR are symlinks through one more link, DIR/.eval-current, to
whichever set is current (DIR/results.json -> .eval-current/results.json -> .eval-sets/<g>/results.json). The
new set becomes current with one rename of .eval-current, which the file system makes atomic. The links are
relative, so the folder can be moved or copied (cp -r, rsync -a) whole. A folder an older axk1 wrote (plain files)
is taken over first: its files are hard-linked into a set of their own and each name is turned into a link to it,
so that every name shows the old content until the swap. Only the writer is atomic: a reader opening the files one
by one across a swap may still get one from each set. completions.jsonl is not part of the set: it is appended as
completions arrive (axk1/eval/completion_store.py).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from axk1.output_folder import discard

SETS = ".eval-sets"
CURRENT = ".eval-current"
# What an older axk1 wrote as plain files into DIR (taken over into a set when a run finds them there).
KNOWN = ("samples.jsonl", "config.json", "results.json", "report.md", "scores.png", "passkey.png")


class ResultsNotWritten(OSError):
    """The new set could not be written (a full disk, a read-only folder): the previous set is left as it was."""


def publish(out: Path, write: Callable[[Path], None]) -> None:
    """Writes a new set with `write(folder)` into a folder of its own under `out`, then makes it `out`'s current
    set at once. The caller holds `out`'s run lock: nothing else writes the sets meanwhile."""
    out = Path(out)
    current = _current(out)
    staging = out / SETS / f"{time.time_ns()}-{os.getpid()}"
    try:
        for stale in (out / SETS).iterdir() if (out / SETS).is_dir() else ():
            if stale != current:  # a set a run cut short was writing, or one a swap cut short left behind
                discard(stale)
        staging.mkdir(parents=True)
        write(staging)
        names = sorted(p.name for p in staging.iterdir())
        current = _adopt_plain_files(out, current, set(names) | set(KNOWN))
        for name in names:  # links the set shown now lacks lead nowhere until the swap: no mixed set either way
            _link(out / name, f"{CURRENT}/{name}")
        _link(out / CURRENT, f"{SETS}/{staging.name}")  # the swap: one rename
    except BaseException as e:
        if _current(out) != staging:  # (a Ctrl-C landing just after the swap: the new set stays)
            discard(staging)
        if not isinstance(e, OSError):
            raise
        what = f"{e.strerror or e}" + (f" (writing {Path(e.filename).name})" if e.filename else "")
        raise ResultsNotWritten(f"cannot write this run's results into {out}: {what}. The previous results there are "
                                f"unchanged, and the completions this run got are kept in {out / 'completions.jsonl'}: "
                                "make room (or fix the folder) and run the same command again") from None
    for entry in out.iterdir():  # after the swap: a cut here leaves only dangling links and a spare set
        if entry.is_symlink() and os.readlink(entry).startswith(f"{CURRENT}/") and entry.name not in names:
            entry.unlink()  # a file of the old set the new one has not (a task's plot)
    if current is not None:
        discard(current)


def _current(out: Path) -> Path | None:
    """The folder of the set `out` shows now (None: none yet, or one this version did not write)."""
    link = out / CURRENT
    if not link.is_symlink() or not link.is_dir():
        return None
    return out / SETS / Path(os.readlink(link)).name


def _adopt_plain_files(out: Path, current: Path | None, names: set[str]) -> Path | None:
    """Plain files of the set's names in `out` (an older axk1's run, or files put there by hand) become links into
    the current set, which they join (a new one if there is none), each name showing the same content throughout."""
    plain = [out / n for n in sorted(names) if (out / n).is_file() and not (out / n).is_symlink()]
    if not plain:
        return current
    if current is None:
        current = out / SETS / f"{time.time_ns()}-{os.getpid()}-earlier"
        current.mkdir(parents=True)
        _link(out / CURRENT, f"{SETS}/{current.name}")  # every name is still a plain file: nothing shown changes
    for file in plain:
        target = current / file.name
        target.unlink(missing_ok=True)
        try:
            os.link(file, target)  # the same file, not a copy: no second copy of a large samples.jsonl
        except OSError:  # a file system without hard links
            shutil.copy2(file, target)
        _link(file, f"{CURRENT}/{file.name}")
    return current


def _link(path: Path, target: str) -> None:
    """Makes `path` a symlink to `target` in one rename (whatever was at `path` is replaced at once)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.link")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    try:
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
