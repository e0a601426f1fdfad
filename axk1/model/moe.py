"""Mixture of experts: DeepSeek-V3's sigmoid router with group-limited top-k, stacked experts, a shared expert.

Legend: N tokens (batch and time flattened), D hidden, E routed experts, G groups, K experts per token,
F expert width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from axk1.config import ModelConfig
from axk1.model.expert_kernels import CombineRows, GatherRows, WeightedSwiGLU, weights_in_compute_dtype


class MLP(nn.Module):
    """SwiGLU feed-forward: the dense layers and the shared expert."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.up_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.down_proj = nn.Linear(hidden_dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Router(nn.Module):
    """Sigmoid scores in fp32; the correction bias steers selection only, weights come from the raw scores.

    `e_score_correction_bias` is the auxiliary-loss-free balancing bias: an fp32 buffer the trainer moves
    after each optimizer step (never a parameter, so no optimizer touches it). The released A.X K1 ships none,
    so it loads as zeros.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_experts, self.top_k = config.n_routed_experts, config.num_experts_per_tok
        self.n_group, self.topk_group = config.n_group, config.topk_group
        self.norm_topk_prob, self.scaling = config.norm_topk_prob, config.routed_scaling_factor
        self.weight = nn.Parameter(torch.empty(config.n_routed_experts, config.hidden_size))
        self.register_buffer("e_score_correction_bias", torch.zeros(config.n_routed_experts, dtype=torch.float32))

    def _apply(self, fn, recurse=True):
        # model.to(bfloat16) must not round the balancing bias: keep it fp32, wherever it moves.
        bias = self.e_score_correction_bias
        super()._apply(fn, recurse)
        moved = self.e_score_correction_bias
        if moved.dtype != torch.float32:
            self.e_score_correction_bias = moved.float() if bias.is_meta else bias.to(moved.device)
        return self

    def forward(self, x_ND: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (weights [N, K] fp32, expert ids [N, K], scores [N, E] fp32). fp32 under autocast too (which would
        otherwise run this linear in bf16): the top-k choice must not flip on bf16 rounding."""
        with torch.autocast(x_ND.device.type, enabled=False):
            scores_NE = F.linear(x_ND.float(), self.weight.float()).sigmoid()
        weights_NK, idx_NK = self.select(scores_NE)
        return weights_NK, idx_NK, scores_NE

    def select(self, scores_NE: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(weights [N, K], expert ids [N, K]) from the sigmoid scores [N, E] (fp32)."""
        choice_NE = scores_NE + self.e_score_correction_bias
        if self.topk_group < self.n_group:
            N = scores_NE.shape[0]
            choice_NGe = choice_NE.view(N, self.n_group, -1)
            group_score_NG = choice_NGe.topk(2, dim=-1).values.sum(-1)
            # Mark the dropped groups and mask by broadcasting over their experts: fewer ops than a kept mask
            # expanded to [N, E] and inverted (decoding is bound by per-op overhead).
            dropped_NG = torch.ones_like(group_score_NG, dtype=torch.bool)
            dropped_NG.scatter_(1, group_score_NG.topk(self.topk_group, dim=-1, sorted=False).indices, False)
            choice_NE = choice_NGe.masked_fill(dropped_NG[:, :, None], float("-inf")).view(N, -1)
        idx_NK = choice_NE.topk(self.top_k, dim=-1, sorted=False).indices
        weights_NK = scores_NE.gather(1, idx_NK)
        if self.norm_topk_prob:
            weights_NK = weights_NK / (weights_NK.sum(-1, keepdim=True) + 1e-20)
        return (weights_NK * self.scaling if self.scaling != 1.0 else weights_NK), idx_NK


def expert_counts(idx_NK: torch.Tensor, n_experts: int, sync_free: bool | None = None) -> torch.Tensor:
    """Assignments per expert [E] (int64). On CUDA `torch.bincount` reads its input's min and max on the host (a
    sync per MoE layer, 64 a step of the H200 check: docs/gpu.md), so an accelerator (sync_free, by default any
    device but the CPU, and any compiled graph: bincount's output size depends on the data) scatters ones instead;
    on the CPU bincount is the faster and a read costs nothing."""
    flat_M = idx_NK.reshape(-1)
    if sync_free is None:
        sync_free = flat_M.device.type != "cpu" or torch.compiler.is_compiling()
    if not sync_free:
        return torch.bincount(flat_M, minlength=n_experts)
    return torch.zeros(n_experts, dtype=torch.long, device=flat_M.device).scatter_add_(0, flat_M, torch.ones_like(flat_M))


class GroupedExperts(nn.Module):
    """E SwiGLU experts stored stacked, gate and up fused (gate_up [E, 2F, D], down [E, D, F]), run as grouped
    matmuls. The checkpoint stores them per expert and unfused; axk1.checkpoint.hf splits and joins them."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        E, D, Fe = config.n_routed_experts, config.hidden_size, config.moe_intermediate_size
        self.n_experts, self.width = E, Fe
        self.gate_up_proj = nn.Parameter(torch.empty(E, 2 * Fe, D))
        self.down_proj = nn.Parameter(torch.empty(E, D, Fe))

    def _swiglu(self, gate_up: torch.Tensor) -> torch.Tensor:
        gate, up = gate_up.split(self.width, dim=-1)
        return F.silu(gate) * up

    def forward(self, x_ND: torch.Tensor, idx_NK: torch.Tensor, weights_NK: torch.Tensor) -> torch.Tensor:
        K = idx_NK.shape[1]
        gate_up_EFD, down_EDF = weights_in_compute_dtype(x_ND, self.gate_up_proj, self.down_proj)
        # Sort the M = N*K (token, expert) assignments by expert so each expert's tokens are one contiguous block.
        order_M = idx_NK.reshape(-1).argsort(stable=True)
        token_M = order_M // K
        counts_E = expert_counts(idx_NK, self.n_experts)
        offsets_E = counts_E.cumsum(0).to(torch.int32)
        x_MD = GatherRows.apply(x_ND, token_M, order_M, K, gate_up_EFD.dtype)  # in the compute dtype (bf16 under autocast)
        # The routing weight scales the expert's output; applying it before the (linear) down projection is the
        # same and touches F instead of D values per assignment.
        h_MF = WeightedSwiGLU.apply(torch._grouped_mm(x_MD, gate_up_EFD.transpose(-2, -1), offs=offsets_E), self.width,
                             weights_NK.reshape(-1)[order_M, None].to(gate_up_EFD.dtype))
        y_MD = torch._grouped_mm(h_MF, down_EDF.transpose(-2, -1), offs=offsets_E)
        return CombineRows.apply(y_MD, token_M, x_ND.shape[0], x_ND.dtype)

    def forward_loop(self, x_ND: torch.Tensor, idx_NK: torch.Tensor, weights_NK: torch.Tensor) -> torch.Tensor:
        """The plain per-expert loop: slow, obviously right; the reference the fast paths are tested against."""
        out_ND = torch.zeros_like(x_ND)
        for e in idx_NK.unique().tolist():
            token_idx, slot = torch.where(idx_NK == e)
            h = self._swiglu(F.linear(x_ND[token_idx], self.gate_up_proj[e]))
            y = F.linear(h, self.down_proj[e]) * weights_NK[token_idx, slot, None]
            out_ND.index_add_(0, token_idx, y.to(x_ND.dtype))
        return out_ND


def sequence_balance_loss(scores_BTE: torch.Tensor, idx_NK: torch.Tensor, alpha: float) -> torch.Tensor:
    """α · mean over sequences of Σ_e f_e · P_e (DeepSeek-V3 eq. 17-20): f_e = E/(K·T) x the tokens of the sequence
    routed to e (no gradient), P_e = the sequence's mean of the scores normalised over experts. It is smallest when
    every sequence spreads its tokens evenly, so no single sequence can pile onto a few experts."""
    B, T, E = scores_BTE.shape
    K = idx_NK.shape[-1]
    with torch.no_grad():
        counts_BE = torch.zeros(B, E, dtype=scores_BTE.dtype, device=scores_BTE.device)
        counts_BE.scatter_add_(1, idx_NK.view(B, T * K), torch.ones(B, T * K, dtype=scores_BTE.dtype,
                                                                   device=scores_BTE.device))
        f_BE = counts_BE * (E / (K * T))
    p_BE = (scores_BTE / scores_BTE.sum(-1, keepdim=True)).mean(dim=1)
    return alpha * (f_BE * p_BE).sum(-1).mean()


class MoE(nn.Module):
    """Routed experts plus the shared expert. (The post-MoE RMSNorm lives in the decoder layer.)"""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.gate = Router(config)
        self.experts = GroupedExperts(config)
        self.shared_experts = (
            MLP(config.hidden_size, config.moe_intermediate_size * config.n_shared_experts)
            if config.n_shared_experts > 0 else None
        )
        self.use_grouped_mm = True
        # DeepSeek-V3's complementary sequence-wise balance loss weight α (0: off); the trainer sets it from the
        # recipe and adds every layer's `aux_loss` (set in training mode) to the objective.
        self.seq_aux_alpha = 0.0
        self.aux_loss: torch.Tensor | None = None
        # Tokens routed to each expert in the last forward: read by the trainer for load balancing and logging.
        self.register_buffer("tokens_per_expert", torch.zeros(config.n_routed_experts, dtype=torch.long), persistent=False)

    def forward(self, x_BTD: torch.Tensor) -> torch.Tensor:
        x_ND = x_BTD.reshape(-1, x_BTD.shape[-1])
        weights_NK, idx_NK, scores_NE = self.gate(x_ND)
        if self.training:
            with torch.no_grad():
                self.tokens_per_expert = expert_counts(idx_NK, self.gate.n_experts)
            self.aux_loss = (sequence_balance_loss(scores_NE.view(*x_BTD.shape[:2], -1), idx_NK, self.seq_aux_alpha)
                             if self.seq_aux_alpha > 0 else None)
        run = self.experts if self.use_grouped_mm else self.experts.forward_loop
        y_ND = run(x_ND, idx_NK, weights_NK)
        if self.shared_experts is not None:
            y_ND = y_ND + self.shared_experts(x_ND)
        return y_ND.view_as(x_BTD)
