"""Scaling laws, hardware table and closed-form accounting against published figures."""


import pytest

from axk1 import ModelConfig
from axk1.params import count_parameters
from axk1 import flops as accounting
from axk1 import hardware
from axk1.plan import arch, scaling


@pytest.mark.parametrize("preset", ["axk1-519b", "axk1-tiny", "axk1-mini", "axk1-gpu-small"])
def test_closed_form_counts_equal_meta_model(preset):
    config = ModelConfig.from_preset(preset)
    counts, meta = accounting.parameter_counts(config), count_parameters(config, with_mtp=True)
    assert (counts.total, counts.activated, counts.mtp) == (meta["total"], meta["activated"], meta["mtp"])


def test_closed_form_counts_on_a_search_shape():
    from axk1.plan.search import family_config

    config = family_config(3072, 26, 96, 6, 8, 3, 65536, 4096)
    meta = count_parameters(config)
    assert accounting.parameter_counts(config).total == meta["total"]
    assert accounting.parameter_counts(config).activated == meta["activated"]


def test_axk1_flops_and_ratios():
    config = ModelConfig.from_preset("axk1-519b")
    # docs/model.md: forward matmuls ~2 x 31.6B per token; M adds attention, training = 3x forward. DeepSeek LLM's
    # M counts the whole score matrix (12 n_layer d l_seq for MHA): 6 x 64 heads x (192 + 128) x 4096 x 61 layers
    m = accounting.non_embedding_flops_per_token(config, 4096)
    attention = 6 * 64 * (192 + 128) * 4096 * 61
    assert accounting.attention_flops_per_token(config, 4096, causal=False) == attention
    assert 6 * 30.4e9 + attention < m < 6 * 30.5e9 + attention
    assert arch.granularity(config) == 7.0
    assert arch.activation_ratio(config) == pytest.approx(9 / 193)


def test_budget_reproduces_axk1_report():
    budget = hardware.make_budget("H200", 1024, 73)
    assert budget.flops == pytest.approx(2.548e24, rel=0.01)  # docs/training.md, Budget
    assert budget.achieved_tflops == pytest.approx(0.40 * 989.4)


def test_budget_fp8_and_tflops():
    assert hardware.make_budget("h100", 8, 1, precision="fp8").achieved_tflops == pytest.approx(0.2 * 1978.9)
    assert hardware.make_budget("H200", 1024, 73, tflops=301.72).flops == pytest.approx(1.949e24, rel=0.01)


@pytest.mark.parametrize("kwargs, match", [
    (dict(gpu="TPUv5", gpus=8, days=1), "known GPUs: A100, H100"),
    (dict(gpu="H100", gpus=0, days=1), "--gpus must be a positive"),
    (dict(gpu="H100", gpus=8, days=-1), "--days must be a positive finite"),
    (dict(gpu="H100", gpus=8, days=float("inf")), "--days must be a positive finite number, got inf"),
    (dict(gpu="H100", gpus=8, days=float("nan")), "--days must be a positive finite"),
    (dict(gpu="H100", gpus=8, days=1, mfu=0), "--mfu must be a positive finite"),
    (dict(gpu="H100", gpus=8, days=1, mfu=1.5), "is not below"),
    (dict(gpu="H100", gpus=8, days=1, mfu=1.0), "is not below"),
    (dict(gpu="A100", gpus=8, days=1, precision="fp8"), "no FP8"),
])
def test_budget_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        hardware.make_budget(**kwargs)


def test_hardware_table_has_the_common_training_gpus():
    for name in ("A100", "H100", "H200", "B200", "GB200", "MI300X"):
        gpu = hardware.get_gpu(name)
        assert gpu.bf16_tflops > 0 and gpu.memory_gb > 0 and gpu.scale_up_gb_s > 0


def test_deepseek_law_surface_reproduces_published_allocation():
    for flops in (1e20, 1e23, 2.5e24):
        m, d = scaling.DEEPSEEK.optimal(flops)
        m_pub, d_pub = 0.1715 * flops ** 0.5243, 5.8316 * flops ** 0.4757  # DeepSeek LLM Eq. 4 as published
        assert m == pytest.approx(m_pub, rel=1e-3) and d == pytest.approx(d_pub, rel=1e-3)


def test_chinchilla_twenty_tokens_per_parameter():
    n, d = scaling.CHINCHILLA.optimal(5.76e23)  # Chinchilla's own budget: 70B params, 1.4T tokens
    assert n == pytest.approx(70e9, rel=0.25) and d == pytest.approx(1.4e12, rel=0.25)
    assert 15 < d / n < 30


def test_batch_and_learning_rate_laws():
    # DeepSeek LLM 67B: M ~ 4.2e11 FLOPs/token x 2T tokens = 8.4e23; it trained with 4,608 x 4K = 18.9M-token
    # batches at a peak LR of 3.2e-4 (arXiv 2401.02954, Table 2)
    assert scaling.optimal_batch_tokens(8.4e23) == pytest.approx(18.9e6, rel=0.1)
    assert scaling.optimal_learning_rate(8.4e23) == pytest.approx(3.2e-4, rel=0.1)


def test_leverage_law_hits_its_anchors_and_shape():
    assert scaling.efficiency_leverage(9 / 257, 8, 5.1e21) == pytest.approx(7.2)
    assert scaling.efficiency_leverage(9 / 257, 7, 3.29e24) == pytest.approx(11.5)
    # sparser is better, compute amplifies, granularity has an optimum in 8-12
    assert scaling.efficiency_leverage(0.02, 10, 1e23) > scaling.efficiency_leverage(0.05, 10, 1e23)
    assert scaling.efficiency_leverage(0.05, 10, 1e24) > scaling.efficiency_leverage(0.05, 10, 1e21)
    by_g = {g: scaling.efficiency_leverage(0.04, g, 1e23) for g in (2, 4, 8, 10, 12, 24, 48)}
    assert max(by_g, key=by_g.get) in (8, 10, 12)
    assert scaling.efficiency_leverage(1.0, 10, 1e23) == 1.0


def test_vocabulary_law_gives_axk1_optimum():
    # A.X K1: 30.43B activated non-vocabulary parameters, d 7168 -> ~132.5K, +25% -> ~163,840 (docs/model.md)
    v = scaling.optimal_vocab_size(30_430_529_536, 7168)
    assert v == pytest.approx(132_500, rel=0.02)
    assert scaling.optimal_vocab_size(30_430_529_536, 7168, 1.25) == pytest.approx(163_840, rel=0.02)
    assert scaling.optimal_vocab_size(30_430_529_536, 7168, 1.25) % 128 == 0


def test_memory_model_fits_axk1_on_its_cluster_only():
    from axk1.plan.memory import find_layout

    config = ModelConfig.from_preset("axk1-519b")
    assert find_layout(config, 1024, 141, 32768) is not None
    assert find_layout(config, 64, 141, 4096) is None  # 519B x 16 bytes of state alone: 130 GB on each of 64
