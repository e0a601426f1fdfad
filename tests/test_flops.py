"""One FLOPs-per-token count (axk1/flops.py) for the trainer's MFU and the planner's GPU time.

The planner counted attention over the whole T x T score matrix (DeepSeek LLM's M) when it turned GPU time into
tokens, and the trainer half of it (the causal mask) when it reported MFU: a plan made at `--mfu 0.4` predicted
the tokens of an MFU ~0.37 (4K) to ~0.29 (32K) run as `axk1 train` measures it, so it planned 7.5% fewer tokens on
A.X K1 at 4K and more days than the run takes. The oracle here is the trainer's own SpeedMonitor."""

from types import SimpleNamespace

import pytest
import torch

from axk1 import ModelConfig
from axk1.flops import attention_flops_per_token, non_embedding_flops_per_token, training_flops_per_token
from axk1.hardware import GPUS
from axk1.plan import planner
from axk1.plan.planner import make_plan
from axk1.plan.recipe import length_shares
from axk1.train import callbacks
from axk1.train.callbacks import SpeedMonitor


@pytest.mark.parametrize("preset", ["axk1-519b", "axk1-tiny"])
@pytest.mark.parametrize("with_mtp", [False, True])
@pytest.mark.parametrize("seq_len", [4096, 32768])
def test_causal_and_unhalved_differ_by_exactly_half_the_attention_scores(preset, with_mtp, seq_len):
    c = ModelConfig.from_preset(preset)
    layers = c.num_hidden_layers + (c.num_nextn_predict_layers if with_mtp else 0)
    # QK^T (qk_head_dim) and AV (v_head_dim): 2 FLOPs a multiply-add, x3 with the backward, half of T under the mask
    half = 3 * c.num_attention_heads * (c.qk_head_dim + c.v_head_dim) * seq_len * layers
    unhalved = training_flops_per_token(c, seq_len, with_mtp=with_mtp, causal=False)
    causal = training_flops_per_token(c, seq_len, with_mtp=with_mtp, causal=True)
    assert unhalved - causal == half
    assert attention_flops_per_token(c, seq_len, causal=True) * 2 == attention_flops_per_token(c, seq_len, causal=False)
    # the laws' scale is DeepSeek LLM's M whatever the trainer counts: the whole score matrix
    assert non_embedding_flops_per_token(c, seq_len) == training_flops_per_token(
        c, seq_len, with_mtp=False, causal=False) - 6.0 * c.vocab_size * c.hidden_size


def test_a_tied_head_costs_what_an_untied_one_does():
    """The trainer's old count subtracted the embedding matrix from the activated parameters; with tied weights that
    matrix is the head, so its matmul (2 V d a token forward) went uncounted and MFU read low."""
    untied = ModelConfig.from_preset("axk1-tiny")
    tied = untied.replace(tie_word_embeddings=True)
    for causal in (False, True):
        assert training_flops_per_token(tied, 512, with_mtp=True, causal=causal) == \
            training_flops_per_token(untied, 512, with_mtp=True, causal=causal)


def _mfu(monkeypatch, config, seq_len: int, tokens_per_s: float, peak_tflops: float, mtp: bool) -> float:
    """The MFU `axk1 train` logs for one device training `config` at `tokens_per_s` and `seq_len`."""
    clock = iter([100.0, 101.0])  # on_fit_start, then the step's end: 1 s
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    trainer = SimpleNamespace(
        recipe=SimpleNamespace(logging=SimpleNamespace(every_steps=1, peak_tflops=peak_tflops),
                               parallelism=SimpleNamespace(precision="bf16")),
        parallel=None, device=torch.device("cpu"), total_steps=10, config=config, domain_losses=dict, progress={},
        state=SimpleNamespace(step=0, tokens=0, skipped_steps=0), model=SimpleNamespace(mtp=object() if mtp else None))
    monitor = SpeedMonitor()
    monitor.on_fit_start(trainer)
    trainer.state.step, trainer.state.tokens = 1, tokens_per_s
    row = {"seq_len": seq_len, "stage": "s1", "tokens": tokens_per_s, "loss": 2.0}
    monitor.on_step_end(trainer, row)
    return row["mfu"]


@pytest.mark.parametrize("recipe", ["4K only", "4K to 32K"])
def test_the_planned_rate_is_the_rate_the_trainer_reports_at_that_mfu(monkeypatch, recipe):
    """A plan at --mfu m predicts tokens/s per GPU; training at that rate, the trainer reports MFU m (its
    token-weighted mean over the recipe's lengths: each length's MFU times the share of the tokens it trains)."""
    if recipe == "4K only":  # every stage at the base length: the long-context stage stops at 4K
        monkeypatch.setattr(planner, "context_lengths", lambda seq_len: [seq_len])
    mfu = 0.35
    plan = make_plan("H200", 1, 1, mfu=mfu)
    assert not plan.best.memory.layout.recompute  # recompute's repeated forward is no model FLOPs: not this check
    assert plan.context == (4096 if recipe == "4K only" else 32768)
    mtp = plan.best.memory.layout.cp == 1
    shares = length_shares(plan.seq_len, plan.context)
    reported = sum(share * _mfu(monkeypatch, plan.best.config, length, plan.tokens_per_second_per_gpu,
                                GPUS["H200"].bf16_tflops, mtp) for length, share in shares.items())
    assert reported == pytest.approx(mfu, rel=1e-9)
    # and so the days: the recipe's tokens at the rates the trainer reaches at MFU m take the days the plan says
    per_length = {length: mfu * GPUS["H200"].bf16_tflops * 1e12
                  / training_flops_per_token(plan.best.config, length, with_mtp=mtp, causal=True) for length in shares}
    seconds = sum(share * plan.best.tokens / per_length[length] for length, share in shares.items())
    assert plan.days == pytest.approx(seconds / 86400, rel=1e-9)
