"""The output folder's lock: a second `axk1 train` on a folder in use (its --out, or its checkpoints folder, inside
another run's --out or not) is refused with the holder named, and a dead run's lock is taken over, with or without
lockf."""

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
from tests.train_helpers import lock_held_elsewhere, try_lock_from_another_process, write_recipe


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
                                              r"give this run another checkpoints folder \(\[checkpointing\] dir\)$"):
            Trainer(recipe)


def test_a_run_given_another_runs_checkpoints_folder_inside_its_output_folder_is_refused(tmp_path):
    """Run A's checkpoints in its own --out (the usual OUT/checkpoints) were not locked apart from OUT, so run B with
    another --out and `--checkpointing.dir OUT/checkpoints --resume` resumed from A's newest step while A trained,
    and the two wrote and pruned one checkpoints folder until a save crashed. A live run now holds its checkpoints
    folder too: B is refused at once, naming the holder, and leaves nothing it made (its new --out included, though
    it locks that first where its path sorts first)."""
    held = tmp_path / "held"
    path = write_recipe(tmp_path, extra="max_steps = 2")
    with lock_held_elsewhere(held, held / "checkpoints") as holder:
        for name in ("later", "fresh"):  # B's --out sorts after A's checkpoints folder, then before it
            recipe = load_recipe(path, ["--checkpointing.dir", str(held / "checkpoints")], out_dir=str(tmp_path / name))
            with pytest.raises(FolderInUse, match=rf"^{re.escape(str(held / 'checkpoints'))} is in use by another "
                                                  rf"training run \(process {holder.pid} on .* give this run another "
                                                  r"checkpoints folder \(\[checkpointing\] dir\)$"):
                Trainer(recipe, resume=True)
            assert not (tmp_path / name).exists()


def test_a_runs_locks_are_one_per_folder_however_it_is_named(tmp_path):
    """A checkpoints folder that is the output folder, or a symlink to it, is one folder: one lock (two lockf locks
    of one process on one file are one lock, which giving up either would drop). A checkpoints folder inside the
    output folder is locked in its own right."""
    from axk1.checkpoint.run_lock import run_locks

    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "link").symlink_to(out)
    for ckpts in (out, tmp_path / "link"):
        locks = run_locks(out, ckpts, 0)
        assert [lock.path for lock in locks] == [out / LOCK_FILE]
        assert "is in use" in try_lock_from_another_process(out)
        for lock in locks:
            lock.release()
    locks = run_locks(out, out / "checkpoints", 0)
    assert [lock.path for lock in locks] == [out / LOCK_FILE, out / "checkpoints" / LOCK_FILE]
    assert "is in use" in try_lock_from_another_process(out / "checkpoints")


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


def test_a_disk_already_full_at_start_is_named_and_the_run_leaves_nothing_it_made(tmp_path, monkeypatch, capsys):
    """A full disk failed the lock file's write with a bare "[Errno 28] No space left on device" and left the
    new folder holding an empty lock file. Now the error names the folder and what to do, and nothing made stays:
    a new --out is gone, a folder that was there gets no lock file."""
    from axk1.cli import main

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    path = write_recipe(tmp_path)
    monkeypatch.setattr(os, "pwrite", full)
    out = tmp_path / "new" / "X"
    assert main(["train", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"axk1 train: error: the run cannot write its lock file in {out} (No space left on device): the "
                   f"disk holding {out} is full (or the quota there is used up): free space on it, or give this run a "
                   "--out folder on another disk\n"), err
    assert not (tmp_path / "new").exists()

    there = tmp_path / "there"
    there.mkdir()
    with pytest.raises(OSError, match=f"cannot write its lock file in {re.escape(str(there))} "):
        Trainer(load_recipe(path, out_dir=str(there)))
    assert list(there.iterdir()) == []

    # full by the second lock file (its checkpoints folder's): the first, taken, is removed with its new folder too
    written = []
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: full(fd, data, offset) if written else
                        written.append(data) or len(data))
    with pytest.raises(OSError, match=f"cannot write its lock file in {re.escape(str(out / 'checkpoints'))} "):
        Trainer(load_recipe(path, out_dir=str(out)))
    assert len(written) == 1 and not (tmp_path / "new").exists()

    # full before the lock file can even be made (no inode left): said as a full disk too, the new folder removed
    monkeypatch.undo()
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a: full(0, b"", 0) if str(path).endswith(LOCK_FILE) else
                        real_open(path, *a))
    with pytest.raises(OSError, match=f"cannot write to {re.escape(str(out))} .*: the disk holding .* is full"):
        Trainer(load_recipe(path, out_dir=str(out)))
    assert not (tmp_path / "new").exists()


def test_a_lock_that_cannot_write_its_file_removes_the_file_while_it_still_holds_it(tmp_path, monkeypatch):
    """The lock was given up first and its file unlinked after: a run that took the lock in between lost its
    lock file, and a third run could then take the folder beside it."""
    from axk1.checkpoint.run_lock import RunLock

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    released_with_file = []
    real_release = RunLock.release

    def release(self):
        if self._fd is not None:
            released_with_file.append(self.path.exists())
        real_release(self)

    monkeypatch.setattr(os, "pwrite", full)
    monkeypatch.setattr(RunLock, "release", release)
    with pytest.raises(OSError, match="cannot write its lock file"):
        RunLock(tmp_path / "X")
    assert released_with_file == [False] and not (tmp_path / "X").exists()


def test_a_run_that_fails_under_its_lock_takes_back_what_the_lock_made(tmp_path):
    """A `with` block left by an error (`axk1 export` refused after its lock was taken) left the folders the lock
    made and its file; a folder that was there keeps what it held, and a lock file that was there stays."""
    from axk1.checkpoint.run_lock import RunLock

    with pytest.raises(ValueError, match="refused"):
        with RunLock(tmp_path / "new" / "deeper", file="m", kind="folder"):
            raise ValueError("refused")
    (tmp_path / "there").mkdir()
    (tmp_path / "there" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="refused"):
        with RunLock(tmp_path / "there"):
            raise ValueError("refused")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["there", "there/keep.txt"]
    with RunLock(tmp_path / "there"):  # one that ends well keeps its file (deleting it would race a new run)
        pass
    with pytest.raises(ValueError, match="refused"):
        with RunLock(tmp_path / "there"):  # not made by this one: left
            raise ValueError("refused")
    assert (tmp_path / "there" / LOCK_FILE).is_file()


def test_a_lock_file_removed_between_its_open_and_its_lock_is_not_the_one_held(tmp_path, monkeypatch):
    """A failed run removes the lock file it made while still holding it; a second run that opened that file just
    before locked it just after, on a file no longer in the folder, and a third run could then take the folder.
    Now the second sees its file is gone and locks the one at the path."""
    from axk1.checkpoint.run_lock import RunLock

    (tmp_path / LOCK_FILE).write_text("")
    real_open = os.open
    opened = []

    def open_then_removed(path, *args):
        fd = real_open(path, *args)
        if str(path).endswith(LOCK_FILE) and not opened:
            opened.append(path)
            os.unlink(path)  # the other run, failing, takes its lock file back
        return fd

    monkeypatch.setattr(os, "open", open_then_removed)
    lock = RunLock(tmp_path)
    monkeypatch.undo()
    # (read after: closing any file of the lock file's in this process would drop its lockf lock)
    assert try_lock_from_another_process(tmp_path).startswith(f"{tmp_path} is in use by another training run")
    lock.release()
    assert opened and (tmp_path / LOCK_FILE).read_text().split()[0] == str(os.getpid())
