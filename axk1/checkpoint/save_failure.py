"""What a checkpoint write that fails becomes: one clear error, and no half-written folder left behind.

A write fails on a cluster for reasons outside the run: the file system is full or over quota, a mount went away.
DCP reports it as a CheckpointException (a BaseException, holding each rank's failure) and torch's zip writer
often hides the errno under a RuntimeError ("unexpected pos 704 vs 598"), so the command line printed a
traceback, and the temp folder stayed, holding the space that the next try needed. Here the temp folder is
removed and the error names the checkpoint folder; a full disk is recognised by its errno anywhere in the
failure, or else by the free space left being smaller than the checkpoint, and a file-size limit (`ulimit -f`, a
per-file quota) by EFBIG, or else by the zip writer's short write under a finite RLIMIT_FSIZE.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch.distributed.checkpoint.api import CheckpointException

from axk1.file_size_limit import RAISE_IT, file_size_limit
from axk1.output_folder import DISK_FULL
from axk1.parallel.failure_chain import causes, lost_peer, peer_timed_out


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the message says where, why and what to do. An OSError, so the command
    line prints it as an error (exit 2), not a traceback."""


def state_bytes(obj: object) -> int:
    """Bytes of the tensors in a (nested) state dict as the whole checkpoint stores them, on any rank without
    communication: a DTensor at its global size (its shards on every rank, replicas written once), a plain tensor
    once (every rank holds the same one; DCP writes one copy). It was this rank's share, so a full disk on a launch
    was said to need half (2 ranks) of what the checkpoint took, and a rank that measured the free space after the
    partial write was removed saw room enough and did not say the disk was full."""
    if isinstance(obj, torch.Tensor):  # (a DTensor's numel is its global one)
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(state_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(state_bytes(v) for v in obj)
    return 0


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


@contextmanager
def write_guard(root: Path, tmp: Path, step: int, need: int, is_main: bool,
                newest: Callable[[], int | None], keep_latest: int) -> Iterator[None]:
    """Runs a checkpoint write of `need` bytes (the whole checkpoint's); on failure removes the temp folder (main
    rank) and raises CheckpointWriteError, which names the newest complete checkpoint (`newest()`: its step, or
    None) to go on from, and on a full disk the room `keep_latest` checkpoints and the one being written take.
    An interrupt (Ctrl-C, also as one rank's failure inside DCP's exception) is let through as it is, and so is a
    collective's error that lost a peer rank or timed out waiting for one (the command line then says the launch
    lost a rank, or that one hangs, not that the folder is unwritable: axk1/parallel/failure_chain.py)."""
    try:
        yield
    except BaseException as e:
        free = _free_bytes(tmp if tmp.exists() else root)  # measured before the partial write is removed
        if is_main:
            shutil.rmtree(tmp, ignore_errors=True)
        # a folder that turned read-only mid-run keeps it (empty or not): said so, not "removed"
        left = tmp if is_main and tmp.exists() else None
        chain = list(causes(e))
        if any(isinstance(c, (KeyboardInterrupt, SystemExit)) for c in chain) or not isinstance(
                e, (Exception, CheckpointException)):
            raise
        lost = lost_peer(e) or peer_timed_out(e)
        if lost is not None:  # another rank failed, was killed or hangs mid-save: its failure, not this folder's
            raise lost
        raise _error(root, step, need, free, chain, newest(), keep_latest, left) from e


def _error(root: Path, step: int, need: int, free: int | None, causes: list[BaseException],
           newest: int | None, keep_latest: int, left: Path | None = None) -> CheckpointWriteError:
    full = next((DISK_FULL[c.errno] for c in causes if isinstance(c, OSError) and c.errno in DISK_FULL), None)
    if full is None and free is not None and free < need:
        full = DISK_FULL[errno.ENOSPC]
    what = f"writing the step {step} checkpoint to {root} failed"
    # (a partial write left behind is never read, and the run's next save deletes it: dcp._leftovers)
    removed = (f"the partial write {left} could not be removed (it is never read as a checkpoint; a later save in "
               "this folder deletes it)" if left else "the partial write was removed")
    kept = f"; {removed}, " + (f"the newest complete checkpoint is step {newest}" if newest is not None
                                                  else "and no checkpoint of this run is complete yet")
    again = "run the same command with --resume" if newest is not None else "start the run again"
    limit = None if full else file_size_limit(causes)
    if limit:
        return CheckpointWriteError(f"file too large: {what}: a checkpoint file reached the file-size limit ({limit}, "
                                    f"or a per-file quota of the file system){kept}. {RAISE_IT}, then {again}")
    if full:
        # the older checkpoints are pruned only once the new one is complete: keep_latest + 1 at the peak
        space = "" if free is None else (
            f" ({free / 2**20:.1f} MiB free there, the checkpoint needs about {need / 2**20:.1f} MiB; with "
            f"keep_latest = {keep_latest} the folder holds up to {keep_latest + 1} checkpoints, about "
            f"{(keep_latest + 1) * need / 2**20:.1f} MiB, while the newest is written)")
        return CheckpointWriteError(f"{full}: {what}{space}{kept}. Free space there (or point --out / [checkpointing] "
                                    f"dir at a larger disk), then {again}")
    last = next((c for c in causes if not isinstance(c, CheckpointException)), causes[0])
    line = (f"{type(last).__name__}: {last}".splitlines() or [type(last).__name__])[0]
    return CheckpointWriteError(f"{what}: {line}{kept}. Check that the folder is writable and its file system is "
                                f"mounted, then {again}")
