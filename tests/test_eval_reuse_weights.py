"""`axk1 eval` run again into its folder reuses the completions it kept only for the same weights: they were keyed by
the model folder's path, so a folder whose weights were replaced (post-training re-exports to the same `model/`)
had the earlier model's completions reused and scored as the new one's."""

import json
import shutil

import pytest
import torch

import axk1
from axk1.checkpoint.fingerprint import weights_fingerprint
from axk1.cli import main
from tests.aime_rows import write_aime
from tests.serve_helpers import make_model_folder


def test_the_fingerprint_follows_the_weights_not_the_path(tmp_path):
    folder = make_model_folder(tmp_path / "model")
    first = weights_fingerprint(folder)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    assert weights_fingerprint(copy) == first  # the same weights elsewhere: the same model
    model = axk1.load_model(folder)
    with torch.no_grad():  # one tensor changed, as training changes one: through all its values
        model.model.layers[0].self_attn.o_proj.weight.mul_(1.001)
    axk1.save_pretrained(model, folder)
    assert weights_fingerprint(folder) != first


def test_a_rerun_after_the_weights_changed_samples_afresh(tmp_path, capsys):
    data = write_aime(tmp_path / "aime")["en"]
    folder = tmp_path / "model"
    make_model_folder(folder)
    out = tmp_path / "run"
    args = ["eval", "--model", str(folder), "--tasks", "aime25", "--aime-data", str(data), "--limit", "2",
            "-n", "1", "--max-tokens", "4", "-o", str(out)]
    assert main(args) == 0
    assert main(args) == 0  # the same weights: every completion reused
    assert json.loads((out / "config.json").read_text())["reused_completions"] == 2
    model = axk1.load_model(folder)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    axk1.save_pretrained(model, folder)  # a re-export into the same folder
    assert main(args) == 0
    assert json.loads((out / "config.json").read_text())["reused_completions"] == 0


def test_a_hostile_or_stray_weight_file_is_hashed_by_its_header_never_followed(tmp_path):
    """Offsets the loader would refuse (negative, reversed, past the file, not integers) crashed the fingerprint or
    read the rest of the file once a tensor; a stray file beside the weights was parsed as one."""
    import struct

    folder = make_model_folder(tmp_path / "model")
    first = weights_fingerprint(folder)
    for offsets in ([-5, 10], [10, 9], [0, 10**30], ["a", "b"], [0.5, 2], [0, 1, 2]):
        header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": offsets}}).encode()
        (folder / "stray.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 64)
        changed = weights_fingerprint(folder)  # no error; the stray file counts by name and size
        assert changed != first
    (folder / "stray.safetensors").unlink()
    assert weights_fingerprint(folder) == first
    seen = set()
    for offsets in ([-5, 10], [10, 9], [0, 10**30], ["a", "b"], [0.5, 2], [0, 1, 2], [0, 64]):
        header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": offsets}}).encode()
        (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\1" * 64)
        seen.add(weights_fingerprint(folder))  # the file the loader reads, hostile: hashed, no error, no big read
    assert len(seen) == 7


@pytest.mark.parametrize("prefix", ["", "hf:"])
def test_a_rerun_in_another_dtype_samples_afresh_and_records_it(tmp_path, prefix):
    """The kept completions of a --dtype float32 run were reused by a --dtype bfloat16 one: the dtype was neither in
    their key nor anywhere in config.json."""
    data = write_aime(tmp_path / "aime")["en"]
    folder = make_model_folder(tmp_path / "model")
    out = tmp_path / "run"
    args = ["eval", "--model", f"{prefix}{folder}", "--tasks", "aime25", "--aime-data", str(data), "--limit", "2",
            "--max-tokens", "4", "--device", "cpu", "-o", str(out)]
    for dtype, reused in (("float32", 0), ("bfloat16", 0), ("bfloat16", 2)):
        assert main([*args, "--dtype", dtype]) == 0
        config = json.loads((out / "config.json").read_text())
        assert config["backend"]["dtype"] == dtype and config["reused_completions"] == reused
