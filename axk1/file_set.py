"""A set of files that an output folder holds together (an evaluation's results: axk1/eval/result_set.py; the task
files of `axk1 posttrain tasks`: axk1/posttrain/task_set.py; a synth run's samples and side files:
axk1/synth/pipeline.py), replaced as one: a run cut short (Ctrl-C, SIGTERM, a
full disk) leaves the whole previous set or the whole new one, never some of each.

The new set is written first into a staging folder inside the output folder (a full disk or an error stops it
there, the output folder untouched), then each file is renamed into place with Ctrl-C, SIGTERM and SIGHUP held
until the last rename (signal_handlers.held_signals): the renames take microseconds, and only a SIGKILL or a power
loss inside them could mix two sets. The staging folder has one name per kind of set, so the caller holds the
output folder's run lock (axk1/checkpoint/run_lock.py): two runs writing at once each discarded the other's staging.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from axk1.output_folder import discard
from axk1.signal_handlers import STOP_SIGNALS, held_signals


def publish_set(out: Path, staging: str, write: Callable[[Path], None], known: Iterable[str],
                error: Callable[[str], Exception]) -> None:
    """Writes a new set with `write(folder)` into `out/staging`, then renames each file it wrote into `out`; a name
    of `known` (every name such a set may hold) that the new set lacks is removed from `out`, as part of the old
    set; `known` is read once `write` has returned (what `write` found may narrow it). An OSError on the way raises `error(what went wrong)` instead (the caller's message: `out` is unchanged)."""
    out = Path(out)
    folder = out / staging
    try:
        discard(folder)  # what a run cut short while writing left
        folder.mkdir(parents=True)
        write(folder)
        names = sorted(p.name for p in folder.iterdir())
        with held_signals(STOP_SIGNALS):
            for name in names:
                os.replace(folder / name, out / name)
            for name in set(known) - set(names):
                discard(out / name)
    except OSError as e:
        raise error(f"{e.strerror or e}" + (f" (writing {Path(e.filename).name})" if e.filename else "")) from None
    finally:
        discard(folder)
