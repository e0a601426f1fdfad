"""The files of one `axk1 posttrain tasks` run (train.jsonl, heldout.jsonl, decontamination.json), replaced in its
folder as one set, and the refusal to replace another run's set made with other options.

They were written one after the other (the report with a plain write): a failure or a kill between two of them left
one run's train.jsonl beside another run's heldout.jsonl, whose tasks may then overlap it (what the split is for),
and a report describing neither. Now the set is written first into OUT/.tasks-staging, each file through the atomic
writer (a full disk or an error stops it there, OUT untouched), then renamed into OUT with Ctrl-C, SIGTERM and
SIGHUP held until the last rename (axk1/signal_handlers.py held_signals, as axk1/eval/result_set.py does).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from axk1.output_folder import discard
from axk1.signal_handlers import STOP_SIGNALS, held_signals

NAMES = ("train.jsonl", "heldout.jsonl", "decontamination.json")
REPORT = "decontamination.json"  # the set's report; its "options" are what the tasks were drawn with
STAGING = ".tasks-staging"


def refuse_other_tasks(out: Path, options: dict, force: bool) -> None:
    """A FileExistsError when `out` holds task files of a run drawn with other options than `options` (or whose
    options cannot be read), unless `force`: a rerun with other options replaced them silently, under an SFT or RL
    run that reads them. A rerun with the same options writes the same tasks and goes ahead."""
    present = [name for name in NAMES if (Path(out) / name).exists()]
    if force or not present:
        return
    try:
        before = json.loads((Path(out) / REPORT).read_text(encoding="utf-8"))["options"]
    except (OSError, ValueError, KeyError, TypeError):  # no report, or not one of ours
        before = None
    now = json.loads(json.dumps(options))  # as the report holds them: tuples as lists
    if before == now:
        return
    if isinstance(before, dict):
        changed = ", ".join(f"{key} {before.get(key)!r} (now {now.get(key)!r})"
                            for key in sorted(now.keys() | before.keys()) if before.get(key) != now.get(key))
        why = f"drawn with other options: {changed}"
    else:
        why = f"whose options cannot be read (no readable {REPORT} with its \"options\")"
    raise FileExistsError(f"{out} holds the task files of another run ({', '.join(present)}) {why}; writing these "
                          "would replace them under whatever trains or evaluates on them: give another -o, or --force "
                          "to replace them")


def publish_tasks(out: Path, write: Callable[[Path], None]) -> None:
    """Writes a new set with `write(folder)` into a staging folder under `out`, then renames it into `out` whole."""
    out = Path(out)
    staging = out / STAGING
    try:
        discard(staging)  # what a run killed while writing left
        staging.mkdir(parents=True)
        write(staging)
        with held_signals(STOP_SIGNALS):
            for name in NAMES:
                os.replace(staging / name, out / name)
    except OSError as e:
        what = f"{e.strerror or e}" + (f" (writing {Path(e.filename).name})" if e.filename else "")
        raise OSError(f"cannot write the tasks into {out}: {what}. The task files there (if any) are unchanged: "
                      "make room (or fix the folder) and run the same command again") from None
    finally:
        discard(staging)
