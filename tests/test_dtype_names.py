"""Dtype names are read by one parser (axk1.config.parse_dtype over DTYPES): every `--dtype` flag offers the same
names, config.json's transformers spelling ("torch.bfloat16") means the same dtype to every reader (the loader and
the RL rollout replica's memory account), and the training precision, a mode with its own names, says so."""

import argparse
import json

import pytest
import torch

import axk1
from axk1 import AXK1ForCausalLM, ModelConfig
from axk1.cli import build_parser
from axk1.config import DTYPES


def _dtype_flags(parser: argparse.ArgumentParser, path=()):
    """(command path, --dtype action) for every parser under `parser`."""
    for action in parser._actions:
        if "--dtype" in action.option_strings:
            yield " ".join(path), action
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _dtype_flags(sub, (*path, name))


def test_every_dtype_flag_offers_the_dtype_table():
    """`axk1 export --dtype` offered float32 and bfloat16 only, `axk1 eval` a list of its own."""
    flags = dict(_dtype_flags(build_parser()))
    assert {"generate", "serve", "eval", "export"} <= set(flags)
    assert {cmd: sorted(a.choices) for cmd, a in flags.items()} == {cmd: sorted(DTYPES) for cmd in flags}


def test_parse_dtype_reads_the_names_and_transformers_spelling_and_names_the_setting():
    from axk1.config import parse_dtype

    assert parse_dtype("bfloat16") is parse_dtype("torch.bfloat16") is torch.bfloat16
    assert parse_dtype("float16", "[rl] push_dtype") is torch.float16
    for bad in ("bf16", "int8", "torch.int8", 2, None):
        with pytest.raises(ValueError, match=r"^x\.y .* is not a dtype axk1 takes: use float32, bfloat16, float16$"):
            parse_dtype(bad, "x.y")
    with pytest.raises(ValueError, match="push_dtype 'float16' is not a dtype axk1 takes: use float32, bfloat16$"):
        parse_dtype("float16", "[rl] push_dtype", choices=("float32", "bfloat16"))


@pytest.mark.parametrize("spelling", ["bfloat16", "torch.bfloat16", "float32", None])
def test_the_rollout_replica_is_the_bytes_the_loader_loads(spelling, tmp_path):
    """config.json "dtype": "torch.bfloat16" loaded as bfloat16, but the RL replica was counted at 4 bytes a weight
    (A.X K1: 2,076 GB instead of 1,038 GB), which decides whether a launch without a rollout server is refused."""
    from axk1.posttrain.rl_memory import replica_bytes

    folder = axk1.save_pretrained(AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny")), tmp_path / "m")
    raw = json.loads((folder / "config.json").read_text())
    raw.pop("dtype", None)
    if spelling:
        raw["dtype"] = spelling
    (folder / "config.json").write_text(json.dumps(raw))
    model = axk1.load_model(folder)
    loaded = sum(p.numel() * p.element_size() for p in model.parameters())
    assert replica_bytes(model.config) == loaded
    assert model.lm_head.weight.dtype == DTYPES[(spelling or "float32").removeprefix("torch.")]


def test_the_519b_replica_in_transformers_spelling_is_its_bf16_size():
    from axk1.posttrain.rl_memory import replica_bytes

    sizes = {name: replica_bytes(ModelConfig.from_dict({**ModelConfig.from_preset("axk1-519b").to_dict(),
                                                        "dtype": name})) / 1e9
             for name in ("bfloat16", "torch.bfloat16", "float32")}
    assert sizes["torch.bfloat16"] == sizes["bfloat16"] == pytest.approx(1038, abs=1) == sizes["float32"] / 2


@pytest.mark.parametrize("precision, said", [("bfloat16", 'did you mean "bf16"?'), ("float32", 'did you mean "fp32"?'),
                                             ("half", "not a dtype name)")])
def test_the_training_precision_is_a_mode_and_its_error_lists_only_what_runs(precision, said, tmp_path):
    """`precision = "bfloat16"` was answered 'use "fp32", "bf16" or "fp8"', though "fp8" is refused as not
    implemented."""
    from axk1.train.recipe import load_recipe
    from tests.train_helpers import write_recipe

    path = write_recipe(tmp_path, sections={"parallelism": f'precision = "{precision}"'})
    with pytest.raises(ValueError) as e:
        load_recipe(path)
    assert 'use "fp32" or "bf16"' in str(e.value) and said in str(e.value) and "fp8" not in str(e.value)
