"""What `axk1 sft` and `axk1 rl` recipes refuse that a pretraining recipe takes (axk1/posttrain/recipe_rules.py):
a moving routing bias (post-training routes with its base model's, and exports it), and the pretraining tables they
never read."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from axk1.checkpoint.dcp import latest_step, load_tensors, step_dir
from axk1.checkpoint.hf import load_model
from axk1.posttrain.rl_recipe import parse_rl_recipe
from axk1.posttrain.sft import parse_sft_recipe, run_sft
from tests.serve_helpers import make_model_folder
from tests.posttrain_helpers import minimal_rl_recipe, minimal_sft_recipe

BIAS = "e_score_correction_bias"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("rules") / "base")


def test_sft_trains_with_the_routing_the_export_serves(folder, tmp_path):
    """SFT moved the balancing bias (the pretraining default, 1e-3) while the export writes it as 0: the exported
    model routed differently from the one trained (its loss on the training set 0.43 against 0.38). Now a recipe
    that says nothing about [moe] trains with the bias where the export leaves it."""
    recipe = parse_sft_recipe(minimal_sft_recipe(tmp_path, folder), tmp_path)
    assert recipe.moe.bias_update_rate == 0.0
    result = run_sft(recipe)
    ckpt = step_dir(result["checkpoints"], latest_step(result["checkpoints"]))
    wanted = {f"lm.{k}": torch.full_like(v, float("nan")) for k, v in load_model(folder).state_dict().items()
              if k.endswith(BIAS)}
    assert wanted
    load_tensors(ckpt, wanted)
    assert all(torch.equal(t, torch.zeros_like(t)) for t in wanted.values())
    exported = load_model(result["model_dir"]).state_dict()
    assert all(torch.equal(exported[k.removeprefix("lm.")], t) for k, t in wanted.items())


def test_sft_from_a_model_with_a_routing_bias_exports_the_model_it_trained(tmp_path):
    """A base whose routers carry a non-zero balancing bias (saved by transformers, as any DeepSeek-style or
    transformers-trained model is) was trained with that bias by `axk1 sft`, then exported with the bias as zeros,
    as pretraining exports it: the model written was not the one trained (logits off by ~5 after a step of lr
    1e-30). Now the export writes the bias the run routed with, so a step that changes nothing gives back the base."""
    from tests.hf_reference import hf_config, random_hf_model
    from axk1.text.tokenizer_file import write_tokenizer_files
    from tests.serve_helpers import train_tokenizer

    base = tmp_path / "base"
    random_hf_model(hf_config(vocab_size=512, pad_token_id=0), bias=True, seed=3).save_pretrained(base)
    write_tokenizer_files(base, train_tokenizer(512).to_str(), model_max_length=256)
    before = load_model(base, dtype=torch.float32)
    assert any(t.abs().max() > 0.1 for k, t in before.state_dict().items() if k.endswith(BIAS))
    raw = minimal_sft_recipe(tmp_path, base)
    raw["optimizer"] = {"lr": 1e-30, "weight_decay": 0.0}
    result = run_sft(parse_sft_recipe(raw, tmp_path))
    after = load_model(result["model_dir"], dtype=torch.float32)
    ids = torch.randint(3, 512, (2, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(after(ids), before(ids), rtol=0, atol=1e-5)
    # an export of the checkpoint by hand (`axk1 export`) writes it too: the checkpoint records it
    from axk1.checkpoint.export import export_checkpoint

    again = load_model(export_checkpoint(result["checkpoints"], tmp_path / "again"), dtype=torch.float32)
    assert all(torch.equal(again.state_dict()[k], t) for k, t in before.state_dict().items() if k.endswith(BIAS))


@pytest.mark.parametrize("parse, raw", [(parse_sft_recipe, minimal_sft_recipe), (parse_rl_recipe, minimal_rl_recipe)])
def test_a_moving_routing_bias_is_refused(folder, tmp_path, parse, raw):
    recipe = raw(tmp_path, folder)
    recipe["moe"] = {"bias_update_rate": 1e-3}
    with pytest.raises(ValueError, match=r"bias_update_rate = 0.001: `axk1 (sft|rl)` would move the routers' "
                                         r"balancing bias, which post-training keeps as the base model has it.*set "
                                         r"bias_update_rate = 0.0"):
        parse(recipe, tmp_path)


@pytest.mark.parametrize("parse, raw", [(parse_sft_recipe, minimal_sft_recipe), (parse_rl_recipe, minimal_rl_recipe)])
@pytest.mark.parametrize("table, value, says", [
    ("validation", {"held_out": 0.2, "every_steps": 2}, r"unknown key 'validation' \(removed: not read by post-"
                                                        r"training.*axk1 posttrain heldout"),
    ("stages", [{"name": "s", "tokens": 1, "seq_len": 8, "mixture": {"a": 1.0}}], r"unknown key 'stages' "
                                                                                  r"\(removed: .*remove \[\[stages"),
    ("data", {"manifest": "/nonexistent/manifest.json"}, r"\[data\] manifest is not read by `axk1 (sft|rl)`"),
])
def test_pretraining_tables_are_refused_not_ignored(folder, tmp_path, parse, raw, table, value, says):
    """[validation] and [data] manifest were taken and did nothing (no held-out rows, no warning); the unknown-key
    error listed them among the known keys."""
    recipe = raw(tmp_path, folder)
    recipe[table] = value
    with pytest.raises(ValueError, match=says):
        parse(recipe, tmp_path)
    recipe.pop(table)
    recipe["valdation"] = {}
    with pytest.raises(ValueError, match="unknown key 'valdation'") as e:
        parse(recipe, tmp_path)
    known = str(e.value).split("known: ")[1]
    assert "validation" not in known and "stages" not in known and "data" in known  # [data] seed is read
    assert parse({**raw(tmp_path, folder), "data": {"seed": 7}}, tmp_path).data.seed == 7
