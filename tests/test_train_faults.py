"""Faults of a cluster during training, injected into tiny CPU runs: the trainer killed in the middle of a checkpoint
save, SIGTERM, a full disk, a file-size limit and metrics (damaged checkpoint folders: test_checkpoint_damage.py; a
second run on the same output folder: test_train_run_lock.py)."""

import errno
import os
import re
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

from axk1.checkpoint.dcp import list_steps, step_dir
from axk1.checkpoint.dcp_safe import read_metadata
from axk1.checkpoint.run_lock import LOCK_FILE
from axk1.checkpoint.save_failure import CheckpointWriteError
from axk1.json_text import read_metrics_rows
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.train_helpers import tear_metrics_row_at, write_recipe
from tests.warm_ranks import run_code

REPO = Path(__file__).resolve().parents[1]

# Runs `axk1 train ARGS...` with one fault injected at a point of the checkpoint save of step STEP (or SIGTERM
# sent to itself during step STEP): the kill is real (SIGKILL), only its moment is chosen.
DRIVER = textwrap.dedent("""
    import os, shutil, signal, sys
    from pathlib import Path
    import torch.distributed.checkpoint as dcp
    point, step, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    tmp_name = f".step-{step:06d}.tmp"

    from tests.train_helpers import kill_half_written as half_written, sigterm_during_step

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "writing":
        real_save, real_async = dcp.save, dcp.async_save
        def save(state, checkpoint_id, **kw):
            real_save(state, checkpoint_id=checkpoint_id, **kw)
            if checkpoint_id.endswith(tmp_name):
                half_written(checkpoint_id)
        def async_save(state, checkpoint_id, **kw):
            future = real_async(state, checkpoint_id=checkpoint_id, **kw)
            if checkpoint_id.endswith(tmp_name):
                future.result()
                half_written(checkpoint_id)
            return future
        dcp.save, dcp.async_save = save, async_save
    elif point == "renaming":
        real_replace = os.replace
        def replace(src, dst, *a, **kw):
            if Path(src).name == tmp_name:
                die()
            return real_replace(src, dst, *a, **kw)
        os.replace = replace
    elif point == "pruning":
        real_rmtree = shutil.rmtree
        def rmtree(path, *a, **kw):
            p = Path(path)
            if p.is_dir() and p.name != tmp_name and "step-" in p.name:  # a checkpoint being deleted
                for f in p.glob("*.distcp"):
                    f.unlink()
                die()
            return real_rmtree(path, *a, **kw)
        shutil.rmtree = rmtree
    elif point == "sigterm":
        sigterm_during_step(step)
    from axk1.cli import main
    sys.exit(main(["train", *args]))
""")


def _cli(point: str, step: int, *args: str) -> subprocess.CompletedProcess:
    """DRIVER in a process of its own, forked from a warm server (tests/warm_ranks.py: torch imported once)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return run_code(DRIVER, [point, str(step), *map(str, args)], env, timeout=120)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The losses of an uninterrupted 6-step run."""
    folder = tmp_path_factory.mktemp("ref")
    Trainer(load_recipe(write_recipe(folder, extra="max_steps = 6"))).fit()
    return [r["loss"] for r in read_metrics_rows(folder / "run" / "metrics.jsonl")]


def _complete_steps_have_their_files(ckpts: Path) -> None:
    for s in list_steps(ckpts):
        read_metadata(step_dir(ckpts, s))  # raises on a missing or truncated tensor file


@pytest.mark.parametrize("point, async_save, resumed_from", [
    ("writing", False, 2), ("writing", True, 2), ("renaming", False, 2), ("pruning", False, 4)])
def test_a_kill_in_the_middle_of_a_save_resumes_from_the_last_complete_checkpoint(tmp_path, capsys, reference, point,
                                                                                    async_save, resumed_from):
    """SIGKILL while step 4's checkpoint is written, before its rename, or while step 2's is pruned after it:
    --resume says which step it starts from, never reads the broken folder and ends with the uninterrupted
    run's losses; what the kill left behind is removed by the next save."""
    recipe = write_recipe(tmp_path, sections={"checkpointing": f"async = {str(async_save).lower()}"})
    ckpts = tmp_path / "run" / "checkpoints"
    keep = ["--checkpointing.keep_latest", "1"] if point == "pruning" else []
    killed = _cli(point, 4, recipe, "--max-steps", 6, *keep)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    _complete_steps_have_their_files(ckpts)
    Trainer(load_recipe(recipe, ["--run.max_steps", "6", *keep]), resume=True).fit()
    assert f"resuming from {step_dir(ckpts, resumed_from)} (step {resumed_from} of 6)" in capsys.readouterr().out
    assert [r["loss"] for r in read_metrics_rows(tmp_path / "run" / "metrics.jsonl")] == reference  # bitwise
    # no temp folder outlives the run (the run's lock file stays, as a killed run's does)
    assert not [p.name for p in ckpts.iterdir() if p.name.startswith(".") and p.name != LOCK_FILE]


def test_sigterm_stops_after_the_step_with_a_checkpoint_and_says_how_to_resume(tmp_path, reference):
    """What Slurm sends before it kills a job: the run used to die at once, silently, losing the steps since the
    last interval checkpoint. Now it finishes the step, writes its checkpoint and exits 143 saying --resume."""
    recipe = write_recipe(tmp_path)
    ckpts = tmp_path / "run" / "checkpoints"
    stopped = _cli("sigterm", 3, recipe, "--max-steps", 6)
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-2000:]
    assert f"stopped by SIGTERM at step 3 of 6 with a checkpoint in {ckpts}: run the same command with --resume" \
        in stopped.stderr
    assert list_steps(ckpts) == [2, 3]
    Trainer(load_recipe(recipe, ["--run.max_steps", "6"]), resume=True).fit()
    assert [r["loss"] for r in read_metrics_rows(tmp_path / "run" / "metrics.jsonl")] == reference


def _fail_the_save_of(monkeypatch, step: int, error: BaseException, free: int | None = None) -> None:
    """The checkpoint write of `step` fails as a full disk makes it fail: part of the files written, then `error`."""
    import shutil as real_shutil

    import torch.distributed.checkpoint as dcp

    real_save, real_async = dcp.save, dcp.async_save

    def partial(checkpoint_id):
        if checkpoint_id.endswith(f".step-{step:06d}.tmp"):
            (Path(checkpoint_id) / "__0_0.distcp").write_bytes(b"\0" * 1000)
            raise error

    def save(state, checkpoint_id, **kw):
        partial(checkpoint_id)
        return real_save(state, checkpoint_id=checkpoint_id, **kw)

    def async_save(state, checkpoint_id, **kw):
        from concurrent.futures import Future

        future = Future()
        try:
            partial(checkpoint_id)
        except BaseException as e:  # as the background thread reports it: through the future
            future.set_exception(e)
            return future
        return real_async(state, checkpoint_id=checkpoint_id, **kw)

    monkeypatch.setattr(dcp, "save", save)
    monkeypatch.setattr(dcp, "async_save", async_save)
    if free is not None:
        usage = real_shutil.disk_usage("/")
        monkeypatch.setattr("axk1.checkpoint.save_failure.shutil.disk_usage",
                            lambda p: usage._replace(free=free))


def _checkpoint_exception(cause: BaseException):
    from torch.distributed.checkpoint.api import CheckpointException

    return CheckpointException("write", {0: (cause, None)})


@pytest.mark.parametrize("async_save", [False, True], ids=["sync", "async"])
def test_a_full_disk_fails_the_save_with_a_clear_error_and_no_partial_checkpoint(tmp_path, monkeypatch, async_save):
    """ENOSPC inside DCP's write came out as a CheckpointException traceback and left the temp folder, filling
    the disk further; the error now names the folder and the last complete step, and the temp folder is gone."""
    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 6",
                                      sections={"checkpointing": f"async = {str(async_save).lower()}"}))
    ckpts = Path(recipe.checkpointing.dir)
    _fail_the_save_of(monkeypatch, 4, _checkpoint_exception(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(CheckpointWriteError, match=rf"^no space left on device: writing the step 4 checkpoint to "
                                                   rf"{re.escape(str(ckpts))} failed.*the newest complete checkpoint is step 2\b.*"
                                                   r"then run the same command with --resume$"):
        Trainer(recipe).fit()
    assert list_steps(ckpts) == [2] and not list(ckpts.glob(".step-*"))
    monkeypatch.undo()
    assert Trainer(recipe, resume=True).state.step == 2


def test_a_full_disk_hidden_behind_torchs_zip_writer_is_still_named(tmp_path, monkeypatch):
    """torch's zip writer reports a full disk as "unexpected pos 704 vs 598" (no errno): the free space left,
    smaller than the checkpoint, tells it apart; another failure is reported as itself."""
    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 2"))
    zip_error = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
    _fail_the_save_of(monkeypatch, 2, _checkpoint_exception(zip_error), free=4096)
    with pytest.raises(CheckpointWriteError, match=r"^no space left on device: .*\(0\.0 MiB free there, the "
                                                   r"checkpoint needs about \d+\.\d MiB; with keep_latest = 2 the "
                                                   r"folder holds up to 3 checkpoints.*\).*no checkpoint of this run "
                                                   r"is complete yet.*start the run again$"):
        Trainer(recipe).fit()
    _fail_the_save_of(monkeypatch, 2, _checkpoint_exception(zip_error), free=10**12)
    with pytest.raises(CheckpointWriteError, match=r"failed: RuntimeError: \[enforce fail.*folder is writable"):
        Trainer(recipe).fit()
    ckpts = Path(recipe.checkpointing.dir)
    assert not ckpts.exists() or {p.name for p in ckpts.iterdir()} <= {LOCK_FILE}  # its lock, nothing half-written


FILE_SIZE_LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
from axk1.cli import main
sys.exit(main(["train", *sys.argv[2:]]))
"""


def test_a_file_size_limit_during_a_save_is_named(tmp_path, monkeypatch):
    """Under `ulimit -f` (RLIMIT_FSIZE) a checkpoint write fails with EFBIG, which torch's zip writer reports as
    "unexpected pos 704 vs 598": the error said to check that the folder is writable and mounted. A real limit, set
    in the child (forked from the warm server, tests/warm_ranks.py) before `axk1 train` starts."""
    recipe = write_recipe(tmp_path, extra="max_steps = 2")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1")
    limit = 3_000_000  # the tiny model's checkpoint holds a file larger than this; its metrics rows do not
    done = run_code(FILE_SIZE_LIMITED, [str(limit), str(recipe)], env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert re.search(r"^axk1 train: error: file too large: writing the step 2 checkpoint to .* failed: a checkpoint "
                     r"file reached the file-size limit \(ulimit -f: 3,000,000 bytes a file, or a per-file quota of "
                     r"the file system\); the partial write was removed.*`ulimit -f unlimited`.*then start the run "
                     r"again$", done.stderr, re.M), done.stderr
    assert "unexpected pos" not in done.stderr and "writable" not in done.stderr
    # a file system's own per-file limit, with no ulimit set: the errno (EFBIG) says it
    api = load_recipe(write_recipe(tmp_path / "quota", extra="max_steps = 2"))
    _fail_the_save_of(monkeypatch, 2, _checkpoint_exception(OSError(errno.EFBIG, "File too large")))
    monkeypatch.setattr("axk1.file_size_limit.resource.getrlimit", lambda which: (-1, -1))  # RLIM_INFINITY
    with pytest.raises(CheckpointWriteError, match=r"^file too large: .*the file-size limit \(ulimit -f, or a "
                                                   r"per-file quota of the file system\)"):
        Trainer(api).fit()


def test_a_full_disk_under_the_metrics_names_the_file_and_resume_repairs_the_torn_row(tmp_path, monkeypatch):
    """A metrics row cut short (a full disk, or a kill in the middle of the append) made every later --resume fail
    on the JSONL file ("Unterminated string ..."), and the write error itself named no file."""
    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 6"))
    jsonl = Path(recipe.logging.jsonl)
    tear_metrics_row_at(monkeypatch, 5)
    with pytest.raises(OSError, match=rf"^No space left on device: writing metrics to {re.escape(str(jsonl))} failed at step 5\. "
                                      r"Free space there.*--resume \(the newest complete checkpoint is step 4"):
        Trainer(recipe).fit()
    monkeypatch.undo()
    Trainer(recipe, resume=True).fit()
    assert [r["step"] for r in read_metrics_rows(jsonl)] == [1, 2, 3, 4, 5, 6]
    # a run folder deleted under the run is said as that, not as a full disk
    from axk1.train.callbacks import _metrics_failed
    from types import SimpleNamespace
    trainer = SimpleNamespace(ckpt_dir=Path(recipe.checkpointing.dir), state=SimpleNamespace(step=7))
    gone = _metrics_failed(trainer, str(jsonl), FileNotFoundError(2, "No such file or directory"))
    assert "folder was removed while it ran" in str(gone) and "Free space" not in str(gone)


def test_a_checkpoints_folder_that_cannot_be_written_is_refused_at_the_start(tmp_path):
    """It used to fail at the first save, an interval of training later. (A read-only mount, checked by hand as
    root with `mount --bind -o ro`, is refused the same way: "Read-only file system".)"""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 2"),
                         ["--checkpointing.dir", str(blocker / "checkpoints")])
    with pytest.raises(PermissionError, match=rf"the run cannot write to {re.escape(str(blocker))}/checkpoints \(Not a "
                                              r"directory\): give this run another checkpoints folder \(\[checkpointing\] dir\), "
                                              "one you can write to"):
        Trainer(recipe)
    assert not (tmp_path / "run").exists()  # a refused run leaves no folder it made
    inside = load_recipe(write_recipe(tmp_path, extra="max_steps = 2"), ["--checkpointing.dir", "blocker/checkpoints"])
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "blocker").write_text("")
    blocker = re.escape(str(tmp_path / "run" / "blocker"))
    with pytest.raises(PermissionError, match=rf"the run cannot write to {blocker}/checkpoints \(Not a directory\): "
                                              rf".*, or move away the file {blocker} that stands in its path"):
        Trainer(inside)


def test_a_checkpoints_folder_where_no_file_can_be_made_is_refused_whatever_os_access_says():
    """The check was os.access on the nearest folder that exists, which says yes to root for any folder it may
    enter (and to anyone on a read-only mount): /proc took a run that would have failed at its first save."""
    from axk1.checkpoint.dcp import claim_checkpoint_dir

    with pytest.raises(PermissionError, match=r"the checkpoints folder \(\[checkpointing\] dir\) "
                                              r"/proc/axk1-checkpoints-test: cannot write there"):
        claim_checkpoint_dir("/proc/axk1-checkpoints-test", resume=False)
    assert not Path("/proc/axk1-checkpoints-test").exists()


def test_ctrl_c_finishes_the_background_save_in_flight(tmp_path):
    """Ctrl-C while an async checkpoint was being written left it a temp folder: the steps since the previous one
    were lost although their state had been copied. The write in flight is now finished before the interrupt ends
    the run (one process)."""
    from axk1.train.callbacks import Callback

    recipe = load_recipe(write_recipe(tmp_path, sections={"checkpointing": "async = true"}))
    trainer = Trainer(recipe)

    class CtrlC(Callback):
        def on_step_end(self, trainer, row):
            if trainer.state.step == 3:
                raise KeyboardInterrupt

    trainer.callbacks.append(CtrlC())
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert list_steps(recipe.checkpointing.dir) == [2]
    assert Trainer(recipe, resume=True).state.step == 2


def test_plots_that_cannot_be_written_do_not_fail_a_finished_run(tmp_path, monkeypatch, capsys):
    """A full disk when the end-of-run PNGs are drawn made a complete run exit with an error, as if it had failed."""
    def full(rows, out_dir):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("axk1.train.callbacks.plot_run", full)
    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 2"))
    assert len(Trainer(recipe).fit()) == 2
    assert f"the plots were not written to {tmp_path / 'run'} (No space left on device); the run is complete" \
        in capsys.readouterr().out
    assert list_steps(recipe.checkpointing.dir) == [2]


def test_old_checkpoints_are_deleted_in_the_background_after_the_save(tmp_path, monkeypatch):
    """Pruning renames the old steps out of the listing at once and deletes them after the save's last barrier, in
    a thread: a 6.3 TB delete on a parallel file system could outlast the other ranks' wait in that barrier (NCCL:
    10 minutes), and training need not wait for it. A run's end waits for the deletes."""
    import threading

    import torch

    from axk1.checkpoint import dcp, prune

    gate, started = threading.Event(), threading.Event()
    delete = prune._delete

    def slow(folders):  # a file system that takes its time
        started.set()
        gate.wait(30)
        delete(folders)

    monkeypatch.setattr(prune, "_delete", slow)
    model = torch.nn.Linear(4, 4)
    optimizer = torch.optim.AdamW(model.parameters())
    for step in (1, 2, 3):
        dcp.save_checkpoint(tmp_path, step, model, optimizer, {"step": step}, keep_latest=1)
    assert started.wait(30)  # deleting, and the saves went on meanwhile
    assert list_steps(tmp_path) == [3]  # the old steps left the listing at once
    assert any(p.name.startswith(".step-aside-") for p in tmp_path.iterdir())
    gate.set()
    prune.wait_for_prunes()
    assert [p.name for p in tmp_path.iterdir()] == ["step-000003"]


def test_a_prune_thread_that_cannot_start_does_not_fail_a_complete_save(tmp_path, monkeypatch, capsys):
    """Under a pids limit ("can't start new thread") the save of a complete, kept step-N was reported as "writing
    the step N checkpoint ... failed ... the partial write was removed", and the run stopped (exit 2)."""
    import threading

    import torch

    from axk1.checkpoint import dcp, prune

    start = threading.Thread.start

    def no_prune_thread(self):
        if self.name == "axk1-checkpoint-prune":
            raise RuntimeError("can't start new thread")
        return start(self)

    monkeypatch.setattr(threading.Thread, "start", no_prune_thread)
    model = torch.nn.Linear(4, 4)
    optimizer = torch.optim.AdamW(model.parameters())
    for step in (1, 2):
        assert dcp.save_checkpoint(tmp_path, step, model, optimizer, {"step": step}, keep_latest=1) \
            == tmp_path / f"step-00000{step}"
    assert list_steps(tmp_path) == [2]
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".step-aside-")]
    err = capsys.readouterr().err
    assert len(left) == 1 and "could not be deleted in the background (can't start new thread)" in err \
        and f"{left[0]} left to delete" in err
    dcp.save_checkpoint(tmp_path, 3, model, optimizer, {"step": 3}, keep_latest=1)  # the next save sweeps it up
    assert not left[0].exists() and list_steps(tmp_path) == [3]
    prune.wait_for_prunes()  # the run's end deletes what could not be deleted in the background
    assert [p.name for p in tmp_path.iterdir()] == ["step-000003"]


def test_a_resume_with_nothing_to_resume_leaves_no_checkpoints_folder_behind(tmp_path, capsys):
    """The writability check made the checkpoints folder before the resume was refused ("no complete checkpoint"),
    so a refused --resume left an empty run/checkpoints behind."""
    from axk1.cli import main

    recipe = write_recipe(tmp_path)
    assert main(["train", str(recipe), "--resume"]) == 2
    assert "--resume: no complete checkpoint under" in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoints").exists()
