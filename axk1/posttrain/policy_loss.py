"""Policy-gradient loss for RL with verifiable rewards: GSPO (or GRPO) under DAPO's conventions.

Legend (tensor-name suffixes): B completions in the batch, T completion tokens (right-padded, `mask_BT` marks the
real ones), G prompts (groups), K completions per prompt (B = G·K, a group's completions are contiguous),
X = 1 for level="sequence" (one ratio per completion, broadcast over its tokens) or T for level="token".

No value model: every prompt is sampled K times, a verifier scores each completion, and a completion's advantage
is its reward minus its group's mean (optionally divided by a std), shared by all of its tokens.

The ratio π_new/π_old corrects for the batch having been sampled by a slightly older policy, and clipping keeps
one update from moving the policy far from it. GRPO (level="token") takes one ratio per token and clips each
token on its own. GSPO (level="sequence") takes one ratio per completion: exp of the mean token log-ratio, the
geometric mean of the token ratios. The completion is then kept or clipped as a whole, the same unit the reward
scores, and a few tokens whose probability swung (frequent when MoE routing shifts) cannot dominate the
update. A length-normalised ratio sits much closer to 1, so GSPO wants far narrower clip ranges than GRPO's 0.2.
Its gradient: the (B, 1) ratio depends on every token, d ratio / d logp_t = ratio / L (L valid tokens), and its
L broadcast copies pass back L · ratio / L = ratio to each token. A per-token weight sg(ratio)·exp(logp_t −
sg(logp_t)) (sg = stop-gradient) gives each token that same value and gradient under every aggregation below, so
we keep the plain (B, 1) form, as TRL does.

DAPO's conventions: asymmetric clipping (clip_high > clip_low gives unlikely tokens room to grow, against entropy
collapse); token-level aggregation (every completion token in the batch weighs the same, so long answers are not
diluted by a per-sequence mean); no KL (beta=0); overlong completions leave the loss by zeroing their mask row
before the call; groups whose rewards are all equal carry zero advantage (drop them upstream to keep the batch
informative).

Aggregations (name, then TRL's loss_type of the same value):
  "token_mean"               sum over valid tokens / num_tokens (default: this batch's valid tokens)  dapo
  "seq_mean_token_mean"      mean over completions of each completion's token mean                     grpo
  "seq_mean_token_sum_norm"  token sum / (B · max_completion_length)                                   dr_grpo
  "seq_mean_token_sum"       mean over completions of each completion's token sum                      luspo
With level="sequence" every token of a completion carries the same term, so "token_mean" weighs completions by
their length and "seq_mean_token_mean" is the per-completion objective of GSPO itself.
TRL's "bnpo" has no name here: it divides each micro-batch by that micro-batch's own tokens, so its objective
changes with the micro-batch size (NOT_OFFERED says so to a recipe that asks for it); "dapo" is what it equals with
one micro-batch.
"""

from __future__ import annotations

import torch

AGGREGATIONS = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm", "seq_mean_token_sum")
TRL_LOSS_TYPES = {"dapo": "token_mean", "grpo": "seq_mean_token_mean",
                  "dr_grpo": "seq_mean_token_sum_norm", "luspo": "seq_mean_token_sum"}
NOT_OFFERED = {"bnpo": "TRL's bnpo divides each micro-batch by its own token count, so the objective would change "
                       "with [batch] micro_batch; use \"dapo\" (token_mean: the rollout batch's kept tokens over its "
                       "steps), which is bnpo with one micro-batch and updates_per_batch = 1"}


def _nanstd(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Unbiased (n − 1) std that skips NaN (unscorable) rewards; NaN where fewer than two values remain."""
    mean = torch.nanmean(x, dim=dim, keepdim=True)
    n = (~torch.isnan(x)).sum(dim=dim, keepdim=True)
    var = torch.nanmean((x - mean) ** 2, dim=dim, keepdim=True) * (n / (n - 1))
    var = torch.where(n > 1, var, torch.full_like(var, float("nan")))
    return var.sqrt() if dim is None else var.sqrt().squeeze(dim)


def group_advantages(rewards_B: torch.Tensor, group_size: int, scale: str = "group", eps: float = 1e-4) -> torch.Tensor:
    """Reward minus its group's mean, divided by (std + eps) unless scale="none".

    scale="group": the group's std; "batch": one std over the whole batch (the baseline stays the group mean): in RL
    the groups dynamic sampling kept, the ones trained (docs/posttraining.md, "GSPO / GRPO").
    The std is the unbiased one and eps is added to it (not under the root), as TRL does. NaN rewards (unscorable
    completions) are left out of mean and std and get advantage 0.
    """
    if scale not in ("group", "batch", "none"):
        raise ValueError(f"scale must be 'group', 'batch' or 'none', got {scale!r}")
    rewards_GK = rewards_B.view(-1, group_size)
    mean_B = torch.nanmean(rewards_GK, dim=1).repeat_interleave(group_size)
    adv_B = rewards_B - mean_B
    if scale == "group":  # a lone sample has no spread; its advantage is 0 anyway
        std_G = _nanstd(rewards_GK, dim=1) if group_size > 1 else torch.zeros(rewards_GK.shape[0])
        std_B = std_G.to(rewards_B).repeat_interleave(group_size)
        adv_B = adv_B / (std_B + eps)
    elif scale == "batch":
        std_B = _nanstd(rewards_B).expand_as(rewards_B) if rewards_B.numel() > 1 else torch.zeros_like(rewards_B)
        adv_B = adv_B / (std_B + eps)
    return torch.nan_to_num(adv_B, nan=0.0)


def importance_ratio(logp_BT: torch.Tensor, old_logp_BT: torch.Tensor, mask_BT: torch.Tensor,
                     level: str = "sequence") -> torch.Tensor:
    """π_new/π_old: (B, 1) geometric mean over valid tokens for "sequence", (B, T) per token for "token"."""
    # Padding may hold anything (even ±inf); zero its log-ratio so it can neither poison a sum nor get a gradient.
    log_ratio_BT = torch.where(mask_BT.bool(), logp_BT - old_logp_BT, 0.0)
    if level == "sequence":  # an empty row gets log-ratio 0 (ratio 1) instead of 0/0
        len_B = mask_BT.to(logp_BT.dtype).sum(-1).clamp(min=1.0)
        return torch.exp(log_ratio_BT.sum(-1) / len_B).unsqueeze(-1)
    if level == "token":
        return torch.exp(log_ratio_BT)
    raise ValueError(f"level must be 'sequence' or 'token', got {level!r}")


def policy_loss(logp_BT: torch.Tensor, old_logp_BT: torch.Tensor, advantages_B: torch.Tensor, mask_BT: torch.Tensor,
                *, level: str = "sequence", clip_low: float = 0.2, clip_high: float = 0.28,
                aggregation: str = "token_mean", ref_logp_BT: torch.Tensor | None = None, beta: float = 0.0,
                max_completion_length: int | None = None, delta: float | None = None,
                kl_ratio_correction: bool = True, num_tokens: int | torch.Tensor | None = None,
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped policy-gradient loss to minimise, and detached stats (0-dim fp32 tensors on the loss's device: none
    is read back to the host here, so a GPU update reads its stats once a step, not per micro-batch).

    logp_BT carries the gradient; old_logp_BT (sampling policy) and ref_logp_BT are constants. aggregation takes
    one of AGGREGATIONS or a TRL loss_type name. delta: optional cap on the unclipped ratio (two-sided clipping,
    TRL's `delta`). kl_ratio_correction multiplies the k3 KL by the (undetached) ratio, TRL's default
    `use_bias_correction_kl`. num_tokens: the "token_mean" divisor when one batch is split into micro-batches
    (the whole batch's valid-token count, so the micro-batch losses add up to the batch loss).
    Gradient-accumulation scaling is left to the caller.
    """
    agg = TRL_LOSS_TYPES.get(aggregation, aggregation)
    if aggregation in NOT_OFFERED:
        raise ValueError(f"aggregation {aggregation!r}: {NOT_OFFERED[aggregation]}")
    if agg not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS} or {tuple(TRL_LOSS_TYPES)}, got {aggregation!r}")
    if agg == "seq_mean_token_sum_norm" and max_completion_length is None:
        raise ValueError("aggregation 'seq_mean_token_sum_norm' (dr_grpo) needs max_completion_length")
    valid_BT = mask_BT.bool()
    m_BT = mask_BT.to(logp_BT.dtype)
    adv_B1 = advantages_B.reshape(-1, 1)

    ratio_BX = importance_ratio(logp_BT, old_logp_BT, mask_BT, level)
    clipped_BX = torch.clamp(ratio_BX, 1 - clip_low, 1 + clip_high)
    capped_BX = ratio_BX if delta is None else torch.clamp(ratio_BX, max=delta)
    # Pessimistic bound: of the two objectives take the smaller, so pushing the ratio past the clip range (in the
    # direction the advantage rewards) earns nothing and that term's gradient is zero.
    loss_BX = -torch.min(capped_BX * adv_B1, clipped_BX * adv_B1)

    loss_BT = loss_BX
    if beta != 0.0:
        if ref_logp_BT is None:
            raise ValueError("beta > 0 needs ref_logp_BT")
        # k3 estimator of KL(π_new || π_ref) per sampled token: exp(d) − d − 1, d = ref − logp; ≥ 0, unbiased.
        d_BT = torch.where(valid_BT, ref_logp_BT - logp_BT, 0.0)
        kl_BT = torch.exp(d_BT) - d_BT - 1
        if kl_ratio_correction:  # the samples came from π_old: reweighting by the ratio unbiases the KL gradient
            kl_BT = kl_BT * ratio_BX
        loss_BT = loss_BX + beta * kl_BT
    masked_BT = loss_BT * m_BT  # broadcasts a (B, 1) sequence term over its tokens

    if agg == "token_mean":
        denom = m_BT.sum() if num_tokens is None else torch.as_tensor(num_tokens, dtype=m_BT.dtype)
        loss = masked_BT.sum() / denom.clamp(min=1.0)
    elif agg == "seq_mean_token_mean":
        loss = (masked_BT.sum(-1) / m_BT.sum(-1).clamp(min=1.0)).mean()
    elif agg == "seq_mean_token_sum_norm":  # constant divisor: no length bias, no batch-content dependence
        loss = masked_BT.sum() / (logp_BT.shape[0] * max_completion_length)
    else:
        loss = masked_BT.sum(-1).mean()

    with torch.no_grad():
        # A term is clipped when the clip is what sets it: ratio below range with A < 0, or above with A > 0.
        low_BX = (capped_BX < 1 - clip_low) & (adv_B1 < 0)
        high_BX = (capped_BX > 1 + clip_high) & (adv_B1 > 0)

        def frac(x_BX: torch.Tensor) -> torch.Tensor:  # per token at token level, per completion at sequence level
            if level == "sequence":
                return x_BX.float().mean()
            return (x_BX * m_BT).sum() / m_BT.sum().clamp(min=1.0)

        # The ratios of the kept terms (valid tokens; completions with any), reduced with masks rather than selected
        # (a boolean index reads its count on the host: a sync per micro-batch on a GPU); NaN when none is kept.
        kept_BX = valid_BT if level == "token" else valid_BT.any(-1, keepdim=True)
        n_kept = kept_BX.sum()
        nan = torch.full((), float("nan"), device=ratio_BX.device)
        ratio = ratio_BX.detach().float()

        def when_kept(x: torch.Tensor) -> torch.Tensor:
            return torch.where(n_kept > 0, x, nan)

        # (a micro-batch with no term kept has no clip fraction either: NaN, left out of the means, not 0.0)
        stats = {"clip_frac_low": when_kept(frac(low_BX)), "clip_frac_high": when_kept(frac(high_BX)),
                 "clip_frac": when_kept(frac(low_BX | high_BX)),
                 "ratio_mean": when_kept((ratio * kept_BX).sum() / n_kept.clamp(min=1)),
                 "ratio_min": when_kept(torch.where(kept_BX, ratio, float("inf")).amin()),
                 "ratio_max": when_kept(torch.where(kept_BX, ratio, float("-inf")).amax())}
        if beta != 0.0:
            stats["kl_mean"] = when_kept((kl_BT * m_BT).sum() / m_BT.sum().clamp(min=1.0))
    return loss, {k: v.float() for k, v in stats.items()}
