"""The GPU check's figures (benchmarks/gpu_check_figures.py, step_diagnostics.kernel_kind): what it reports as the
steady tokens/s and MFU of a training part, the attention convention beside MFU, and which kernels it counts as
attention. A probe found the compiled part stopped at its first log step reporting that step's window (the compile
in it) as the steady MFU: 0.021 where a steady step's is ~0.40, with nothing in the JSON saying so."""

import importlib.util
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from axk1 import ModelConfig
from axk1.model.attention_mask import document_causal_mask
from axk1.train.recipe import load_recipe
from tests.synthetic_shards import write_synthetic_shards
from axk1.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]


def _module(monkeypatch, name: str):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # the scripts import their neighbours, as when run
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _trained(tmp_path, check, seconds: float, steps: int):
    """The check's own recipe (axk1-tiny, one layer, fp32: fast on CPU) and TimeLimit, trained until the limit
    ends it."""
    args = SimpleNamespace(preset="axk1-tiny", vocab=512, seqs=2, seq_len=64, device="cpu", precision="fp32",
                           model={}, steps=steps, train_seconds=seconds, compiled_seconds=seconds)
    write_synthetic_shards(tmp_path / "tokens", vocab_size=512, docs=32, doc_len=(8, 100))
    path = tmp_path / "recipe.toml"
    path.write_text(check.recipe_text(args, steps + 1, "run", every=2, layers=1))
    trainer = check.without_checkpoints(Trainer(load_recipe(path)))
    trainer.callbacks.append(check.TimeLimit(seconds, steps))
    with pytest.raises(check._OutOfTime):
        trainer.fit()
    return trainer, args


def test_a_part_stopped_at_its_first_log_step_has_no_steady_mfu_and_says_so(tmp_path, monkeypatch, capsys):
    """The time cap passed before the first log step (the compile takes it on a GPU): the one logged row's window
    holds the compile, so the check reports no tokens/s or MFU, says why and which option to raise, in the JSON and
    on stdout."""
    check = _module(monkeypatch, "gpu_check")
    trainer, args = _trained(tmp_path, check, seconds=0.0, steps=300)
    assert trainer.state.step == 2  # stopped at the first log step
    out = check.train_figures(tmp_path / "run", trainer, args, time.perf_counter())
    assert out["tokens_per_s"] is None and out["mfu"] is None and out["steady_steps"] == [], out
    assert "--train-seconds (0 now)" in out["not_measured"] and "at least two rows" in out["not_measured"]
    assert out["first_row_mfu_with_compile"] is not None  # kept, named as what it is
    assert "not measured" in capsys.readouterr().out


def test_the_first_logged_row_is_never_steady(tmp_path, monkeypatch):
    check = _module(monkeypatch, "gpu_check")
    trainer, args = _trained(tmp_path, check, seconds=1e9, steps=4)
    out = check.train_figures(tmp_path / "run", trainer, args, time.perf_counter())
    assert out["steady_steps"] == [4] and out["mfu"] > 0 and "not_measured" not in out
    attention = out["attention"]  # the check's rows pack documents: the mask needs part of the causal scores
    assert 0 < attention["document_causal_share"] < 1
    assert out["mfu"] * (1 - attention["attention_share_of_mfu_flops"]) < attention["mfu_document_causal"] < out["mfu"]
    figures = _module(monkeypatch, "gpu_check_figures")
    assert figures.steady_rows([{"step": s, "tokens_per_s": 1.0} for s in (2, 4, 6, 8, 10)]) == [
        {"step": s, "tokens_per_s": 1.0} for s in (6, 8, 10)]


def test_document_causal_share_is_the_dense_masks_share_of_the_causal_one(monkeypatch):
    """Against the model's own dense document mask (axk1.model.attention_mask), and one case by hand: documents of
    3 and 1 tokens need 6 + 1 of a 4-token row's 10 causal scores."""
    figures = _module(monkeypatch, "gpu_check_figures")
    assert figures.document_causal_share(torch.tensor([[0, 0, 0, 1]])) == pytest.approx(0.7)
    docs_BT = torch.randint(0, 2, (3, 97)).cumsum(1) // 9  # runs of various lengths
    mask = document_causal_mask(docs_BT)
    assert figures.document_causal_share(docs_BT) == pytest.approx(mask.sum().item() / (3 * 97 * 98 / 2))


def test_attention_convention_on_the_check_model(monkeypatch):
    """axk1-gpu-small at 4,096 tokens with MTP: attention is ~13% of MFU's count; at the probe's measured share of
    the check's rows (0.571) MFU counts 5.7% of its value in scores the mask does not need."""
    figures = _module(monkeypatch, "gpu_check_figures")
    config = ModelConfig.from_preset("axk1-gpu-small").replace(vocab_size=163840, max_position_embeddings=4096)
    out = figures.attention_convention(config, 4096, True, 0.571, 0.40)
    assert out["attention_share_of_mfu_flops"] == pytest.approx(0.133, abs=1e-3)
    assert out["mfu_overstated_by"] == pytest.approx(0.057, abs=1e-3)
    assert out["mfu_document_causal"] == pytest.approx(0.40 * (1 - out["mfu_overstated_by"]))


@pytest.mark.parametrize("name, kind", [
    ("triton_tem_fused_flex_attention_0", "attention"), ("triton_tem_fused_flex_attention_backward_zeros_1",
                                                         "attention"),
    ("aten::_scaled_dot_product_flash_attention_for_cpu", "attention"),
    # templates under --set torch._inductor.config.max_autotune=True: matmuls, not attention
    ("triton_tem_fused_mm_3", "matmul"), ("triton_tem_fused_addmm_t_view_12", "matmul"),
    ("triton_tem_fused__grouped_mm_7", "experts (grouped matmul)"),
    ("triton_poi_fused_add_mul_4", "compiled fusions"), ("nvjet_tst_128x256_64x4_1x2_h_bz_coopA_NNT", "matmul"),
])
def test_kernel_kinds_count_only_flex_attention_as_attention(monkeypatch, name, kind):
    assert _module(monkeypatch, "step_diagnostics").kernel_kind(name) == kind
