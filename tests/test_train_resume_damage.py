"""--resume over a checkpoints folder that is not as the trainer left it: a train_state.json whose values are of the
wrong type, and a step folder without its train_state.json (the other damage: test_checkpoint_damage.py)."""

import json
import re
import shutil
from pathlib import Path

import pytest

from axk1.checkpoint.dcp import step_dir
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.train_helpers import write_recipe


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A folder holding a recipe, its token shards and a 4-step run (checkpoints at steps 2 and 4)."""
    folder = tmp_path_factory.mktemp("trained")
    Trainer(load_recipe(write_recipe(folder, extra="max_steps = 4"))).fit()
    return folder


def _copy(trained: Path, tmp_path: Path):
    """The trained folder copied (its paths are relative to the recipe's folder); its recipe and checkpoints."""
    shutil.copytree(trained, tmp_path / "copy")
    recipe = load_recipe(tmp_path / "copy" / "recipe.toml")
    return recipe, Path(recipe.checkpointing.dir)


@pytest.mark.parametrize("key, value", [
    ("run", 5), ("model_config", "x"), ("schedule", "x"), ("tokenizer_hash", 123), ("keep_router_bias", 1), ("mtp_depth", True),
    ("state.recent_losses", "abc"), ("state.spike_losses", [1.0, "x"]), ("state.loss_stage", 3),
    ("state.tokens", 1.5)])
def test_a_train_state_value_of_the_wrong_type_is_named_as_damage(trained, tmp_path, key, value):
    """`"run": 5` was reported as a recipe that differs in every setting; the other values resumed without a word
    (a string for the loss history, a schedule or tokenizer digest that is no such thing). Each is now named as a
    damaged train_state.json, with the way back to the step before, which then resumes."""
    recipe, ckpts = _copy(trained, tmp_path)
    path = step_dir(ckpts, 4) / "train_state.json"
    saved = json.loads(path.read_text())
    *parents, name = key.split(".")
    holder = saved
    for p in parents:
        holder = holder[p]
    holder[name] = value
    path.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} does not hold .*{name}.*: the file is damaged; move "
                                         "the step folder out of the checkpoints folder to resume from the one before"):
        Trainer(recipe, resume=True)
    shutil.move(step_dir(ckpts, 4), tmp_path / "aside")
    assert Trainer(recipe, resume=True).state.step == 2


def test_a_step_folder_without_its_train_state_is_named_when_resume_skips_it(trained, tmp_path, capsys):
    """A step folder without train_state.json (copied in part) was passed over in silence: the run resumed from the
    step before, and its next save of that step wrote over the folder. The resume now names it and says why."""
    recipe, ckpts = _copy(trained, tmp_path)
    (step_dir(ckpts, 4) / "train_state.json").unlink()
    assert Trainer(recipe, resume=True).state.step == 2
    err = capsys.readouterr().err
    assert f"note: {step_dir(ckpts, 4)} has no train_state.json, so it is not a complete checkpoint" in err
    assert "a save of that step replaces it, so move it out of the checkpoints folder to keep it" in err
