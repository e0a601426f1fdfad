"""`axk1 posttrain tasks` writes train.jsonl, heldout.jsonl and decontamination.json as one set: a failure or a stop
while they are written leaves the earlier run's three files or the new run's three, never some of each; and a rerun
into a folder holding another run's tasks drawn with other options is refused without --force."""

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import axk1.posttrain.tasks as tasks_module
from axk1 import atomic_file
from axk1.cli import main
from axk1.posttrain.tasks import build_task_files

SMALL = dict(levels=(1,), kinds=("math",))
NAMES = ("train.jsonl", "heldout.jsonl", "decontamination.json")


def _files(out):
    return {name: (out / name).read_bytes() for name in NAMES}


def _one_set(out):
    """Whether the three files are one run's: the report's counts are the files' rows."""
    report = json.loads((out / "decontamination.json").read_text(encoding="utf-8"))
    rows = {name: len((out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines())
            for name in ("train", "heldout")}
    return rows == {"train": report["train"], "heldout": report["heldout"]}


def test_a_full_disk_while_the_set_is_written_leaves_the_earlier_set(tmp_path, monkeypatch):
    """train.jsonl was replaced before heldout.jsonl was written: a failure on the second left the new train tasks
    beside the earlier run's held-out ones, which may hold the same problems."""
    out = tmp_path / "tasks"
    build_task_files(out, n_train=12, n_heldout=4, seed=0, **SMALL)
    before = _files(out)
    real_replace = os.replace

    def disk_full_on_heldout(src, dst):
        if str(dst).endswith("heldout.jsonl"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(atomic_file.os, "replace", disk_full_on_heldout)
    with pytest.raises(OSError, match="No space left on device") as e:
        build_task_files(out, n_train=20, n_heldout=6, seed=0, force=True, **SMALL)  # another run's counts
    assert _files(out) == before and sorted(p.name for p in out.iterdir()) == sorted([*NAMES, ".axk1-run.lock"])
    assert f"cannot write the tasks into {out}" in str(e.value) and "unchanged" in str(e.value)


def test_a_stop_while_the_set_is_renamed_into_place_leaves_one_runs_set(tmp_path, monkeypatch):
    """Ctrl-C (or SIGTERM) after train.jsonl was replaced ended the run there: the new train tasks beside the earlier
    held-out tasks and report. The stop now waits for the set's last rename."""
    out = tmp_path / "tasks"
    build_task_files(out, n_train=12, n_heldout=4, seed=0, **SMALL)
    real_replace = os.replace

    def ctrl_c_after_train(src, dst):
        real_replace(src, dst)
        if str(dst) == str(out / "train.jsonl"):
            signal.raise_signal(signal.SIGINT)  # as a user's Ctrl-C at that moment: Python's KeyboardInterrupt

    monkeypatch.setattr(os, "replace", ctrl_c_after_train)
    with pytest.raises(KeyboardInterrupt):
        build_task_files(out, n_train=20, n_heldout=6, seed=0, force=True, **SMALL)  # another run's counts
    assert _one_set(out) and json.loads((out / "decontamination.json").read_text())["train"] == 20


def test_another_runs_tasks_drawn_with_other_options_are_not_replaced_without_force(tmp_path, capsys):
    """A rerun into the folder with another --seed (or levels, kinds ...) replaced the tasks an SFT or RL run was
    reading, silently. Refused now, naming what differs; the same options write again; --force replaces."""
    out = tmp_path / "tasks"
    base = ["posttrain", "tasks", "-o", str(out), "--train", "12", "--heldout", "4", "--kinds", "math", "--levels", "1"]
    assert main(base) == 0
    before = _files(out)
    capsys.readouterr()
    assert main(base + ["--seed", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{out} holds the task files of another run" in err and "seed 0 (now 3)" in err
    assert err.endswith("give another -o, or --force to replace them") and _files(out) == before
    assert main(base) == 0  # the same options: the same draw, written again
    assert main(base + ["--seed", "3", "--force"]) == 0
    assert json.loads((out / "decontamination.json").read_text())["options"]["seed"] == 3 and _one_set(out)
    capsys.readouterr()
    (out / "decontamination.json").unlink()  # task files whose options nothing says
    assert main(base + ["--seed", "3"]) == 2
    assert "whose options cannot be read" in capsys.readouterr().err


def test_other_counts_or_decontamination_sets_are_another_runs_tasks(tmp_path, capsys):
    """`--train 20 --heldout 5`, then `--train 40 --heldout 10` into one -o replaced train.jsonl silently (exit 0):
    the counts and the decontamination sets were not among the options compared. Each is now, an AIME file by its
    content (the same file edited in place decontaminates differently)."""
    out, aime = tmp_path / "tasks", tmp_path / "aime.jsonl"
    aime.write_text(json.dumps({"problem": "Find the number of pairs of integers (x, y) with x + y = 7."}) + "\n")
    base = ["posttrain", "tasks", "-o", str(out), "--kinds", "math", "--levels", "1", "--train", "20", "--heldout", "5"]
    assert main(base) == 0
    before = _files(out)
    capsys.readouterr()
    assert main([*base[:-4], "--train", "40", "--heldout", "10"]) == 2
    err = capsys.readouterr().err
    assert "heldout 5 (now 10), " in err and "train 20 (now 40)" in err and _files(out) == before
    assert main(base + ["--aime-en", str(aime)]) == 2
    err = capsys.readouterr().err
    assert "decontamination aime25 'not used' (now '1 texts, sha256 " in err and _files(out) == before
    assert main(base + ["--aime-en", str(aime), "--force"]) == 0
    assert main(base + ["--aime-en", str(aime)]) == 0  # the same options and file: the same tasks again
    capsys.readouterr()
    aime.write_text(json.dumps({"problem": "How many positive divisors does 2025 have?"}) + "\n")
    assert main(base + ["--aime-en", str(aime)]) == 2
    err = capsys.readouterr().err
    assert "decontamination aime25 '1 texts, sha256 " in err and "--force to replace them" in err
    assert _one_set(out) and json.loads((out / "decontamination.json").read_text())["options"]["train"] == 20


def test_a_second_run_into_the_folder_is_refused_while_the_first_writes(tmp_path, monkeypatch):
    """Two runs into one -o shared OUT/.tasks-staging: the second discarded the first's staged files (which then
    failed, or renamed the second's files beside its own). The first now holds OUT's run lock from its look at
    the folder to its last rename; a second run meanwhile is refused in one line and changes nothing."""
    out = tmp_path / "tasks"
    args = ["posttrain", "tasks", "-o", str(out), "--train", "12", "--heldout", "4", "--kinds", "math", "--levels", "1"]
    real_write, second = tasks_module.write_text_atomic, {}

    def second_run_while_staging(path, text):
        # the first run's train and held-out files are staged: a second run of the same command starts now
        second["run"] = subprocess.run([sys.executable, "-m", "axk1", *args], capture_output=True, text=True,
                                       cwd=Path(__file__).parent.parent)
        real_write(path, text)

    monkeypatch.setattr(tasks_module, "write_text_atomic", second_run_while_staging)
    build_task_files(out, n_train=12, n_heldout=4, seed=0, **SMALL)
    err = second["run"].stderr.strip()
    assert second["run"].returncode == 2 and "\n" not in err, err
    assert f"{out} is in use by another task generation (axk1 posttrain tasks) (process {os.getpid()} on " in err
    assert err.endswith("give this run another -o folder") and _one_set(out)
    assert sorted(p.name for p in out.iterdir()) == sorted([*NAMES, ".axk1-run.lock"])


def test_an_output_path_that_is_a_file_is_named_as_one(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    for out in (afile, afile / "sub"):
        assert main(["posttrain", "tasks", "-o", str(out), "--train", "4", "--heldout", "2", "--kinds", "math"]) == 2
        assert f"-o {out}: cannot write there: {'it' if out == afile else afile} is a file, not a folder" in \
            capsys.readouterr().err
    assert afile.read_text() == "mine"


def test_a_failed_run_into_a_new_folder_leaves_no_folder(tmp_path, monkeypatch):
    """tasks_lock made OUT and its parents (writable_folder) before its run lock, which took back only what it made
    itself: a run that failed left tnew/a/b behind, empty."""
    def full(path, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(tasks_module, "write_text_atomic", full)
    with pytest.raises(OSError, match="No space left on device"):
        build_task_files(tmp_path / "tnew" / "a" / "b", n_train=12, n_heldout=4, seed=0, **SMALL)
    assert list(tmp_path.iterdir()) == []
