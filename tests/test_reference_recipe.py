"""The shipped A.X K1 recipes against the published recipe (docs/training.md, docs/posttraining.md), with the
published numbers written out here: a value edited in a recipe or the planner without its source fails."""

import tomllib
from pathlib import Path

import pytest

from axk1 import ModelConfig
from axk1.plan.recipe import AXK1_MIXTURES, AXK1_STAGES
from axk1.train.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
# docs/training.md, "Pretraining stages": domain shares in percent per stage (they sum to 99.85, 99.08, 99.12)
PUBLISHED_MIXTURES = [
    {"web": 53.41, "code": 17.13, "encyclopedia": 14.84, "qa": 13.04, "books": 0.77, "academic": 0.66},
    {"web": 39.79, "code": 29.42, "encyclopedia": 0.64, "qa": 8.95, "books": 4.35, "academic": 7.23, "math": 5.41,
     "stem": 2.47, "reasoning": 0.82},
    {"web": 33.32, "code": 25.50, "encyclopedia": 0.72, "qa": 5.38, "books": 3.70, "academic": 3.87, "math": 9.24,
     "stem": 9.07, "reasoning": 8.32},
]
PUBLISHED_STAGES = [(7.0e12, [4096]), (1.66e12, [4096]), (0.6e12, [4096, 16384, 32768])]


def test_519b_recipe_stages_and_mixtures_are_the_published_ones():
    recipe = load_recipe(RECIPES / "axk1-519b.toml")
    assert [(s.tokens, s.lengths()) for s in recipe.stages] == PUBLISHED_STAGES
    for stage, published in zip(recipe.stages, PUBLISHED_MIXTURES, strict=True):
        total = sum(published.values())
        assert stage.mixture.keys() == published.keys()
        for domain, percent in published.items():  # normalised to sum to 1, rounded to 5 decimals
            assert stage.mixture[domain] == pytest.approx(percent / total, abs=5e-6), (stage.name, domain)
    # constant learning rate in stage 1, decay from stage 2 (warmup-stable-decay)
    assert (recipe.schedule.kind, recipe.schedule.decay_starts_at_stage) == ("wsd", 2)
    assert recipe.model.build_config() == ModelConfig.from_preset("axk1-519b").replace(
        rope_scaling=None, max_position_embeddings=32768)
    assert (recipe.model.mtp_depth, recipe.moe.balancing) == (1, "aux-loss-free")


def test_519b_recipe_assumptions_are_deepseek_v3s():
    # docs/training.md, "Not published": axk1 takes DeepSeek-V3's values (and marks them as assumptions)
    recipe = load_recipe(RECIPES / "axk1-519b.toml")
    o, s = recipe.optimizer, recipe.schedule
    assert (o.name, o.lr, o.betas, o.weight_decay, o.grad_clip, o.master_dtype) == (
        "adamw", 2.2e-4, [0.9, 0.95], 0.1, 1.0, "float32")
    assert (s.warmup_steps, s.final_lr_ratio) == (2000, 0.1)  # 2.2e-4 -> 2.2e-5
    assert recipe.model.mtp_loss_weight[:2] == [0.3, 0.1] and recipe.moe.bias_update_rate == 1e-3
    assert recipe.batch.global_tokens == 16_384 * 4096


def test_planner_uses_the_published_stages_and_mixtures():
    assert [tokens for _, tokens, _ in AXK1_STAGES] == [tokens for tokens, _ in PUBLISHED_STAGES]
    assert [[4096 * m for m in lengths] for _, _, lengths in AXK1_STAGES] == [L for _, L in PUBLISHED_STAGES]
    assert AXK1_MIXTURES == PUBLISHED_MIXTURES


def test_think_fusion_settings_are_the_published_ones():
    # docs/posttraining.md: merge 0.8 x think + 0.2 x non-think; GSPO (sequence-level ratio) with
    # R = R_correct (+1 / -1) + R_format (0 / -1); think prompts end with <think>, non-think ones with </think>
    from axk1.posttrain.pipeline import DemoTasksConfig
    from axk1.posttrain.rewards import score
    from axk1.toml_file import build_dataclass

    path = RECIPES / "posttrain" / "tasks.toml"  # read as the demo reads it (docs/configuration.md)
    assert build_dataclass(DemoTasksConfig, tomllib.loads(path.read_text()), str(path)).merge_alpha == 0.8
    with pytest.raises(ValueError, match="unknown key 'merge_alpa'"):
        build_dataclass(DemoTasksConfig, {"merge_alpa": 0.8}, str(path))
    rl = tomllib.loads((RECIPES / "posttrain" / "rl.toml").read_text())["rl"]
    assert rl["level"] == "sequence" and rl["modes"] == ["think", "non-think"] and rl["beta"] == 0.0
    task = {"kind": "math", "answer": "82"}
    assert score(task, "steps</think>\n\n\\boxed{82}", "stop", True).reward == 1.0
    assert score(task, "steps</think>\n\n\\boxed{81}", "stop", True).reward == -1.0
    assert score(task, "<think>steps</think>\n\n\\boxed{82}", "stop", True).reward == 0.0  # correct, bad tags
    # an answer inside a think block reopened after the last </think> is no answer (as evaluation reads it)
    assert score(task, "steps</think>\n\n<think>\\boxed{82}", "stop", True).reward == -2.0


def test_vocabulary_rule_gives_what_docs_model_md_says():
    # docs/model.md, "Tokenizer": Tao et al.'s optimum for A.X K1's activated non-vocabulary parameters, then x 1.25
    from axk1.plan.scaling import AXK1_VOCAB_ADJUST, optimal_vocab_size

    non_vocab = 32_779_339_776 - 2 * 163_840 * 7168  # activated minus embedding and head: 30.4B
    assert optimal_vocab_size(non_vocab, 7168) == 131_584
    assert optimal_vocab_size(non_vocab, 7168, AXK1_VOCAB_ADJUST) == 164_480  # A.X K1 chose 163,840 = 1.25 x 2^17


def test_519b_recipe_trains_plain_rope_to_32k_and_its_export_serves_the_release_config():
    """The release's YaRN block extends from 32,768 tokens, the length trained without it. The recipe used to
    inherit it from the preset and pretrain all 9.26T tokens with YaRN x4 on; then to switch it on in stage 3 with
    32,768 as the original length while the model had trained only at 4,096. Now every stage trains plain RoPE,
    stage 3 to 32K (the published 4K -> 16K -> 32K), and the export's --yarn 4 writes the release's block."""
    from axk1.checkpoint.export import with_yarn

    recipe = load_recipe(RECIPES / "axk1-519b.toml")
    config = recipe.model.build_config()
    assert config.rope_scaling is None and config.softmax_scale() == 192 ** -0.5
    assert recipe.stage_rope_scaling(config.rope_scaling) == [None, None, None]
    assert config.max_position_embeddings == max(recipe.stages[-1].lengths()) == 32768
    # what `axk1 export --yarn 4` writes at the run's end is the released configuration
    assert with_yarn(config, 4) == ModelConfig.from_preset("axk1-519b")
    assert with_yarn(config, 4).context_length == 131072
