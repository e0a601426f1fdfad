import json

import pytest
from transformers import AXK1Config

from axk1 import ModelConfig
from axk1.presets import PRESETS


def test_presets_build_and_sizes():
    from axk1.params import count_parameters

    sizes = {name: count_parameters(ModelConfig.from_preset(name))["total"] for name in PRESETS}
    assert sizes["axk1-tiny"] <= 5_000_000
    assert 20e6 <= sizes["axk1-mini"] <= 100e6
    assert 1e9 <= sizes["axk1-gpu-small"] <= 3e9


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ValueError, match="known presets: axk1-519b, axk1-gpu-small, axk1-mini, axk1-tiny"):
        ModelConfig.from_preset("axk1-7b")


@pytest.mark.parametrize(
    "changes, field",
    [
        (dict(n_routed_experts=10, n_group=4), "n_routed_experts"),
        (dict(topk_group=5, n_group=4), "topk_group"),
        (dict(num_experts_per_tok=5, n_group=4, topk_group=2), "num_experts_per_tok"),
        (dict(hidden_size=0), "hidden_size"),
        (dict(qk_rope_head_dim=7), "qk_rope_head_dim"),
        (dict(first_k_dense_replace=9), "first_k_dense_replace"),
        (dict(hidden_act="gelu"), "hidden_act"),
    ],
)
def test_validation_names_the_field(changes, field):
    base = dict(PRESETS["axk1-tiny"])
    base.update(changes)
    with pytest.raises(ValueError, match=field):
        ModelConfig(**base)


def test_json_round_trip_and_transformers_reads_it(tmp_path):
    config = ModelConfig.from_preset("axk1-519b")
    config.save_pretrained(tmp_path)
    assert ModelConfig.from_pretrained(tmp_path) == config
    hf = AXK1Config.from_pretrained(tmp_path)
    assert hf.model_type == "axk1"
    assert hf.mlp_layer_types == ["dense"] + ["sparse"] * 60
    assert (hf.hidden_size, hf.n_routed_experts, hf.n_group, hf.topk_group, hf.kv_lora_rank) == (7168, 192, 8, 4, 512)
    assert hf.rope_parameters["rope_type"] == "yarn" and hf.rope_parameters["factor"] == 4.0
    assert hf.rope_parameters["rope_theta"] == 10000.0


def test_reads_hub_style_config_with_deepseek_rope_scaling(tmp_path):
    raw = ModelConfig.from_preset("axk1-519b").to_dict()
    for key in ("rope_parameters", "mlp_layer_types"):
        raw.pop(key)
    raw.update(model_type="AXK1", rope_theta=10000.0, first_k_dense_replace=1,
               rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768,
                             "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 0.0},
               auto_map={"AutoConfig": "configuration_axk1.AXK1Config"}, torch_dtype="bfloat16")
    (tmp_path / "config.json").write_text(json.dumps(raw))
    config = ModelConfig.from_pretrained(tmp_path)
    assert config.rope_scaling["factor"] == 4.0 and config.rope_scaling["original_max_position_embeddings"] == 32768
    assert config.first_k_dense_replace == 1
    assert config.extra["torch_dtype"] == "bfloat16"


def test_rejects_other_model_types_and_layouts(tmp_path):
    with pytest.raises(ValueError, match="model_type"):
        ModelConfig.from_dict({"model_type": "llama"})
    with pytest.raises(ValueError, match="mlp_layer_types"):
        ModelConfig.from_dict({"model_type": "axk1", "num_hidden_layers": 3, "mlp_layer_types": ["sparse", "dense", "sparse"]})
    with pytest.raises(FileNotFoundError, match="config.json"):
        ModelConfig.from_pretrained(tmp_path)


def test_softmax_scale_uses_yarn_mscale_all_dim():
    base = dict(PRESETS["axk1-tiny"])
    plain = ModelConfig(**base).softmax_scale()
    assert plain == pytest.approx(24 ** -0.5)
    yarn = ModelConfig(**base, rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 256,
                                             "mscale": 1.0, "mscale_all_dim": 1.0})
    m = 0.1 * 1.0 * __import__("math").log(4.0) + 1
    assert yarn.softmax_scale() == pytest.approx(plain * m * m)
