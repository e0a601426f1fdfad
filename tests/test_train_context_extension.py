"""A context-extension stage ([[stages]] rope_scaling): the stage trains with YaRN, keeps it through resume and
export, and a stage asking for what the model cannot do is refused when the recipe is read."""

from pathlib import Path

import pytest
import torch

from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.train_helpers import write_recipe


def test_a_context_extension_stage_switches_yarn_on_and_keeps_it_through_resume_and_export(tmp_path):
    """[[stages]] rope_scaling: the second stage trains with YaRN (rotary table and softmax scale changed, the
    weights not), a resume inside that stage trains with it again, and the export's config.json carries it."""
    from axk1 import load_model
    from axk1.checkpoint.export import export_checkpoint
    from axk1.model.rope import rope_frequencies

    yarn = '{ type = "yarn", factor = 4.0, original_max_position_embeddings = 32, mscale = 1.0, mscale_all_dim = 1.0 }'
    path = write_recipe(tmp_path, steps_tokens=8 * 32 * 2)
    text = path.read_text().replace('name = "s2"\n', f'name = "s2"\nrope_scaling = {yarn}\n')
    path.write_text(text.replace("seq_len = 32\nmixture = { code", "seq_len = 128\nmixture = { code"))
    recipe = load_recipe(path)
    assert recipe.stages[1].seq_len == 128 and recipe.stage_rope_scaling(None)[0] is None
    trainer = Trainer(recipe)
    plain_freq = trainer.model.model.rotary_emb.inv_freq.clone()
    plain_scale = trainer.model.model.layers[0].self_attn.scale
    seen = []
    for step in range(trainer.total_steps):
        trainer.train_step(step)
        seen.append(trainer.config.rope_scaling)
    assert seen[0] is None and seen[-1]["factor"] == 4.0 and seen[-1]["original_max_position_embeddings"] == 32
    assert trainer.model.config is trainer.config
    yarn_freq, factor = rope_frequencies(trainer.config)
    assert torch.equal(trainer.model.model.rotary_emb.inv_freq, yarn_freq) and not torch.equal(yarn_freq, plain_freq)
    assert trainer.model.model.rotary_emb.attention_factor == factor == 1.0  # mscale == mscale_all_dim
    assert trainer.model.model.layers[0].self_attn.scale > plain_scale  # mscale_all_dim: sharper softmax
    assert trainer.model.mtp[0].layer.self_attn.scale == trainer.model.model.layers[0].self_attn.scale
    trainer.save(wait=True)
    out = export_checkpoint(recipe.checkpointing.dir, tmp_path / "hf")
    assert load_model(out).config.rope_scaling == trainer.config.rope_scaling

    resumed = Trainer(recipe, resume=True)  # a fresh process resumes inside the extension stage
    assert resumed.config.rope_scaling is None
    resumed.train_step(resumed.state.step - 1)
    assert resumed.config.rope_scaling == trainer.config.rope_scaling


def test_a_yarn_stage_must_extend_a_length_trained_before_it(tmp_path):
    """docs/training.md: original_max_position_embeddings is the length trained so far. The check compared it with
    the stage's own longest length only, so A.X K1's recipe switched YaRN on from 32,768 in a 4K -> 32K stage after
    stages trained at 4,096 alone, and a first stage could train from scratch with YaRN from a length never trained."""
    yarn = 'rope_scaling = { type = "yarn", factor = 4.0, original_max_position_embeddings = 128 }'
    text = write_recipe(tmp_path).read_text().replace('name = "s2"\n', f'name = "s2"\n{yarn}\n')
    path = tmp_path / "recipe.toml"
    path.write_text(text.replace("seq_len = 32\nmixture = { code", "seq_len = 128\nmixture = { code"))
    with pytest.raises(ValueError, match=r"(?s)s2.*original_max_position_embeddings=128, but the stages before it "
                                         r"train at most 32 tokens.*length trained so far.*--yarn"):
        load_recipe(path)
    path.write_text(text.replace('name = "s2"\n' + yarn, 'name = "s2"\n' + yarn.replace("128", "32"))
                    .replace("seq_len = 32\nmixture = { code", "seq_len = 128\nmixture = { code"))
    assert load_recipe(path).stages[1].rope_scaling["original_max_position_embeddings"] == 32  # the length trained
    first = write_recipe(tmp_path).read_text().replace('name = "s1"\n', f'name = "s1"\n{yarn.replace("128", "16")}\n')
    path.write_text(first)
    with pytest.raises(ValueError, match=r"(?s)s1.*no stage before it trains the model"):
        load_recipe(path)


def test_export_yarn_extends_a_plain_rope_checkpoint_for_serving(tmp_path, capsys):
    """`axk1 export --yarn 4`: config.json gets the release's YaRN block from the trained length (the longest
    seq_len the checkpoint's stages trained, 32 here) and 4x that as the context; a checkpoint that already runs
    YaRN is refused. It extended from max_position_embeddings (1024), a length this model never trained at."""
    from axk1 import load_model
    from axk1.checkpoint.export import with_yarn
    from axk1.cli import main

    path = write_recipe(tmp_path, steps_tokens=8 * 32)
    recipe = load_recipe(path)
    trainer = Trainer(recipe)
    trainer.train_step(0)
    trainer.save(wait=True)
    trained = 32
    assert trainer.config.max_position_embeddings > trained
    assert main(["export", str(recipe.checkpointing.dir), str(tmp_path / "hf"), "--yarn", "4"]) == 0
    assert "YaRN from 32 tokens, the longest seq_len the checkpoint's stages trained; context 128" in \
        capsys.readouterr().out
    config = load_model(tmp_path / "hf").config
    assert config.rope_scaling == {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": trained,
                                   "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 0.0}
    assert config.max_position_embeddings == config.context_length == 4 * trained
    with pytest.raises(ValueError, match=rf"--yarn: the checkpoint already runs YaRN \(factor 4.0 from {trained},"):
        with_yarn(config.replace(max_position_embeddings=trained), 4)
    with pytest.raises(ValueError, match=r"--yarn takes a factor > 1"):
        with_yarn(trainer.config, 1)
    for factor in (1e300, 1025, float("nan")):  # 1e300 wrote a 300-digit max_position_embeddings
        with pytest.raises(ValueError, match=r"--yarn takes a factor > 1 and at most 1024"):
            with_yarn(trainer.config, factor)


def test_a_bad_context_extension_stage_is_refused(tmp_path):
    path = write_recipe(tmp_path)
    bad = {"rope_scaling = { type = \"linear\", factor = 2.0 }": "unsupported",
           "rope_scaling = { type = \"yarn\", factor = 4.0, original_max_position_embeddings = 64 }": "original"}
    for line, words in bad.items():
        path.write_text(write_recipe(tmp_path).read_text().replace('name = "s2"\n', f'name = "s2"\n{line}\n'))
        with pytest.raises(ValueError, match=f"(?s)s2.*{words}"):
            load_recipe(path)


def test_export_yarn_extends_from_the_longest_length_the_checkpoint_has_reached(tmp_path, capsys):
    """Stage s1 trains at 32 tokens, s2 at 64: a checkpoint inside s1 extends from 32, one after s2's step from 64
    (a recipe's later, longer stages are not yet trained). A checkpoint of a run started from [model] init_from
    cannot tell what the loaded model trained at: it falls back to max_position_embeddings, saying so."""
    import json

    from axk1.cli import main

    path = write_recipe(tmp_path, steps_tokens=8 * 64)
    path.write_text(path.read_text().replace('seq_len = 32\nmixture = { code = 1.0 }', 'seq_len = 64\n'
                                             'mixture = { code = 1.0 }'))
    recipe = load_recipe(path)
    assert [s.seq_len for s in recipe.stages] == [32, 64]
    trainer = Trainer(recipe)
    steps = trainer.total_steps
    for step in range(steps):
        trainer.train_step(step)
        if step + 1 in (1, steps):
            trainer.save(wait=True)
    ckpts = Path(recipe.checkpointing.dir)
    for step, trained in ((1, 32), (steps, 64)):
        out = tmp_path / f"hf{step}"
        assert main(["export", str(ckpts / f"step-{step:06d}"), str(out), "--yarn", "4"]) == 0
        config = json.loads((out / "config.json").read_text())
        assert config["rope_parameters"]["original_max_position_embeddings"] == trained, step
        assert config["max_position_embeddings"] == 4 * trained
    capsys.readouterr()

    base = tmp_path / "base"
    assert main(["export", str(ckpts / f"step-{steps:06d}"), str(base)]) == 0
    (tmp_path / "cont").mkdir()
    cont = write_recipe(tmp_path / "cont", steps_tokens=8 * 32)
    cont.write_text(cont.read_text().replace('preset = "axk1-tiny"\n', f'init_from = "{base}"\n'))
    trainer = Trainer(load_recipe(cont))
    trainer.train_step(0)
    saved = trainer.save(wait=True)
    capsys.readouterr()
    assert main(["export", str(saved), str(tmp_path / "hf-cont"), "--yarn", "4"]) == 0
    assert "note: --yarn extended from max_position_embeddings (1024), the length trained not being known: it " \
           f"continued the model in {base} ([model] init_from)" in capsys.readouterr().out
    assert json.loads((tmp_path / "hf-cont" / "config.json").read_text())["max_position_embeddings"] == 4096
