"""Exporting from a checkpoints folder that a training run prunes (keep_latest): the step being read can be deleted
mid-read. That was reported as "corrupt or incomplete checkpoint ... re-save it" of a step that was sound; it is
named as removed, and where the user gave the checkpoints folder the export goes on with the step now newest."""

import shutil

import pytest
import torch

import axk1
import axk1.checkpoint.export as export_module
from axk1 import AXK1ForCausalLM, ModelConfig
from axk1.checkpoint.dcp import save_checkpoint, step_dir
from axk1.checkpoint.mtp_order import EMBEDDING_FIRST, MTP_ORDER
from axk1.cli import main


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A checkpoints folder holding steps 1 and 2 of one tiny model (the files a run writes)."""
    root = tmp_path_factory.mktemp("run") / "checkpoints"
    config = ModelConfig.from_preset("axk1-tiny")
    holder = torch.nn.Module()
    holder.lm = AXK1ForCausalLM(config, with_mtp=False)
    optimizer = torch.optim.AdamW(holder.parameters())
    holder.lm(torch.tensor([[1, 2, 3]])).float().sum().backward()
    optimizer.step()
    for step in (1, 2):
        save_checkpoint(root, step, holder, optimizer, {"model_config": config.to_dict(), "mtp_depth": 0,
                                                        MTP_ORDER: EMBEDDING_FIRST})
    return root


@pytest.fixture
def run(saved, tmp_path):
    root = tmp_path / "checkpoints"
    shutil.copytree(saved, root)
    return root


def _pruned_after_first_read(monkeypatch, doomed):
    """The export's first tensor read succeeds; then the run deletes `doomed`, as keep_latest does mid-export."""
    real, reads = export_module.load_tensors, []

    def read(path, tensors, reader=None):
        reads.append(path)
        if len(reads) == 2:
            shutil.rmtree(doomed)
        real(path, tensors, reader)

    monkeypatch.setattr(export_module, "load_tensors", read)
    return reads


def test_a_step_pruned_mid_export_of_the_folder_exports_the_newest_step_left(run, tmp_path, monkeypatch, capsys):
    reads = _pruned_after_first_read(monkeypatch, step_dir(run, 2))
    out = tmp_path / "model"
    assert main(["export", str(run), str(out), "--max-shard-size", "40KB"]) == 0
    captured = capsys.readouterr()
    assert f"{step_dir(run, 2)} was removed while reading: a run is pruning this folder" in captured.err
    assert "corrupt" not in captured.err
    assert f"exported {step_dir(run, 1)} to {out}" in captured.out
    assert {p.parent for p in reads} == {run} and step_dir(run, 1) in reads
    axk1.load_model(out)  # whole, from the step that is still there


def test_a_named_step_pruned_mid_export_is_named_as_removed_not_corrupt(run, tmp_path, monkeypatch, capsys):
    _pruned_after_first_read(monkeypatch, step_dir(run, 2))
    out = tmp_path / "model"
    assert main(["export", str(step_dir(run, 2)), str(out), "--max-shard-size", "40KB"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert (f"{step_dir(run, 2)} was removed while reading: a run is pruning this folder; export a step it keeps, "
            "or rerun") in err
    assert "corrupt" not in err and not out.exists()


def test_damage_in_a_step_that_is_still_there_is_still_corrupt(run, tmp_path, capsys):
    """Only a step that is gone reads as removed: a damaged one is named as damaged, and not retried."""
    for f in step_dir(run, 2).glob("*.distcp"):
        f.write_bytes(f.read_bytes()[:100])
    assert main(["export", str(run), str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err
    assert "corrupt or incomplete checkpoint" in err and "removed while reading" not in err
