"""Old checkpoints deleted in the background: save_checkpoint (axk1/checkpoint/dcp.py) renames them out of the
listing (`.step-aside-*.old`) and hands them here once the new one is complete. A checkpoint of A.X K1 is 6.3 TB,
whose delete on a parallel file system can outlast the other ranks' wait in a barrier (NCCL's: 10 minutes), and
training need not wait for it either; a run's end waits for the deletes (`wait_for_prunes`)."""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path


def _delete(folders: list[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


_PRUNES: list[threading.Thread] = []  # background deletes of old checkpoints (save_checkpoint's finish)
_UNPRUNED: list[Path] = []  # old checkpoints set aside whose delete could not start in the background


def prune_in_background(doomed: list[Path]) -> None:
    """Deletes the set-aside folders in a thread. A thread that cannot start ("can't start new thread", under a
    pids limit) used to fail the save: "writing the step N checkpoint ... failed ... the partial write was removed"
    for a checkpoint that was complete and kept, exit 2. The save stands: they are left set aside, said, and
    deleted by the next save (`_leftovers`) or the run's end (`wait_for_prunes`), not here: a delete inline could
    outlast the other ranks' wait in their next collective."""
    thread = threading.Thread(target=_delete, args=(doomed,), name="axk1-checkpoint-prune", daemon=True)
    try:
        thread.start()
    except RuntimeError as e:
        _UNPRUNED.extend(doomed)
        print(f"warning: the checkpoint saved, but its old checkpoints could not be deleted in the background "
              f"({e}): {', '.join(str(p) for p in doomed)} left to delete; the next save or the run's end deletes "
              "them (or delete them yourself)", file=sys.stderr, flush=True)
        return
    _PRUNES.append(thread)


def wait_for_prunes() -> None:
    """Waits for the old checkpoints being deleted in the background, and deletes those whose thread could not
    start: at a run's end, so that its folder is tidy when it returns (a process killed first leaves them to the
    next save's `_leftovers`)."""
    while _PRUNES:
        _PRUNES.pop().join()
    _delete(_UNPRUNED)
    _UNPRUNED.clear()
