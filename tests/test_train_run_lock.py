"""The output folder's lock: a second `axk1 train` on a folder in use (its --out, or a checkpoints folder two runs
share) is refused with the holder named, and a dead run's lock is taken over, with or without lockf."""

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from axk1.checkpoint.dcp import list_steps
from axk1.checkpoint.run_lock import LOCK_FILE, FolderInUse
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.train_helpers import lock_held_elsewhere, write_recipe


def test_a_second_run_on_a_folder_in_use_is_refused_and_a_dead_runs_lock_is_taken_over(tmp_path):
    """Two `axk1 train` on one --out used to interleave silently (the second truncating the first's metrics and
    pruning its checkpoints). The folder's lock names the live holder; a SIGKILLed holder's lock file is no
    obstacle."""
    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 2"))
    out = Path(recipe.run.out_dir)
    with lock_held_elsewhere(out) as holder:
        with pytest.raises(FolderInUse, match=rf"^{re.escape(str(out))} is in use by another training run \(process "
                                              rf"{holder.pid} on .* holds {re.escape(str(out / LOCK_FILE))}\).*another --out folder$"):
            Trainer(recipe, resume=True)
    assert (out / LOCK_FILE).read_text().split()[0] == str(holder.pid)  # the killed run's lock file stays ...
    Trainer(recipe).fit()  # ... and is taken over
    assert (out / LOCK_FILE).read_text().split()[0] == str(os.getpid()) and list_steps(recipe.checkpointing.dir) == [2]


def test_a_checkpoints_folder_outside_the_output_folder_is_locked_too(tmp_path):
    """Two runs with their own --out but one absolute [checkpointing] dir would prune each other's checkpoints."""
    shared = tmp_path / "shared-checkpoints"
    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 2"), ["--checkpointing.dir", str(shared)])
    with lock_held_elsewhere(shared):
        with pytest.raises(FolderInUse, match=rf"^{re.escape(str(shared))} is in use by another training run .*"
                                              r"give this run another \[checkpointing\] dir folder$"):
            Trainer(recipe)


def test_on_a_file_system_without_locks_the_pid_in_the_lock_file_decides(tmp_path, monkeypatch):
    """Where lockf is not supported (ENOLCK), a live process named in the lock file on this host holds the folder,
    and a dead one's lock file is taken over."""
    import socket

    from axk1.checkpoint import run_lock

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(run_lock.fcntl, "lockf", no_locks)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK_FILE).write_text(f"{live.pid} {socket.gethostname()}\n")
        with pytest.raises(FolderInUse, match=rf"process {live.pid} on "):
            run_lock.RunLock(tmp_path)
    finally:
        live.kill()
        live.wait()
    run_lock.RunLock(tmp_path)  # the holder is gone
    assert (tmp_path / LOCK_FILE).read_text().split()[0] == str(os.getpid())


def test_a_rank_that_never_sees_the_first_ranks_lock_says_what_it_waits_for_then_fails(tmp_path, monkeypatch,
                                                                                        capsys):
    """A run folder on each node's own disk never shows the other ranks the first one's lock file: they waited 5
    minutes without a word, then carried on, each node writing its own unlocked folder. They now say what they wait
    for after a few seconds (here shortened) and fail at the limit, naming the shared file system it needs."""
    from axk1.checkpoint import run_lock

    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "launch-1")
    monkeypatch.setattr(run_lock, "WAIT_SAID_AFTER_S", 0.0)
    (tmp_path / LOCK_FILE).write_text("123 node-a another-launch@host:1/0\n")  # an earlier launch's, on this node
    with pytest.raises(run_lock.LockNotSeen, match=rf"^rank 1 waited 1 s for the launch's first rank to lock "
                                                   rf"{re.escape(str(tmp_path))} .* must be on a file system every "
                                                   "node of the launch sees"):
        run_lock.wait_for_launch_lock(tmp_path, seconds=1, rank=1)
    said = capsys.readouterr().err
    assert said.startswith(f"rank 1: waiting for the launch's first rank to lock {tmp_path} ") and \
        "every node of the launch sees" in said, said


def test_a_run_refused_before_it_trains_leaves_no_folder_it_made(tmp_path):
    """A refused `axk1 train --out X` (a model that does not fit) left X holding its lock file and an empty
    checkpoints folder, though the refusal comes before anything is built. Now what the run made is removed: a new
    X is gone, a folder that was there already stays with what it held, less the lock file this run put in it."""
    too_big = ["--model.overrides", "{ num_hidden_layers = 200000 }"]
    path = write_recipe(tmp_path)
    fresh = load_recipe(path, too_big, out_dir=str(tmp_path / "new" / "X"))
    with pytest.raises(ValueError, match="weights alone take"):
        Trainer(fresh)
    assert not (tmp_path / "new").exists()

    there = tmp_path / "there"
    (there / "notes").mkdir(parents=True)
    (there / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="weights alone take"):
        Trainer(load_recipe(path, too_big, out_dir=str(there)))
    assert sorted(p.relative_to(there).as_posix() for p in there.rglob("*")) == ["notes", "notes/keep.txt"]
