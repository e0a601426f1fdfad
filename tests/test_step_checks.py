"""The recipe checks that need the run's steps (axk1/train/step_checks.py): each recipe here passed `--dry-run` and
then failed at the first step, or trained without ever reaching its learning rate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from axk1.cli import main
from axk1.posttrain.rl_recipe import parse_rl_recipe
from axk1.posttrain.sft import parse_sft_recipe, run_sft
from axk1.train.step_checks import MAX_TOKENS_PER_STEP
from tests.serve_helpers import make_model_folder
from tests.posttrain_helpers import minimal_rl_recipe, minimal_sft_recipe
from tests.train_helpers import write_recipe


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("steps") / "base")


def _refused(recipe: Path, overrides: list[str], capsys) -> str:
    """The one-line error of `axk1 train --dry-run` and of `axk1 train` (nothing trained)."""
    for verb in (["--dry-run"], ["--max-steps", "1"]):
        assert main(["train", str(recipe), *verb, *overrides]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and err.count("\n") == 1, err
    assert not (recipe.parent / "run" / "checkpoints").exists()
    return err


def test_a_step_too_large_for_host_memory_is_refused_naming_the_key(tmp_path, capsys):
    """global_sequences = 4,000,000,000 passed the dry run, then the first step was numpy's "Unable to allocate
    954 GiB" traceback (a step's rows are drawn at once)."""
    recipe = write_recipe(tmp_path)
    err = _refused(recipe, ["--batch.global_sequences", "4000000000"], capsys)
    assert ("[batch] global_sequences = 4,000,000,000 makes a step of 's1' 4,000,000,000 sequences of 32 tokens "
            "(128,000,000,000 tokens), more than the 1,073,741,824 a step may take") in err
    err = _refused(recipe, ["--batch.global_tokens", str(MAX_TOKENS_PER_STEP + 32)], capsys)
    assert "[batch] global_tokens = 1,073,741,856 makes a step of 's1'" in err
    assert main(["train", str(recipe), "--dry-run", "--batch.global_tokens", str(MAX_TOKENS_PER_STEP)]) == 0


def test_an_mtp_depth_that_leaves_no_target_in_a_row_is_refused(tmp_path, capsys):
    """mtp_depth >= seq_len passed the dry run and crashed the loss at step 1 (a tensor-size RuntimeError);
    seq_len - 1 trained its deepest module on no target at all. A row of T tokens has T - 1 - k targets at depth k."""
    recipe = write_recipe(tmp_path)  # stages at seq_len 32
    for depth in (32, 31, 64):
        err = _refused(recipe, ["--model.mtp_depth", str(depth), "--model.mtp_loss_weight", "[0.3]"], capsys)
        assert (f"[model] mtp_depth = {depth} needs rows of at least {depth + 2} tokens" in err
                and "but 's1' trains at seq_len 32" in err), err
    assert main(["train", str(recipe), "--dry-run", "--model.mtp_depth", "30", "--model.mtp_loss_weight",
                 "[0.3]"]) == 0


def test_sft_and_rl_refuse_a_warmup_longer_than_their_steps_and_sft_its_shapes(folder, tmp_path):
    """The warmup check of pretraining, for post-training's steps: RL's are [rl] iterations x updates_per_batch
    (known when read), SFT's are known once its chat rows are packed (before the model is built)."""
    raw = minimal_rl_recipe(tmp_path, folder)
    raw["rl"].update(iterations=3, updates_per_batch=2)
    raw["schedule"] = {"kind": "cosine", "warmup_steps": 7}
    with pytest.raises(ValueError, match=r"warmup_steps = 7 is more than the schedule's 6 steps \(\[rl\] iterations "
                                         r"x updates_per_batch\)"):
        parse_rl_recipe(raw, tmp_path)
    raw["schedule"]["warmup_steps"] = 6
    parse_rl_recipe(raw, tmp_path)
    raw = minimal_sft_recipe(tmp_path, folder)
    raw["schedule"] = {"kind": "cosine", "warmup_steps": 100000}
    with pytest.raises(ValueError, match=r"warmup_steps = 100,000 is more than the schedule's \d+ steps \(\[sft\] "
                                         r"epochs x \d+ packed rows"):
        run_sft(parse_sft_recipe(raw, tmp_path))
    assert not (tmp_path / "run" / "checkpoints").exists()
    raw["schedule"] = {"kind": "constant"}
    raw["model"].update(mtp_depth=95)  # [sft] seq_len 96
    with pytest.raises(ValueError, match="mtp_depth = 95 needs rows of at least 97 tokens"):
        parse_sft_recipe(raw, tmp_path)
    raw["model"].update(mtp_depth=0)
    raw["batch"]["global_sequences"] = 4 * 10**9
    with pytest.raises(ValueError, match=r"\[batch\] global_sequences = 4,000,000,000 makes a step of 'sft'"):
        parse_sft_recipe(raw, tmp_path)


def test_rl_max_steps_meets_the_warmup_check_in_a_run_as_in_its_dry_run(folder, tmp_path, capsys):
    """`axk1 rl --max-steps N` set [rl] iterations after the recipe was checked, so a 10-step warmup over a 4-step
    schedule was refused by --dry-run and trained by the run (the learning rate never reached its peak)."""
    raw = minimal_rl_recipe(tmp_path, folder)
    raw["rl"].update(iterations=20, updates_per_batch=2)
    raw["schedule"] = {"kind": "cosine", "warmup_steps": 10}
    recipe = tmp_path / "rl.toml"
    recipe.write_text("".join(f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())
                              for name, table in raw.items()))  # JSON's strings, numbers and lists are TOML's
    for verb in (["--dry-run"], []):
        assert main(["rl", str(recipe), "--max-steps", "2", *verb]) == 2
        err = capsys.readouterr().err
        assert "warmup_steps = 10 is more than the schedule's 4 steps" in err and "Traceback" not in err, err
    assert not (tmp_path / "rl" / "checkpoints").exists()
