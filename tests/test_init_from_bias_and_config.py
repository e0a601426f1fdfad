"""`[model] init_from` (continued pretraining) from a folder that routes with its own balancing bias, or whose
config.json contradicts its own weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from axk1 import ModelConfig, save_pretrained
from axk1.checkpoint.export import export_checkpoint
from axk1.model import AXK1ForCausalLM
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.train_helpers import write_recipe

BIAS = "e_score_correction_bias"


def _recipe(tmp_path: Path, model: str) -> Path:
    path = write_recipe(tmp_path)
    path.write_text(path.read_text().replace('[model]\npreset = "axk1-tiny"\n', f"[model]\n{model}\n"))
    return path


def _biases(folder: Path) -> dict[str, torch.Tensor]:
    return {k: t for k, t in load_file(folder / "model.safetensors").items() if k.endswith(BIAS)}


def _source(folder: Path, bias: bool) -> Path:
    torch.manual_seed(5)
    model = AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny"), with_mtp=False)
    if bias:  # as a transformers-trained or post-trained model routes
        for name, buffer in model.named_buffers():
            if name.endswith(BIAS):
                buffer.copy_(torch.linspace(-0.05, 0.05, buffer.numel()))
    save_pretrained(model, folder)
    return folder


def test_continued_pretraining_from_a_biased_router_exports_the_bias_it_trained_with(tmp_path, capsys):
    """The run trained with the folder's non-zero bias, and the export wrote zeros in its place: another model than
    the one trained, without a word. Its checkpoints now record keep_router_bias, said at the start."""
    _source(tmp_path / "biased", bias=True)
    trainer = Trainer(load_recipe(_recipe(tmp_path, 'init_from = "biased"'), max_steps=2))
    trainer.fit()
    trained = {k: t for k, t in trainer.model.state_dict().items() if k.endswith(BIAS) and not k.startswith("mtp.")}
    checkpoints = tmp_path / "run" / "checkpoints"
    state = json.loads((checkpoints / "step-000002" / "train_state.json").read_text())
    assert state["keep_router_bias"] is True
    assert state["sampler"]["salt"] != []  # its rows drawn apart from the run that wrote the folder (init_from_salt)
    exported = _biases(export_checkpoint(checkpoints, tmp_path / "out"))
    assert exported.keys() == trained.keys() and all(exported[k].count_nonzero() > 0 for k in exported)
    assert all(torch.equal(exported[k], trained[k]) for k in exported)
    assert "routes with a non-zero balancing bias" in capsys.readouterr().out  # said at the start


def test_continued_pretraining_from_the_release_layout_still_exports_zeros(tmp_path, capsys):
    _source(tmp_path / "plain", bias=False)  # b = 0, as the release routes
    Trainer(load_recipe(_recipe(tmp_path, 'init_from = "plain"'), max_steps=2)).fit()
    assert "balancing bias" not in capsys.readouterr().out
    exported = _biases(export_checkpoint(tmp_path / "run" / "checkpoints", tmp_path / "out"))
    assert exported and all(t.count_nonzero() == 0 for t in exported.values())


def test_init_from_refuses_a_config_json_that_contradicts_its_own_weights(tmp_path, capsys):
    """config.json says vocab_size 10**12 over a 512-row embedding; the recipe's model (axk1-tiny) fits the weights.
    It was accepted with a note that "the shapes agree" (with the recipe, not the file), while generate and
    load_model refuse the same folder. It is refused the same way now; a config.json that only differs in what
    does not shape the weights is still a one-line note."""
    folder = _source(tmp_path / "lying", bias=False)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "vocab_size": 10**12}))
    recipe = _recipe(tmp_path, 'preset = "axk1-tiny"\ninit_from = "lying"')
    with pytest.raises(ValueError, match=r"init_from: tensor '(lm_head|model\.embed_tokens)\.weight' .* has shape \(512, 64\), "
                                         r"but .*config\.json implies \(1000000000000, 64\): config\.json does not "
                                         r"describe these weights"):
        Trainer(load_recipe(recipe, max_steps=1))
    (folder / "config.json").write_text(json.dumps({**config, "routed_scaling_factor": 1.5}))
    Trainer(load_recipe(recipe, max_steps=1))
    err = capsys.readouterr().err
    assert "note: [model] init_from: " in err and "routed_scaling_factor: 1.5 -> " in err
    assert "UserWarning" not in err and "warnings.warn" not in err
