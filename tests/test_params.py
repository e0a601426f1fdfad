import json

from axk1 import ModelConfig
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
