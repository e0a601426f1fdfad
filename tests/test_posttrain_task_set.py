"""`axk1 posttrain tasks` writes train.jsonl, heldout.jsonl and decontamination.json as one set: a failure or a stop
while they are written leaves the earlier run's three files or the new run's three, never some of each; and a rerun
into a folder holding another run's tasks drawn with other options is refused without --force."""

import errno
import json
import os
import signal

import pytest

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
        build_task_files(out, n_train=20, n_heldout=6, seed=0, **SMALL)
    assert _files(out) == before and sorted(p.name for p in out.iterdir()) == sorted(NAMES)
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
        build_task_files(out, n_train=20, n_heldout=6, seed=0, **SMALL)
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
    assert main(base + ["--train", "14"]) == 0  # the same options: the same draw, written again
    assert main(base + ["--seed", "3", "--force"]) == 0
    assert json.loads((out / "decontamination.json").read_text())["options"]["seed"] == 3 and _one_set(out)
    capsys.readouterr()
    (out / "decontamination.json").unlink()  # task files whose options nothing says
    assert main(base + ["--seed", "3"]) == 2
    assert "whose options cannot be read" in capsys.readouterr().err
