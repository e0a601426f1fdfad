"""axk1.posttrain.policy_loss against TRL's own GRPOTrainer code (loss, gradient, logged stats, advantages), plus
properties that hold without TRL."""

import inspect
import textwrap
import warnings
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from axk1.posttrain.policy_loss import AGGREGATIONS, TRL_LOSS_TYPES, group_advantages, importance_ratio, policy_loss

B, K, T, MAX_LEN = 16, 4, 12, 12
CLIP = {"token": (0.2, 0.28), "sequence": (0.04, 0.06)}  # sequence ratios sit near 1: narrower range to hit both sides


def batch(seed: int, beta: float = 0.0):
    """Right-padded batch: lengths 0..T (row 0 empty on seed 1), garbage in the padding, advantages of both signs."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths[0], lengths[1] = T, 1
    if seed == 1:
        lengths[2] = 0
    mask = (torch.arange(T) < lengths[:, None]).long()
    old = -torch.rand(B, T, generator=g) * 3
    logp = old + 0.3 * torch.randn(B, T, generator=g)
    logp = torch.where(mask.bool(), logp, torch.full_like(logp, -50.0))  # padding logps are meaningless
    ref = old + 0.2 * torch.randn(B, T, generator=g) if beta else None
    adv = group_advantages(torch.randint(0, 3, (B,), generator=g).float(), K)
    return logp, old, adv, mask, ref


@pytest.fixture(scope="module")
def trl():
    try:
        from trl import GRPOConfig
        from trl.trainer.grpo_trainer import GRPOTrainer
        from trl.trainer.utils import nanstd
    except ImportError:
        pytest.skip("trl not installed")
    return SimpleNamespace(GRPOConfig=GRPOConfig, GRPOTrainer=GRPOTrainer, nanstd=nanstd)


class _OneProcess:
    """Single-process stand-in for accelerate.Accelerator (only the collectives the loss's logging calls)."""
    num_processes = 1

    def gather(self, x):
        return x

    def reduce(self, x, reduction="sum"):
        return x


def trl_loss(trl, logp, old, adv, mask, ref, num_items=None, **cfg):
    """Loss, d loss / d logp and logged metrics from TRL's GRPOTrainer._compute_loss, with the model forward stubbed
    to hand back `logp`. The trainer's attributes are set from a real GRPOConfig the way its __init__ sets them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = trl.GRPOConfig(output_dir="unused", report_to="none", use_cpu=True, **cfg)
    t = object.__new__(trl.GRPOTrainer)  # no __init__: no model, dataset or accelerator to build
    t.args, t.accelerator, t.model = args, _OneProcess(), SimpleNamespace(training=True)
    t.loss_type, t.importance_sampling_level, t.beta = args.loss_type, args.importance_sampling_level, args.beta
    t.epsilon_low = args.epsilon
    t.epsilon_high = args.epsilon_high if args.epsilon_high is not None else args.epsilon
    t.max_completion_length, t.top_entropy_quantile = args.max_completion_length, args.top_entropy_quantile
    t.off_policy_mask_threshold, t.use_vllm = args.off_policy_mask_threshold, False
    t.vllm_importance_sampling_correction, t.aux_loss_enabled, t._entropy_bonus_enabled = False, False, False
    t.current_gradient_accumulation_steps = args.gradient_accumulation_steps
    t._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    leaf = logp.clone().requires_grad_(True)
    t._get_per_token_logps_and_entropies = lambda *a, **k: (leaf, torch.zeros_like(leaf), None)
    inputs = {"prompt_ids": torch.zeros(B, 1, dtype=torch.long), "prompt_mask": torch.ones(B, 1, dtype=torch.long),
              "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": mask,
              "advantages": adv, "old_per_token_logps": old,
              "num_items_in_batch": mask.sum() if num_items is None else torch.tensor(num_items)}
    if ref is not None:
        inputs["ref_per_token_logps"] = ref
    loss = t._compute_loss(None, inputs)
    loss.backward()
    return loss.detach(), leaf.grad, {k: v[-1] for k, v in t._metrics["train"].items()}


def ours(logp, old, adv, mask, ref, level, aggregation, beta, **kw):
    leaf = logp.clone().requires_grad_(True)
    lo, hi = CLIP[level]
    loss, stats = policy_loss(leaf, old, adv, mask, level=level, clip_low=lo, clip_high=hi, aggregation=aggregation,
                              ref_logp_BT=ref, beta=beta, max_completion_length=MAX_LEN, **kw)
    loss.backward()
    return loss.detach(), leaf.grad, {k: float(v) for k, v in stats.items()}


@pytest.mark.parametrize("beta", [0.0, 0.05])
@pytest.mark.parametrize("loss_type", ["dapo", "bnpo", "grpo", "dr_grpo", "luspo"])  # bnpo: as dapo, one micro-batch
@pytest.mark.parametrize("level", ["sequence", "token"])
def test_loss_gradient_and_stats_equal_trl(trl, level, loss_type, beta):
    lo, hi = CLIP[level]
    seen_low = seen_high = False
    for seed in range(3):
        logp, old, adv, mask, ref = batch(seed, beta)
        l_ref, g_ref, m_ref = trl_loss(trl, logp, old, adv, mask, ref, loss_type=loss_type, beta=beta,
                                       importance_sampling_level=level, epsilon=lo, epsilon_high=hi,
                                       max_completion_length=MAX_LEN)
        ours_name = "dapo" if loss_type == "bnpo" else loss_type  # bnpo is not offered; dapo is it, one micro-batch
        l, g, s = ours(logp, old, adv, mask, ref, level, TRL_LOSS_TYPES[ours_name], beta)
        torch.testing.assert_close(l, l_ref, atol=1e-6, rtol=0)
        torch.testing.assert_close(g, g_ref, atol=1e-6, rtol=0)
        assert s["clip_frac_low"] == pytest.approx(m_ref["clip_ratio/low_mean"], abs=1e-6)
        assert s["clip_frac_high"] == pytest.approx(m_ref["clip_ratio/high_mean"], abs=1e-6)
        assert s["clip_frac"] == pytest.approx(m_ref["clip_ratio/region_mean"], abs=1e-6)
        if beta:
            assert s["kl_mean"] == pytest.approx(m_ref["kl"], abs=1e-6)
        seen_low, seen_high = seen_low or s["clip_frac_low"] > 0, seen_high or s["clip_frac_high"] > 0
    assert seen_low and seen_high, "the batches must clip on both sides"


def test_bnpo_refused_with_the_reason():
    """TRL's bnpo divides each micro-batch by its own tokens (with micro-batches of 7 and 4 tokens it gave -0.2586
    where dapo gives -0.4156): an alias to token_mean claimed an equality that held for one micro-batch only."""
    logp, old, adv, mask, ref = batch(0, 0.0)
    with pytest.raises(ValueError, match="micro-batch.*use \"dapo\""):
        policy_loss(logp, old, adv, mask, aggregation="bnpo")


@pytest.mark.parametrize("level", ["sequence", "token"])
def test_options_equal_trl(trl, level):
    """delta (two-sided cap), KL without the ratio correction, and DAPO's divisor taken from a larger batch."""
    lo, hi = CLIP[level]
    logp, old, adv, mask, ref = batch(2, beta=0.1)
    cases = [({"delta": 1.1}, {"delta": 1.1}), ({"use_bias_correction_kl": False}, {"kl_ratio_correction": False})]
    for trl_kw, our_kw in cases:
        l_ref, g_ref, _ = trl_loss(trl, logp, old, adv, mask, ref, loss_type="grpo", importance_sampling_level=level,
                                   epsilon=lo, epsilon_high=hi, beta=0.1, **trl_kw)
        l, g, _ = ours(logp, old, adv, mask, ref, level, "grpo", 0.1, **our_kw)
        torch.testing.assert_close((l, g), (l_ref, g_ref), atol=1e-6, rtol=0)
    # TRL's dapo divisor is num_items_in_batch · grad_accum / steps_per_generation: the whole generation batch's
    # tokens when that batch is cut into micro-batches. Ours takes that count as num_tokens.
    n_total = int(mask.sum()) * 3
    l_ref, g_ref, _ = trl_loss(trl, logp, old, adv, mask, None, num_items=n_total, loss_type="dapo",
                               importance_sampling_level=level, epsilon=lo, epsilon_high=hi,
                               gradient_accumulation_steps=3, steps_per_generation=3)
    l, g, _ = ours(logp, old, adv, mask, None, level, "token_mean", 0.0, num_tokens=n_total)
    torch.testing.assert_close((l, g), (l_ref, g_ref), atol=1e-6, rtol=0)


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_advantages_equal_trl(trl, scale):
    """Runs TRL's own advantage lines (cut from _generate_and_score_completions) on the same rewards."""
    src = inspect.getsource(trl.GRPOTrainer._generate_and_score_completions).splitlines()
    start = next(i for i, s in enumerate(src) if 'if self.multi_objective_aggregation == "sum_then_normalize"' in s)
    end = next(i for i, s in enumerate(src) if "advantages = torch.nan_to_num(advantages, nan=0.0)" in s)
    block = textwrap.dedent("\n".join(src[start:end + 1]))
    g = torch.Generator().manual_seed(7)
    rewards = torch.randint(0, 4, (B,), generator=g).float()
    rewards[:K] = 1.0  # one all-equal group
    rewards[K + 1] = float("nan")  # one unscorable completion
    ns = {"torch": torch, "nanstd": trl.nanstd, "num_generations": K, "device": "cpu",
          "rewards_per_func": rewards[:, None].clone(), "unscorable_mask": torch.isnan(rewards),
          "self": SimpleNamespace(multi_objective_aggregation="sum_then_normalize", scale_rewards=scale,
                                  reward_weights=torch.ones(1), reward_funcs=[None])}
    exec(block, ns)
    torch.testing.assert_close(group_advantages(rewards, K, scale), ns["advantages"], atol=1e-6, rtol=0)


# ---- without TRL ----

def _lengths_mask():
    mask = (torch.arange(T) < torch.tensor([T, 3, 7, 1, 5, 9, 2, 12])[:, None]).long()
    return mask, torch.tensor([1.0, -0.5, 2.0, -1.5, 0.3, -0.7, 0.0, 0.9])


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@pytest.mark.parametrize("level", ["sequence", "token"])
def test_ratio_one_gives_minus_mean_advantage(level, aggregation):
    mask, adv = _lengths_mask()
    logp = -torch.rand(8, T)
    loss, s = policy_loss(logp, logp.clone(), adv, mask, level=level, aggregation=aggregation, max_completion_length=T)
    L = mask.sum(-1).float()
    expected = {"token_mean": (adv * L).sum() / L.sum(), "seq_mean_token_mean": adv.mean(),
                "seq_mean_token_sum_norm": (adv * L).sum() / (8 * T), "seq_mean_token_sum": (adv * L).mean()}
    torch.testing.assert_close(loss, -expected[aggregation])
    assert s["ratio_min"] == s["ratio_max"] == 1.0 and s["clip_frac"] == 0.0


def test_sequence_ratio_is_geometric_mean_of_token_ratios():
    mask, _ = _lengths_mask()
    old = -torch.rand(8, T, dtype=torch.float64)
    logp = old + 0.3 * torch.randn(8, T, dtype=torch.float64)
    seq_B1 = importance_ratio(logp, old, mask, "sequence")
    tok_BT = importance_ratio(logp, old, mask, "token")
    for b in range(8):
        r = tok_BT[b, mask[b].bool()]
        torch.testing.assert_close(seq_B1[b, 0], r.prod() ** (1 / r.numel()))


def test_gspo_gradient_equals_gspo_token_form():
    """The (B, 1) ratio's gradient equals that of the per-token weight sg(s)·exp(logp − sg(logp))."""
    mask, adv = _lengths_mask()
    old = -torch.rand(8, T, dtype=torch.float64)
    logp = (old + 0.01 * torch.randn(8, T, dtype=torch.float64)).requires_grad_(True)
    loss, _ = policy_loss(logp, old, adv, mask, level="sequence", clip_low=1.0, clip_high=1e9,
                          aggregation="seq_mean_token_mean")
    (g,) = torch.autograd.grad(loss, logp)
    s_B1 = importance_ratio(logp, old, mask, "sequence").detach()
    w_BT = s_B1 * torch.exp(logp - logp.detach())
    m = mask.double()
    ref = ((-w_BT * adv[:, None] * m).sum(-1) / m.sum(-1)).mean()
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(g, torch.autograd.grad(ref, logp)[0])


def test_clipped_sequence_has_no_gradient():
    mask, _ = _lengths_mask()
    old = -torch.rand(8, T)
    shift = torch.tensor([0.5, -0.5, 0.5, -0.5, 0.01, 0.01, 0.01, 0.01])[:, None]  # rows 0-3 far outside the range
    adv = torch.tensor([1.0, -1.0, -1.0, 1.0, 1.0, -1.0, 1.0, -1.0])
    logp = (old + shift).requires_grad_(True)
    loss, s = policy_loss(logp, old, adv, mask, level="sequence", clip_low=0.1, clip_high=0.1)
    loss.backward()
    g = logp.grad
    assert (g[:2] == 0).all()  # ratio 1.65 with A > 0, ratio 0.61 with A < 0: the clip sets the term
    assert (g[2:][mask[2:].bool()] != 0).all()  # same ratios, other sign of A (and rows in range) still learn
    assert s["clip_frac_high"] == s["clip_frac_low"] == 1 / 8


@pytest.mark.parametrize("level", ["sequence", "token"])
def test_masked_tokens_get_zero_gradient(level):
    mask, adv = _lengths_mask()
    old = -torch.rand(8, T)
    logp = old + 0.1 * torch.randn(8, T)
    pad = ~mask.bool()
    logp[pad], old[pad] = float("-inf"), 5.0  # padding may hold anything
    ref = old - 0.1
    ref[pad] = float("nan")
    leaf = logp.requires_grad_(True)
    for agg in AGGREGATIONS:
        loss, _ = policy_loss(leaf, old, adv, mask, level=level, aggregation=agg, max_completion_length=T,
                              ref_logp_BT=ref, beta=0.1)
        (g,) = torch.autograd.grad(loss, leaf)
        assert torch.isfinite(loss) and (g[pad] == 0).all() and (g[mask.bool()] != 0).any()


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_equal_rewards_give_zero_advantage(scale):
    rewards = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5])
    adv = group_advantages(rewards, 4, scale)
    assert (adv[:4] == 0).all() and (adv[8:] == 0).all() and (adv[4:8] != 0).all()


def test_group_std_is_unbiased_with_eps_outside_the_root():
    adv = group_advantages(torch.tensor([0.0, 1.0]), 2)
    torch.testing.assert_close(adv, torch.tensor([-0.5, 0.5]) / (0.5 ** 0.5 + 1e-4))


@pytest.mark.parametrize("level", ["sequence", "token"])
def test_the_loss_and_its_stats_read_nothing_back_from_the_device(level):
    """A GPU update must not wait on the device per micro-batch: the stats stay 0-dim tensors (the RL update reads
    them once a minibatch), and the kept ratios are reduced under masks, not selected (a boolean index reads its
    count). A row with no valid token at all still gives NaN-free fractions and NaN-free ratios."""
    from tests.device_reads import DeviceReads

    mask, adv = _lengths_mask()
    mask[3] = 0
    old = -torch.rand(8, T)
    logp = (old + 0.3 * torch.randn(8, T)).requires_grad_(True)
    with DeviceReads() as reads:
        loss, stats = policy_loss(logp, old, adv, mask, level=level, beta=0.1, ref_logp_BT=old)
        loss.backward()
    assert reads.n == 0
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in stats.values())
    kept = logp.detach().sub(old).exp()[mask.bool()] if level == "token" else None
    if kept is not None:
        assert float(stats["ratio_min"]) == pytest.approx(float(kept.min()), rel=1e-6)
        assert float(stats["ratio_max"]) == pytest.approx(float(kept.max()), rel=1e-6)
        assert float(stats["ratio_mean"]) == pytest.approx(float(kept.mean()), rel=1e-5)
    empty = policy_loss(logp, old, adv, torch.zeros_like(mask), level=level)[1]
    assert torch.isnan(empty["ratio_min"]) and torch.isnan(empty["ratio_mean"])
