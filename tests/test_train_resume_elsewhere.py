"""A run resumed from a checkpoints folder it cannot write (a read-only mount): the refusal says how to go on
elsewhere, and doing so works, with a word on the metrics file the new --out starts."""

import errno
import os
import re
import shutil

import pytest

from axk1.checkpoint import run_lock
from axk1.checkpoint.dcp import list_steps, step_dir
from axk1.json_text import read_metrics_rows
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.train_helpers import write_recipe


def test_a_read_only_checkpoints_folder_on_resume_says_to_copy_its_newest_step_and_that_works(tmp_path, monkeypatch,
                                                                                             capsys):
    """"give this run another checkpoints folder" alone sent the reader to `--resume` on an empty folder, which
    refused: "no complete checkpoint". The refusal now names the step folder to copy there, and a resume from the
    copy goes on from its step."""
    path = write_recipe(tmp_path)
    Trainer(load_recipe(path, ["--run.max_steps", "2"])).fit()
    old = tmp_path / "run" / "checkpoints"
    assert list_steps(old) == [2]
    real_open = os.open

    def read_only(name, flags, *args):  # a read-only mount (root writes through chmod: the mount is what says no)
        if os.fspath(name).startswith(str(old) + os.sep) and flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", os.fspath(name))
        return real_open(name, flags, *args)

    monkeypatch.setattr(run_lock.os, "open", read_only)
    with pytest.raises(PermissionError, match=rf"cannot write to {re.escape(str(old))} \(Read-only file system\): give "
                                              r"this run another checkpoints folder .*; to resume this run there, copy "
                                              rf"its newest checkpoint {re.escape(str(step_dir(old, 2)))} into that "
                                              "folder"):
        Trainer(load_recipe(path), resume=True)
    monkeypatch.undo()
    new = tmp_path / "elsewhere" / "checkpoints"
    shutil.copytree(step_dir(old, 2), new / step_dir(old, 2).name)  # what the message says to do
    capsys.readouterr()
    Trainer(load_recipe(path, ["--run.out_dir", str(tmp_path / "elsewhere"), "--checkpointing.dir", str(new),
                               "--run.max_steps", "4"]), resume=True).fit()
    assert list_steps(new)[-1] == 4
    rows = read_metrics_rows(tmp_path / "elsewhere" / "metrics.jsonl")
    assert [r["step"] for r in rows if "loss" in r] == [3, 4]  # went on from the copy, not started over
    err = capsys.readouterr().err
    assert "note: metrics.jsonl starts at step 3: the steps before are in the run that wrote the checkpoint" in err


def test_a_resume_in_its_own_output_folder_says_nothing_about_where_the_metrics_start(tmp_path, capsys):
    path = write_recipe(tmp_path)
    Trainer(load_recipe(path, ["--run.max_steps", "2"])).fit()
    capsys.readouterr()
    Trainer(load_recipe(path, ["--run.max_steps", "4"]), resume=True).fit()
    assert "metrics.jsonl starts at" not in capsys.readouterr().err
