"""The files of one `axk1 posttrain tasks` run (train.jsonl, heldout.jsonl, decontamination.json), replaced in its
folder as one set, one run at a time, and the refusal to replace another run's set made with other options.

They were written one after the other (the report with a plain write): a failure or a kill between two of them left
one run's train.jsonl beside another run's heldout.jsonl, whose tasks may then overlap it (what the split is for),
and a report describing neither. Now the set is written into OUT/.tasks-staging and renamed into OUT whole
(axk1/file_set.py, as axk1/eval/result_set.py does), under OUT's run lock (axk1/checkpoint/run_lock.py): two runs
at once shared the staging folder and each discarded the other's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from axk1.checkpoint.run_lock import RunLock
from axk1.file_set import publish_set
from axk1.json_text import json_digest
from axk1.output_folder import writable_folder

NAMES = ("train.jsonl", "heldout.jsonl", "decontamination.json")
REPORT = "decontamination.json"  # the set's report; its "options" are what the tasks were drawn with
STAGING = ".tasks-staging"
_ABSENT = object()  # an option an earlier version did not record


def tasks_lock(out: Path) -> RunLock:
    """OUT's run lock, held from the refusal check to the last rename: a second run into OUT is refused at once."""
    # first, as eval does: an -o that is a file is named as one, with this verb's flag. The folders it makes are
    # the lock's to take back with its own (a failed run left a new OUT and its parents behind)
    made = writable_folder(out, "-o")
    return RunLock(out, flag="-o", job="task generation (axk1 posttrain tasks)", made=made,
                   harm="would discard each other's staged files and replace each other's tasks")


def recorded_options(options: dict, n: int, threshold: float, n_train: int, n_heldout: int,
                     refs: Mapping) -> dict:
    """Every option that changes the set's files, as its report records them and a rerun is compared by: the draw's
    (`options`), decontamination's n-gram size and threshold, the counts, and the decontamination sets (decontam.
    ReferenceSet by name) by their texts' count and digest (a set not read removes nothing). Content, not a path:
    the same texts from another file draw the same tasks, and a file changed in place does not."""
    sets = {name: (f"{len(ref.texts)} texts, sha256 {json_digest(list(ref.texts))[:16]}" if ref.available
                   else "not used") for name, ref in sorted(refs.items())}
    return {**options, "n": n, "threshold": threshold, "train": n_train, "heldout": n_heldout,
            "decontamination": sets}


def _shown(value: object) -> str:
    return "(not recorded)" if value is _ABSENT else repr(value)


def _differences(before: dict, now: dict, prefix: str = "") -> list[str]:
    """'key old (now new)' for each option that differs; a dict of options (the decontamination sets) by its keys."""
    found = []
    for key in sorted(now.keys() | before.keys()):
        old, new = before.get(key, _ABSENT), now.get(key, _ABSENT)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            found += _differences(old, new, f"{prefix}{key} ")
        else:
            found.append(f"{prefix}{key} {_shown(old)} (now {_shown(new)})")
    return found


def refuse_other_tasks(out: Path, options: dict, force: bool) -> None:
    """A FileExistsError when `out` holds task files of a run drawn with other options than `options` (every option
    that changes the files: the draw's, the counts, the decontamination sets) or whose options cannot be read,
    unless `force`: a rerun with other options replaced them silently, under an SFT or RL run that reads them. A
    rerun with the same options writes the same tasks and goes ahead."""
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
        why = f"drawn with other options: {', '.join(_differences(before, now))}"
    else:
        why = f"whose options cannot be read (no readable {REPORT} with its \"options\")"
    raise FileExistsError(f"{out} holds the task files of another run ({', '.join(present)}) {why}; writing these "
                          "would replace them under whatever trains or evaluates on them: give another -o, or --force "
                          "to replace them")


def publish_tasks(out: Path, write: Callable[[Path], None]) -> None:
    """Writes a new set with `write(folder)` into a staging folder under `out`, then renames it into `out` whole.
    The caller holds `out`'s run lock (tasks_lock)."""
    out = Path(out)

    def not_written(what: str) -> OSError:
        return OSError(f"cannot write the tasks into {out}: {what}. The task files there (if any) are unchanged: "
                       "make room (or fix the folder) and run the same command again")

    publish_set(out, STAGING, write, NAMES, not_written)
