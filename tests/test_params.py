import json

from axk1 import AXK1ForCausalLM, ModelConfig
from axk1.cli import main
from axk1.params import count_parameters


def test_519b_exact_counts():
    counts = count_parameters(ModelConfig.from_preset("axk1-519b"), with_mtp=True)
    assert counts["total"] == 518_983_059_456
    assert counts["activated"] == 32_779_339_776
    assert counts["mtp"] == 8_705_060_864  # one DeepSeek-style MTP module, listed apart (docs/model.md)
    rows = {r["module"]: r for r in counts["rows"]}
    assert rows["routed experts"]["total"] == 60 * 192 * 3 * 7168 * 2048
    assert rows["embedding"]["total"] == rows["lm_head"]["total"] == 163840 * 7168


def test_deepseek_v3_shape_gives_its_known_total():
    # docs/model.md: DeepSeek-V3's values give 671,026,419,200 with the router bias counted; axk1 keeps the bias as
    # a buffer (not a parameter) and has a post-MoE norm per layer, so adjust both.
    config = ModelConfig.from_preset("axk1-519b").replace(
        vocab_size=129280, num_attention_heads=128, n_routed_experts=256, first_k_dense_replace=3,
        bos_token_id=0, eos_token_id=1)  # DeepSeek-V3's ids (A.X K1's lie past its smaller vocabulary)
    counts = count_parameters(config)
    bias, post_norms = 58 * 256, 61 * 7168
    assert counts["total"] - post_norms + bias == 671_026_419_200


def test_cli_params_json(capsys, tmp_path):
    assert main(["params", "axk1-519b", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["total"], out["activated"]) == (518_983_059_456, 32_779_339_776)
    ModelConfig.from_preset("axk1-tiny").save_pretrained(tmp_path)
    assert main(["params", str(tmp_path / "config.json")]) == 0
    assert "TOTAL (no MTP)" in capsys.readouterr().out
    assert main(["params", "nope"]) == 2
    assert "known presets" in capsys.readouterr().err


def test_a_partial_config_names_the_fields_it_leaves_to_the_519b_defaults(tmp_path, capsys):
    """A config.json without a size field is filled with the 519B model's value (as transformers' config class
    does): the counts are then not the file's model, and `axk1 params` says which fields, with the value each got."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"hidden_size": 1024, "num_hidden_layers": 4, "vocab_size": 200000,
                                "mlp_layer_types": ["dense", "sparse", "sparse", "sparse"]}))
    assert main(["params", str(path), "--json"]) == 0
    out, err = capsys.readouterr()
    defaulted = json.loads(out)["defaulted"]
    assert "hidden_size" not in defaulted and "first_k_dense_replace" not in defaulted  # given (mlp_layer_types)
    assert defaulted["n_routed_experts"] == 192 and defaulted["moe_intermediate_size"] == 2048
    assert "does not set 13 of the fields that size the model" in err and "n_routed_experts = 192" in err
    # a complete file, a preset and a recipe's overrides leave nothing to the defaults
    ModelConfig.from_preset("axk1-tiny").save_pretrained(tmp_path / "tiny")
    for spec in (str(tmp_path / "tiny"), "axk1-tiny"):
        assert main(["params", spec, "--json"]) == 0
        out, err = capsys.readouterr()
        assert json.loads(out)["defaulted"] == {} and err == ""
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('[model]\nconfig = "config.json"\nmtp_depth = 1\n[model.overrides]\nn_routed_experts = 16\n'
                      'num_experts_per_tok = 2\nn_group = 4\ntopk_group = 2\n')
    assert main(["params", str(recipe)]) == 0
    err = capsys.readouterr().err
    assert "n_routed_experts" not in err and "num_nextn_predict_layers" not in err and "moe_intermediate_size = 2048" in err


def test_the_size_fields_are_those_that_change_the_counts():
    """Every field `axk1 params` reports as defaulted moves a count; a field it would miss could not."""
    from axk1.params import SIZE_FIELDS

    base = ModelConfig.from_preset("axk1-tiny")
    counts = count_parameters(base, with_mtp=True)
    for name in SIZE_FIELDS:
        value = getattr(base, name)
        changed = base.replace(**{name: (not value) if isinstance(value, bool) else
                                  value + 2 if name in ("qk_rope_head_dim",) else
                                  value * base.n_group if name == "n_routed_experts" else value + 1})
        assert count_parameters(changed, with_mtp=True) != counts, name


def test_the_table_says_a_small_model_in_a_unit_that_fits(capsys):
    assert main(["params", "axk1-tiny"]) == 0
    counts = count_parameters(ModelConfig.from_preset("axk1-tiny"))
    assert capsys.readouterr().out.splitlines()[-1] == (f"≈ {counts['total'] / 1e3:.2f}K total, "
                                                        f"{counts['activated'] / 1e3:.2f}K activated per token")
    from axk1.params import count_text

    assert [count_text(n) for n in (518_983_059_456, 999_996e6, 59_206_656, 950)] == ["518.98B", "1.00T", "59.21M", "950"]


def test_a_recipe_without_one_model_source_is_an_error_not_a_traceback(tmp_path, capsys):
    """`axk1 params recipe.toml` builds the [model] table alone, before the recipe's validation: a table with no
    source was a TypeError traceback, and one with both a preset and a config counted the preset silently."""
    for name, table in (("none", "mtp_depth = 1\n"), ("both", 'preset = "axk1-tiny"\nconfig = "c.json"\n')):
        path = tmp_path / f"{name}.toml"
        path.write_text("[model]\n" + table)
        assert main(["params", str(path)]) == 2
        assert "[model] needs exactly one of preset" in capsys.readouterr().err


def test_a_deep_model_is_counted_without_building_every_layer(monkeypatch):
    """`axk1 params` of `num_hidden_layers = 200000` built every layer on the meta device: minutes and gigabytes
    with no output. Layers come in two shapes, so one of each is built and the counts are the same as the closed
    form's (axk1/flops.py)."""
    import axk1.params as params
    from axk1.flops import parameter_counts

    built = []

    def recording(config, with_mtp=False):
        built.append(config.num_hidden_layers)
        return AXK1ForCausalLM(config, with_mtp=with_mtp)

    monkeypatch.setattr(params, "AXK1ForCausalLM", recording)
    for dense in (0, 1, 3, 40):
        config = ModelConfig.from_preset("axk1-tiny").replace(num_hidden_layers=40, first_k_dense_replace=dense)
        counts, closed = count_parameters(config, with_mtp=True), parameter_counts(config)
        assert (counts["total"], counts["activated"], counts["mtp"]) == (closed.total, closed.activated, closed.mtp)
    assert built == [1, 2, 2, 1]


def test_a_post_training_recipe_is_counted_from_its_model_table_alone(tmp_path, capsys):
    """`axk1 params` reads the [model] table alone, not through load_recipe: that refuses an SFT or RL recipe
    ("run `axk1 sft`"), a [model] table without the rest of a recipe, and an init_from folder whose weights are
    not there yet, none of which changes what the model counts."""
    ModelConfig.from_preset("axk1-tiny").save_pretrained(tmp_path / "base")  # config.json only, no weights
    recipe = tmp_path / "sft.toml"
    recipe.write_text('[model]\ninit_from = "base"\n[sft]\ndata = "missing/rows.jsonl"\n')
    assert main(["params", str(recipe), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["total"] == count_parameters(ModelConfig.from_preset("axk1-tiny").replace(num_nextn_predict_layers=1),
                                               with_mtp=True)["total"]
