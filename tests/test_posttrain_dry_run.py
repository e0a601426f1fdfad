"""`axk1 sft RECIPE --dry-run --world-size N`: an SFT recipe checked for a launch of N ranks as `axk1 train` checks a
pretraining recipe (mesh, the step's rows over the data-parallel ranks, memory per GPU from the trainer's account),
and the 519B SFT recipe passes for its 1,024 GPUs against a folder laid out as the release is."""

import json

import pytest

from axk1.cli import main
from axk1.config import ModelConfig

RECIPE = "recipes/posttrain/axk1-519b-sft.toml"


@pytest.fixture
def release(tmp_path):
    """A folder as the released A.X K1's is laid out (config.json, tokenizer.json, safetensors), and chat data."""
    folder = tmp_path / "A.X-K1"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(ModelConfig.from_preset("axk1-519b").to_dict()))
    (folder / "tokenizer.json").write_text("{}")  # the dry run reads no token: it checks the file is there
    (folder / "model-00001-of-00001.safetensors").write_bytes(b"")  # names and shapes are read when it loads
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"model.embed_tokens.weight": "model-00001-of-00001.safetensors"}}))
    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "1+1?"},
                                             {"role": "assistant", "content": "<think>1+1=2</think>2"}]}) + "\n")
    return ["--model.init_from", str(folder), "--sft.data", json.dumps([str(data)])]


def test_the_519b_sft_recipe_passes_for_its_1024_gpus(release, capsys):
    assert main(["sft", RECIPE, "--dry-run", "--world-size", "1024", *release]) == 0
    out = capsys.readouterr().out
    assert "ok: the recipe passes" in out and "dp_shard 512" in out
    row = next(line for line in out.splitlines() if line.startswith("sft "))
    assert row.split()[1:5] == ["32768", "1,024", "1", "1"]  # seq_len, rows a step, per rank, micro-batches
    assert float(row.split()[-1]) < 141 * 0.92


def test_an_sft_launch_that_cannot_run_is_refused_with_each_reason(release, capsys):
    """Rows that do not divide over the ranks, a world the mesh does not make, and 64K rows over the GPU's memory
    without recompute: every problem listed at once, exit 1, nothing built."""
    code = main(["sft", RECIPE, "--dry-run", "--world-size", "512", *release, "--batch.global_sequences", "1000",
                 "--parallelism.activation_checkpointing", "none", "--sft.seq_len", "65536"])
    out = capsys.readouterr().out
    assert code == 1
    assert "the job has 512 ranks" in out
    assert "1,000 sequences per step do not divide over 512 data-parallel ranks" in out
    assert "at seq_len 65536" in out and "OVER" in out and "activation_checkpointing" in out


def test_a_template_folder_without_a_tokenizer_is_named_when_the_recipe_is_read(release, tmp_path, capsys):
    (tmp_path / "A.X-K1" / "tokenizer.json").unlink()
    assert main(["sft", RECIPE, "--dry-run", "--world-size", "1024", *release]) != 0
    err = capsys.readouterr().err
    assert "has no tokenizer.json" in err and "template_from" in err and "Traceback" not in err


def test_launch_flags_without_dry_run_are_refused(release, capsys):
    assert main(["sft", RECIPE, "--world-size", "1024", *release]) != 0
    assert "add --dry-run" in capsys.readouterr().err
