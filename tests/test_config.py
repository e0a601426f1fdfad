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


def test_save_pretrained_is_the_one_writer_of_config_json(tmp_path):
    """Export, `axk1 plan` and its sweeps each wrote config.json their own way (export wrote it, read it back and
    wrote it again to add the weights' dtype); they all call ModelConfig.save_pretrained now, which takes the dtype
    (and refuses one no loader reads) and writes the file whole or not at all."""
    import torch

    import axk1

    config = ModelConfig.from_preset("axk1-tiny")
    file = config.save_pretrained(tmp_path / "c", dtype=torch.bfloat16)
    assert json.loads(file.read_text())["dtype"] == "bfloat16"
    assert AXK1Config.from_pretrained(tmp_path / "c").dtype == torch.bfloat16  # as transformers reads it
    assert ModelConfig.from_pretrained(file).to_dict() == config.to_dict()
    folder = axk1.save_pretrained(axk1.AXK1ForCausalLM(config), tmp_path / "m", dtype=torch.bfloat16)
    assert (folder / "config.json").read_bytes() == file.read_bytes()

    with pytest.raises(ValueError, match="config.json dtype 'int8' is not a dtype axk1 takes: use float32, "
                                         "bfloat16, float16"):
        config.save_pretrained(tmp_path / "x", dtype="int8")
    assert not (tmp_path / "x" / "config.json").exists()


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


def test_refuses_a_deepseek_v3_config_up_front(tmp_path):
    """transformers' DeepSeek-V3 config has A.X K1's fields, so it was read and the load then failed on a 'missing
    post_mlp_layernorm' that did not say the folder is another model."""
    from transformers import DeepseekV3Config

    DeepseekV3Config(num_hidden_layers=2, hidden_size=64, vocab_size=128).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="DeepSeek-V3 model, which axk1 does not load.*post_mlp_layernorm"):
        ModelConfig.from_pretrained(tmp_path)


def test_a_yarn_block_without_its_original_length_reads_as_transformers_reads_it():
    """transformers takes max_position_embeddings as the original length when a YaRN block leaves it out (a folder
    the peer loads); axk1 refused it ("needs 'factor' and 'original_max_position_embeddings'")."""
    import torch

    from axk1.model.rope import rope_frequencies

    base = {**PRESETS["axk1-tiny"], "max_position_embeddings": 512}
    implicit = ModelConfig(**base, rope_scaling={"type": "yarn", "factor": 4.0})
    explicit = ModelConfig(**base, rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 512})
    assert implicit.rope_scaling == explicit.rope_scaling
    (freq_a, scale_a), (freq_b, scale_b) = rope_frequencies(implicit), rope_frequencies(explicit)
    assert torch.equal(freq_a, freq_b) and scale_a == scale_b


def test_softmax_scale_uses_yarn_mscale_all_dim():
    base = dict(PRESETS["axk1-tiny"])
    plain = ModelConfig(**base).softmax_scale()
    assert plain == pytest.approx(24 ** -0.5)
    yarn = ModelConfig(**base, rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 256,
                                             "mscale": 1.0, "mscale_all_dim": 1.0})
    m = 0.1 * 1.0 * __import__("math").log(4.0) + 1
    assert yarn.softmax_scale() == pytest.approx(plain * m * m)


def test_519b_preset_is_the_released_configuration():
    # docs/model.md, "Released configuration": the values as written there (the reconstructed hub config.json)
    released = dict(
        vocab_size=163840, hidden_size=7168, intermediate_size=18432, moe_intermediate_size=2048,
        num_hidden_layers=61, first_k_dense_replace=1, num_attention_heads=64, q_lora_rank=1536, kv_lora_rank=512,
        qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128, n_routed_experts=192, n_shared_experts=1,
        num_experts_per_tok=8, n_group=8, topk_group=4, routed_scaling_factor=2.5, norm_topk_prob=True,
        hidden_act="silu", rms_norm_eps=1e-6, rope_theta=10000.0, rope_interleave=True,
        max_position_embeddings=131072, num_nextn_predict_layers=1, tie_word_embeddings=False,
        attention_bias=False, bos_token_id=163691, eos_token_id=163691, pad_token_id=None, initializer_range=0.02,
        rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768, "beta_fast": 32.0,
                      "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 0.0},
    )
    config = ModelConfig.from_preset("axk1-519b")
    assert {name: getattr(config, name) for name in released} == released
    assert (config.qk_head_dim, config.experts_per_group, config.softmax_scale()) == (192, 24, 192 ** -0.5)
    written = config.to_dict()  # what an export's config.json says about routing
    assert (written["model_type"], written["scoring_func"], written["topk_method"]) == ("axk1", "sigmoid", "noaux_tc")
    assert written["num_key_value_heads"] == 64 and written["mlp_layer_types"] == ["dense"] + ["sparse"] * 60


def test_null_rope_scaling_beside_yarn_rope_parameters_keeps_yarn(tmp_path):
    """transformers reads `"rope_scaling": null` next to a YaRN `rope_parameters` as YaRN; axk1 used to read no
    scaling at all, so the same folder ran with other rotary tables and softmax scale than in transformers."""
    raw = ModelConfig.from_preset("axk1-519b").to_dict()
    raw["rope_scaling"] = None
    (tmp_path / "config.json").write_text(json.dumps(raw))
    ours = ModelConfig.from_pretrained(tmp_path)
    theirs = AXK1Config.from_pretrained(tmp_path).rope_parameters
    assert theirs["rope_type"] == "yarn" and theirs["factor"] == 4.0
    assert ours.rope_scaling == ModelConfig.from_preset("axk1-519b").rope_scaling


@pytest.mark.parametrize("method", ["greedy", "group_limited_greedy"])
def test_other_topk_methods_are_refused(method):
    # DeepSeek-V2's methods select experts differently (max per group, softmax): routing them as noaux_tc is wrong
    raw = ModelConfig.from_preset("axk1-519b").to_dict()
    raw["topk_method"] = method
    with pytest.raises(ValueError, match=f"topk_method='{method}' is unsupported"):
        ModelConfig.from_dict(raw)


def test_yarn_truncate_must_be_a_boolean():
    raw = ModelConfig.from_preset("axk1-519b").to_dict()
    raw["rope_parameters"]["truncate"] = "false"  # bool("false") is True: the opposite of what the file says
    with pytest.raises(ValueError, match="truncate must be true or false"):
        ModelConfig.from_dict(raw)
    raw["rope_parameters"]["truncate"] = False
    assert ModelConfig.from_dict(raw).rope_scaling["truncate"] is False


@pytest.mark.parametrize("preset", ["axk1-mini", "axk1-gpu-small"])
def test_presets_for_axk1_tokenizers_name_its_special_tokens(preset, tmp_path):
    """The presets trained on `axk1 data` shards carry that tokenizer's ids in config.json. axk1-gpu-small had
    A.X K1's 163691 as eos, an ordinary merge in an axk1 tokenizer of the same size: `axk1 generate`, RL
    rollouts and transformers stop at config.json's eos, so they never stopped at the chat turn's end <|im_end|>;
    axk1-mini's bos was <|im_start|> and its pad <|endoftext|>."""
    from axk1.data.tokenizer import TokenizerConfig, train_tokenizer
    from axk1.text.tokenizer_file import BOS, EOS, PAD, load_tokenizer

    train_tokenizer(["대한민국의 수도는 서울이다.", "def f(x):\n    return x + 1\n"] * 4, tmp_path,
                    TokenizerConfig(vocab_size=300, min_frequency=1))
    tokenizer = load_tokenizer(tmp_path)
    config = ModelConfig.from_preset(preset)
    ids = (config.bos_token_id, config.eos_token_id, config.pad_token_id)
    assert ids == tuple(tokenizer.token_to_id(t) for t in (BOS, EOS, PAD))


def test_default_rope_type_means_plain_rope():
    # transformers' meaning of rope_type "default"; the one way a TOML recipe's overrides can switch YaRN off
    config = ModelConfig.from_preset("axk1-519b").replace(rope_scaling={"type": "default"})
    assert config.rope_scaling is None and config.softmax_scale() == 192 ** -0.5
    assert ModelConfig.from_preset("axk1-519b").replace(rope_scaling={"rope_type": "default"}).rope_scaling is None


def test_a_context_past_any_cache_is_refused_when_read(tmp_path):
    """max_position_embeddings 10**15 was accepted; serve then tried to allocate a latent cache of ~447M GiB."""
    tiny = ModelConfig.from_preset("axk1-tiny")
    assert tiny.replace(max_position_embeddings=1 << 24).context_length == 1 << 24  # the most taken: 128 x A.X K1's
    with pytest.raises(ValueError, match=r"max_position_embeddings is 1,000,000,000,000,000 tokens, past the most "
                                         r"axk1 takes \(16,777,216\)"):
        tiny.replace(max_position_embeddings=10**15)
    (tmp_path / "config.json").write_text(json.dumps({**tiny.to_dict(), "max_position_embeddings": 10**15}))
    with pytest.raises(ValueError, match=r"config\.json: ModelConfig\.max_position_embeddings is 1,000,000,000,000,000"):
        ModelConfig.from_pretrained(tmp_path)


def test_a_config_json_without_the_models_fields_is_refused_naming_them(tmp_path):
    """`{"a": 1}` was read as the defaults (A.X K1 519B's), and the error that followed blamed the file for
    `num_hidden_layers = 61`, which it does not contain. A file naming some of the model's fields is still read with
    the defaults for the rest, as transformers' config class does (`axk1 params` names them: tests/test_params.py)."""
    (tmp_path / "config.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(ValueError, match=r"config\.json has none of model_type, vocab_size, hidden_size, "
                                         r"num_hidden_layers, num_attention_heads: it does not describe a model") as e:
        ModelConfig.from_pretrained(tmp_path)
    assert "= 61" not in str(e.value)  # (the tmp path may hold 61)
    raw = ModelConfig.from_preset("axk1-tiny").to_dict()
    del raw["hidden_size"]
    (tmp_path / "config.json").write_text(json.dumps(raw))
    assert ModelConfig.from_pretrained(tmp_path).hidden_size == ModelConfig().hidden_size  # the 519B default


def test_a_config_json_of_many_megabytes_is_refused_before_it_is_read(tmp_path):
    raw = json.dumps(ModelConfig.from_preset("axk1-tiny").to_dict())
    (tmp_path / "config.json").write_text(raw[:-1] + ', "pad": "' + "x" * (4 << 20) + '"}')  # valid JSON, 4 MiB+
    with pytest.raises(ValueError, match=r"config\.json is 4,19[45],[0-9]{3} bytes, not a model's config\.json .*at most "
                                         r"4,194,304 are read"):
        ModelConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(raw)  # the file itself is fine
    assert ModelConfig.from_pretrained(tmp_path).to_dict() == ModelConfig.from_preset("axk1-tiny").to_dict()
