"""Hostile training checkpoints and the output folders of `axk1 export` and merge: a checkpoint's pickled metadata
is never run, damaged or changed bytes are one clear error, nothing half-written is left, an earlier model in the
output folder is replaced entirely (what an export does not write is kept, a conversion of the old weights refused),
and real checkpoints still export and resume. The model folders themselves: test_model_folder_hostile.py, whose
helpers and `folder` fixture this file uses."""

import json
import os
import pickle
import shutil

import pytest
import torch

import axk1
from axk1 import AXK1ForCausalLM
from axk1.checkpoint.dcp import load_checkpoint
from axk1.checkpoint.export import export_checkpoint
from axk1.checkpoint.merge import merge_folders
from axk1.cli import main
from tests import model_folder_helpers
from tests.model_folder_helpers import cli_error, tiny_model_config
from tests.train_helpers import one_step_checkpoint

folder = model_folder_helpers.folder  # the fixture (a saved tiny model with its MTP layers), shared rather than copied


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A trained-for-one-step DCP checkpoint, as the trainer writes it (the loss module holds the LM as `lm`)."""
    return one_step_checkpoint(tmp_path_factory.mktemp("ckpt"), tiny_model_config(), with_mtp=True)


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _without_checksums(ckpt):
    """`ckpt` as written before checksums were saved (or by a forger who rewrote train_state.json too): the export
    reads it with no CRC-32 check first, so the guards behind that check are what meets its damage."""
    state = json.loads((ckpt / "train_state.json").read_text())
    (ckpt / "train_state.json").write_text(json.dumps({k: v for k, v in state.items() if k != "crc32"}))
    return ckpt


# ---- 1: DCP metadata is never unpickled with plain pickle -------------------------------------------------------

class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_hostile_dcp_metadata_is_refused_without_running(checkpoint, tmp_path, capsys):
    evil = _copy(checkpoint, tmp_path / "evil" / "step-000001")
    marker = tmp_path / "pwned"
    (evil / ".metadata").write_bytes(pickle.dumps(_Payload(marker)))
    assert "CRC-32" in cli_error(["export", str(evil), str(tmp_path / "out")], capsys)  # its checksum, first
    err = cli_error(["export", str(_without_checksums(evil)), str(tmp_path / "out")], capsys)
    assert ".metadata refers to posix.system" in err and "refusing to unpickle" in err
    assert not marker.exists() and not (tmp_path / "out").exists()
    holder = torch.nn.Module()
    holder.lm = AXK1ForCausalLM(tiny_model_config(), with_mtp=True)
    with pytest.raises(ValueError, match="refusing to unpickle"):  # --resume's path (with an optimizer)
        load_checkpoint(evil, holder, torch.optim.AdamW(holder.parameters()))
    assert not marker.exists()


def test_real_checkpoint_exports_and_resumes(checkpoint, tmp_path):
    out = export_checkpoint(checkpoint, tmp_path / "out", keep_mtp=True)
    loaded = axk1.load_model(out)
    holder = torch.nn.Module()
    holder.lm = AXK1ForCausalLM(tiny_model_config(), with_mtp=True)
    state = load_checkpoint(checkpoint, holder, torch.optim.AdamW(holder.parameters()))
    assert state["mtp_depth"] == 1
    torch.testing.assert_close(loaded.model.embed_tokens.weight, holder.lm.model.embed_tokens.weight)


@pytest.mark.parametrize("damage", ["truncate distcp", "delete distcp", "truncate metadata", "no model_config",
                                    "storage path escapes"])
def test_corrupt_checkpoint_is_a_one_line_error(damage, checkpoint, tmp_path, capsys):
    ckpt = _without_checksums(_copy(checkpoint, tmp_path / "c" / "step-000001"))  # the checks behind the CRC-32s
    distcp, metadata = ckpt / "__0_0.distcp", ckpt / ".metadata"
    if damage == "truncate distcp":
        distcp.write_bytes(distcp.read_bytes()[:1000])
    elif damage == "delete distcp":
        distcp.unlink()
    elif damage == "truncate metadata":
        metadata.write_bytes(metadata.read_bytes()[:500])
    elif damage == "no model_config":
        (ckpt / "train_state.json").write_text(json.dumps({"step": 1}))
    else:  # an entry pointing outside the folder: read relative to it, torch would follow it
        md = pickle.loads(metadata.read_bytes())
        next(iter(md.storage_data.values())).relative_path = "../../secret.distcp"
        metadata.write_bytes(pickle.dumps(md))
    err = cli_error(["export", str(ckpt), str(tmp_path / "out")], capsys)
    assert "corrupt or incomplete checkpoint" in err
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_checkpoint_whose_bytes_changed_in_place(checkpoint, tmp_path, capsys):
    """Four bytes of the embedding overwritten in place (same size, so every other check passes): `--resume` refused
    it by the CRC-32s the save recorded, while `axk1 export` wrote a model holding a NaN, exit 0. It checks them
    too, before it reads a tensor, and names the file."""
    from axk1.checkpoint.dcp_safe import read_metadata

    ckpt = _copy(checkpoint, tmp_path / "c" / "step-000001")
    item = next(v for k, v in read_metadata(ckpt).storage_data.items() if "embed_tokens" in k.fqn)
    with open(ckpt / item.relative_path, "r+b") as f:
        f.seek(item.offset + item.length // 2)
        f.write(b"\xff\xff\xff\x7f")  # a NaN in float32
    err = cli_error(["export", str(ckpt), str(tmp_path / "out")], capsys)
    assert (f"{ckpt / item.relative_path}: corrupt or incomplete checkpoint (CRC-32 " in err
            and "its bytes changed after the save" in err)
    assert not (tmp_path / "out").exists()


# ---- 7, 9: output folders -----------------------------------------------------------------------------------------

def test_export_replaces_an_earlier_model_entirely(checkpoint, folder):
    for stale in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "pytorch_model.bin"):
        (folder / stale).write_text("from another model")
    export_checkpoint(checkpoint, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]


def test_a_re_export_keeps_the_model_card_and_sampling_defaults_it_does_not_write(checkpoint, folder, capsys):
    """A hand-written README.md and generation_config.json were deleted with the earlier weights, silently: an export
    writes neither (without a tokenizer folder holding one), so they are carried over, and a note says so."""
    (folder / "README.md").write_text("# my model card\n")
    (folder / "generation_config.json").write_text('{"temperature": 0.6}\n')
    assert main(["export", str(checkpoint), str(folder), "--max-shard-size", "40KB"]) == 0
    assert (folder / "README.md").read_text() == "# my model card\n"
    assert json.loads((folder / "generation_config.json").read_text()) == {"temperature": 0.6}
    err = capsys.readouterr().err
    assert f"note: kept README.md and generation_config.json of the model that was in {folder}" in err
    assert main(["generate", str(folder), "--prompt", "1 2", "--max-new-tokens", "1"]) == 0  # and it loads


def test_a_re_export_refuses_a_folder_holding_a_gguf_of_the_old_weights(checkpoint, folder, capsys):
    """A GGUF conversion of the earlier weights was deleted unasked; kept, it would describe another model."""
    (folder / "model-Q4_K_M.gguf").write_bytes(b"GGUF")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    err = cli_error(["export", str(checkpoint), str(folder)], capsys)
    assert f"the output folder {folder} holds model-Q4_K_M.gguf, a conversion of the model there" in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_export_refuses_a_folder_that_is_not_a_model_folder(checkpoint, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds notes.txt, which is not part of a model folder"):
        export_checkpoint(checkpoint, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_run_folder_given_as_a_model_names_where_the_model_is(checkpoint, folder, tmp_path, capsys):
    """`axk1 generate out/train` (a pretraining run) or `axk1 serve out/posttrain/rl` (an sft/rl run, whose model is
    in model/): the error says what to give instead, and following it works."""
    run = tmp_path / "train"
    _copy(checkpoint, run / "checkpoints" / checkpoint.name)
    err = cli_error(["generate", str(run), "--prompt", "1 2"], capsys)
    assert f"holds training checkpoints, not a model: export them first (`axk1 export {run / 'checkpoints'} DIR" in err
    err = cli_error(["export", str(run), str(tmp_path / "model")], capsys)  # the run, not its checkpoints
    assert f"its checkpoints are in {run / 'checkpoints'}: give that" in err
    assert "does not exist" in cli_error(["export", str(run / "checkpoint"), str(tmp_path / "model")], capsys)
    assert main(["export", str(run / "checkpoints"), str(tmp_path / "model")]) == 0
    assert main(["generate", str(tmp_path / "model"), "--prompt", "1 2", "--max-new-tokens", "2"]) == 0
    capsys.readouterr()
    rl = tmp_path / "rl"
    _copy(folder, rl / "model")
    err = cli_error(["serve", str(rl)], capsys)
    assert f"is a run folder: its model is {rl / 'model'}" in err


def test_merge_replaces_an_earlier_model_entirely(folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "tokenizer.json").write_text("from another model")
    merge_folders(folder, folder.parent / "m", out, 0.5, progress=False)
    assert not (out / "tokenizer.json").exists()


def test_bad_tokenizer_is_refused_before_export_writes(checkpoint, tmp_path):
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_text("not json")
    with pytest.raises(ValueError, match="is not a readable tokenizer"):
        export_checkpoint(checkpoint, tmp_path / "out", tokenizer=tmp_path / "tok")
    assert not (tmp_path / "out").exists()


def test_weight_files_get_the_umask_permissions(folder, tmp_path):
    previous = os.umask(0o022)
    try:
        out = axk1.save_pretrained(AXK1ForCausalLM(tiny_model_config(), with_mtp=True), tmp_path / "p",
                                   max_shard_size="64KB")
        merged = tmp_path / "merged"
        merge_folders(out, out, merged, 0.5, progress=False)
    finally:
        os.umask(previous)
    for file in [*out.glob("*.safetensors"), *merged.glob("*.safetensors")]:
        assert file.stat().st_mode & 0o777 == 0o644, file
