"""One new token per row against the latent KV cache: the decoding hot path of AXK1ForCausalLM.forward_latent.

A decode step of a small model on CPU costs per op and per Python call far more than it costs arithmetic (the
bench model's step reads ~18 MB of weights, ~0.4 ms at L3 bandwidth, yet took ~2 ms through the modules). So this
runs the same math as the modules on plain tensors resolved once per generation: no nn.Module calls or attribute
lookups per step, weights as pre-transposed views for `torch.mm`, residual adds and the routing weights folded into
`addmm`, attention in the latent space with heads as the batch of `bmm`, and on CPU the few chosen experts run one
by one from their stacked weights in place (gathering them would copy ~1 MB per layer per step; a grouped matmul
would visit all E). On an accelerator they run as the training layer's grouped matmuls over the assignments (no host
sync; each chosen expert's weights read once: gathering a copy per assignment, as this did first, moved 1.8 GB a
MoE layer and step for 32 rows of the 2B check model); under torch.compile in fp32, whose `_grouped_mm` has no
compile rule, as one gathered batched matmul.

Legend: B rows, T new tokens per row (1 when decoding), A = B*T (the per-token ops see them as rows: _mlp and
_moe call them B), D hidden, H heads, N qk_nope_head_dim, R qk_rope_head_dim, V v_head_dim,
C kv_lora_rank, L = C + R latent width, Q q_lora_rank, S attended cache slots, E routed experts, K experts per
token, F expert width, W vocabulary.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from axk1.model.kv_cache import store_latent
from axk1.model.norm import rms_norm_no_grad
from axk1.model.rope import rope_rotation


# From this many rows a step on the host loop runs each chosen expert once over its rows (see _moe)...
GROUP_ROWS_FROM = 4
# ...and when at least this share of the experts is chosen, all of them as one padded batched matmul.
PAD_EXPERTS_FROM = 0.5
# How a decode step runs a MoE layer's chosen experts: one by one with their ids read on the host (CPU), as grouped
# matmuls over the assignments sorted by expert (accelerators), or as one batched matmul over a gathered copy of
# each assignment's expert (torch.compile of fp32 weights, which `_grouped_mm` cannot compile).
EXPERT_PATHS = ("loop", "grouped", "gathered")


def device_only_experts(dtype: torch.dtype) -> str:
    """The path that runs whole on the device for weights of `dtype`, as a compiled graph or a captured CUDA graph
    needs: grouped matmuls in bf16; otherwise the gathered bmm (fp32 `_grouped_mm` has no compile rule, and CUDA's
    fallback for it reads the group offsets on the host)."""
    return "grouped" if dtype == torch.bfloat16 else "gathered"


def default_experts(x_AD: torch.Tensor) -> str:
    if torch.compiler.is_compiling():
        return device_only_experts(x_AD.dtype)
    return "loop" if x_AD.device.type == "cpu" else "grouped"

class LayerWeights:
    """One decoder layer's weights as plain tensors (views of the parameters: nothing is copied)."""

    def __init__(self, layer, config) -> None:
        attn = layer.self_attn
        self.eps = config.rms_norm_eps
        self.ln_in, self.ln_post_attn = layer.input_layernorm.weight, layer.post_attention_layernorm.weight
        self.q_aT_DQ, self.q_a_norm = attn.q_a_proj.weight.t(), attn.q_a_layernorm.weight
        self.low_rank_eps = attn.q_a_layernorm.eps  # not rms_norm_eps (axk1.model.mla: LOW_RANK_NORM_EPS)
        self.q_bT = attn.q_b_proj.weight.t()
        self.kv_aT_DL, self.kv_norm = attn.kv_a_proj_with_mqa.weight.t(), attn.kv_a_layernorm.weight
        w_uk_HNC, w_uv_HVC = attn.absorbed_weights()
        self.w_uk_HNC, self.w_uv_HCV = w_uk_HNC, w_uv_HVC.transpose(1, 2)
        self.oT = attn.o_proj.weight.t()
        self.scale = attn.scale
        self.is_moe = layer.is_moe
        mlp = layer.mlp
        if not self.is_moe:
            self.gateT, self.upT, self.downT = mlp.gate_proj.weight.t(), mlp.up_proj.weight.t(), mlp.down_proj.weight.t()
            return
        self.ln_post_mlp = layer.post_mlp_layernorm.weight
        self.router = mlp.gate
        self.routerT_DE = mlp.gate.weight.t()
        self.experts = mlp.experts
        self.gate_upT_EDF2 = mlp.experts.gate_up_proj.transpose(1, 2)
        self.downT_EFD = mlp.experts.down_proj.transpose(1, 2)
        self.width = mlp.experts.width
        shared = mlp.shared_experts
        self.shared = None if shared is None else (
            shared.gate_proj.weight.t(), shared.up_proj.weight.t(), shared.down_proj.weight.t())


class LatentDecoder:
    """`decoder(ids_BT, positions_BT, cache, slot, mask)` → logits [B, T, W], equal to `model.forward_latent(...)`
    for T new tokens per row (one when decoding; a drafted few when verifying them, axk1/infer/speculative.py).
    Build it once per generation and call it every step.

    slot: an int (all rows write at [slot, slot + T)) or a LongTensor [B] of per-row slots (T = 1); mask spans the
    S cache slots to attend over: boolean [B, 1, T, S] (True = attend) or the additive bias (0 / -inf) of the
    activations' dtype.
    """

    def __init__(self, model, experts: str | None = None) -> None:
        """experts: how a MoE layer runs its chosen experts (`EXPERT_PATHS`); by default "loop" on CPU outside
        torch.compile (their ids read on the host, where a read is free), else "grouped", or "gathered" when compiling
        fp32 weights."""
        if experts not in (None, *EXPERT_PATHS):
            raise ValueError(f"experts must be one of {EXPERT_PATHS}, not {experts!r}")
        config = model.config
        self.experts = experts
        self.config = config
        self.embed_WD = model.model.embed_tokens.weight
        self.rotary = model.model.rotary_emb
        self.layers = [LayerWeights(layer, config) for layer in model.model.layers]
        self.norm = model.model.norm.weight
        self.headT_DW = model.lm_head.weight.t()
        self.H, self.N, self.C = config.num_attention_heads, config.qk_nope_head_dim, config.kv_lora_rank

    @torch.no_grad()
    def __call__(self, ids_BT: torch.Tensor, positions_BT: torch.Tensor, cache, slot: int | torch.Tensor,
                 mask_B1TS: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, W] of T new tokens per row (T = 1 when decoding; a few when verifying a draft)."""
        B, T = ids_BT.shape
        return self.logits(self.hidden(ids_BT, positions_BT, cache, slot, mask_B1TS)).view(B, T, -1)

    @torch.no_grad()
    def hidden(self, ids_BT: torch.Tensor, positions_BT: torch.Tensor, cache, slot: int | torch.Tensor,
               mask_B1TS: torch.Tensor) -> torch.Tensor:
        """The last layer's output [A, D] (before the final norm: MTP drafts from it), the new tokens' latents
        written to `cache` at [slot, slot + T)."""
        B, T = ids_BT.shape
        x_AD = self.embed_WD.index_select(0, ids_BT.reshape(B * T))
        rot_ARR, bias_BTS = self.rotation_and_bias(positions_BT, mask_B1TS, x_AD.dtype)
        for i, lw in enumerate(self.layers):
            x_AD = self.layer(lw, x_AD, rot_ARR, cache.latent[i], slot, bias_BTS)
        return x_AD

    def logits(self, h_AD: torch.Tensor) -> torch.Tensor:
        return torch.mm(rms_norm_no_grad(h_AD, self.norm, self.config.rms_norm_eps), self.headT_DW)

    def rotation_and_bias(self, positions_BT: torch.Tensor, mask_B1TS: torch.Tensor, dtype: torch.dtype):
        """The rope rotation per new token [A, R, R] and the additive attention bias [B, T, S] of a step."""
        B, T = positions_BT.shape
        rot_BTRR = rope_rotation(*self.rotary(positions_BT), self.config.rope_interleave)
        rot_ARR = rot_BTRR.view(B * T, *rot_BTRR.shape[-2:])
        if rot_ARR.dtype != dtype:  # apply_rope rounds cos and sin to the activations' dtype the same way
            rot_ARR = rot_ARR.to(dtype)
        bias_BTS = mask_B1TS.view(B, T, -1)
        if bias_BTS.dtype == torch.bool:
            bias_BTS = torch.zeros(bias_BTS.shape, dtype=dtype, device=bias_BTS.device).masked_fill_(
                bias_BTS.logical_not(), float("-inf"))
        return rot_ARR, bias_BTS

    def layer(self, lw: LayerWeights, x_AD, rot_ARR, cache_BSL, slot, bias_BTS) -> torch.Tensor:
        """One decoder layer (attention then MLP or MoE) over the step's A = B*T new tokens."""
        x_AD = self._attention(lw, x_AD, rot_ARR, cache_BSL, slot, bias_BTS)
        return self._moe(lw, x_AD, self.experts or default_experts(x_AD)) if lw.is_moe else self._mlp(lw, x_AD)

    def _attention(self, lw: LayerWeights, x_AD, rot_ARR, cache_BSL, slot, bias_BTS) -> torch.Tensor:
        """x + MLA(norm(x)) in the absorbed form (MLA.forward_latent), A = B*T new tokens."""
        (B, T, S), H, N, C = bias_BTS.shape, self.H, self.N, self.C
        h_AD = rms_norm_no_grad(x_AD, lw.ln_in, lw.eps)
        q_AQ = rms_norm_no_grad(torch.mm(h_AD, lw.q_aT_DQ), lw.q_a_norm, lw.low_rank_eps)
        q_AHK = torch.mm(q_AQ, lw.q_bT).view(B * T, H, -1)
        kv_AL = torch.mm(h_AD, lw.kv_aT_DL)
        latent_AL = torch.cat([rms_norm_no_grad(kv_AL[:, :C], lw.kv_norm, lw.low_rank_eps),
                               torch.bmm(kv_AL[:, None, C:], rot_ARR).view(B * T, -1)], dim=1)
        if latent_AL.dtype != cache_BSL.dtype:
            latent_AL = latent_AL.to(cache_BSL.dtype)
        # keys [c_kv | k_rope]; values: c_kv, a view of the same memory (cache_BSL may be a paged layer)
        k_BSL = store_latent(cache_BSL, slot, latent_AL.view(B, T, -1), S)
        # The key up-projection folds into the query (a C-wide query per head); one key/value head is shared by all
        # query heads, so (token, head) pairs are the query axis of a single-head attention per row and the cache
        # is never expanded.
        q_lat_HAC = torch.bmm(q_AHK[..., :N].transpose(0, 1), lw.w_uk_HNC)
        q_AHL = torch.cat([q_lat_HAC.transpose(0, 1), torch.bmm(q_AHK[..., N:], rot_ARR)], dim=-1)
        bias_BQS = bias_BTS if T == 1 else bias_BTS[:, :, None].expand(B, T, H, S).reshape(B, T * H, S)
        scores_BQS = torch.baddbmm(bias_BQS, q_AHL.view(B, T * H, -1), k_BSL.transpose(1, 2), alpha=lw.scale)
        o_lat_HAC = torch.bmm(scores_BQS.softmax(dim=-1), k_BSL[..., :C]).view(B * T, H, C).transpose(0, 1)
        o_AHV = torch.bmm(o_lat_HAC, lw.w_uv_HCV).transpose(0, 1)  # the value up-projection, per head
        return torch.addmm(x_AD, o_AHV.reshape(B * T, -1), lw.oT)

    @staticmethod
    def _mlp(lw: LayerWeights, x_BD: torch.Tensor) -> torch.Tensor:
        h_BD = rms_norm_no_grad(x_BD, lw.ln_post_attn, lw.eps)
        return torch.addmm(x_BD, F.silu(torch.mm(h_BD, lw.gateT)).mul_(torch.mm(h_BD, lw.upT)), lw.downT)

    def _moe(self, lw: LayerWeights, x_BD: torch.Tensor, experts: str) -> torch.Tensor:
        h_BD = rms_norm_no_grad(x_BD, lw.ln_post_attn, lw.eps)
        h32_BD = h_BD if h_BD.dtype == torch.float32 else h_BD.float()
        routerT = lw.routerT_DE if lw.routerT_DE.dtype == torch.float32 else lw.routerT_DE.float()
        weights_BK, idx_BK = lw.router.select(torch.mm(h32_BD, routerT).sigmoid())
        if lw.shared is not None:
            gateT, upT, downT = lw.shared
            y_BD = torch.mm(F.silu(torch.mm(h_BD, gateT)).mul_(torch.mm(h_BD, upT)), downT)
        else:
            y_BD = torch.zeros_like(h_BD)
        Fe = lw.width
        if experts == "grouped":  # the training layer's own grouped matmuls (GroupedExperts.forward)
            return x_BD + rms_norm_no_grad(y_BD + lw.experts(h_BD, idx_BK, weights_BK), lw.ln_post_mlp, lw.eps)
        if experts == "loop" and idx_BK.shape[0] >= GROUP_ROWS_FROM:
            # Many rows: one matmul per chosen expert over the rows routed to it (at most E per layer), not one per
            # (row, expert) pair — 64 rows x top-4 were 256 tiny matmuls a layer, ~10x slower than grouped.
            B, K = idx_BK.shape
            flat_M = idx_BK.reshape(-1)
            order_M = flat_M.argsort(stable=True)
            rows_M, w_M = order_M // K, weights_BK.reshape(-1)[order_M].to(h_BD.dtype)
            counts_E = torch.bincount(flat_M, minlength=lw.gate_upT_EDF2.shape[0])
            counts = counts_E.tolist()
            if sum(c > 0 for c in counts) >= PAD_EXPERTS_FROM * len(counts):
                # Most experts chosen: every expert's weights are read anyway, so one batched matmul over all E
                # with each expert's rows padded to the busiest one's count (padding rows carry weight 0) beats E
                # small matmuls — ~1.8x on 2 cores, where each tiny matmul leaves a thread idle.
                return x_BD + rms_norm_no_grad(self._experts_padded(lw, h_BD, y_BD, flat_M[order_M], rows_M, w_M,
                                                                    counts_E, max(counts)), lw.ln_post_mlp, lw.eps)
            start = 0
            for e, n in enumerate(counts):
                if n:
                    r_N = rows_M[start:start + n]
                    gu_NF2 = torch.mm(h_BD.index_select(0, r_N), lw.gate_upT_EDF2[e])
                    a_NF = F.silu(gu_NF2[:, :Fe]).mul_(gu_NF2[:, Fe:]).mul_(w_M[start:start + n, None])
                    y_BD.index_add_(0, r_N, torch.mm(a_NF, lw.downT_EFD[e]))
                    start += n
        elif experts == "loop":
            for b, (chosen, weights) in enumerate(zip(idx_BK.tolist(), weights_BK.tolist())):
                h_1D, y_1D = h_BD[b : b + 1], y_BD[b : b + 1]
                for e, w in zip(chosen, weights):
                    gu_1F2 = torch.mm(h_1D, lw.gate_upT_EDF2[e])
                    # y += w * (silu(gate) * up) @ down: the routing weight rides on addmm's alpha.
                    y_1D.addmm_(F.silu(gu_1F2[:, :Fe]).mul_(gu_1F2[:, Fe:]), lw.downT_EFD[e], alpha=w)
        else:
            B, K = idx_BK.shape
            flat_M = idx_BK.reshape(-1)
            x_M1D = h_BD[:, None, :].expand(B, K, -1).reshape(B * K, 1, -1)
            gu_M1F2 = torch.bmm(x_M1D, lw.gate_upT_EDF2.index_select(0, flat_M))
            a_M1F = F.silu(gu_M1F2[..., :Fe]) * gu_M1F2[..., Fe:] * weights_BK.reshape(-1, 1, 1).to(h_BD.dtype)
            y_BD = y_BD + torch.bmm(a_M1F, lw.downT_EFD.index_select(0, flat_M)).view(B, K, -1).sum(dim=1)
        return x_BD + rms_norm_no_grad(y_BD, lw.ln_post_mlp, lw.eps)

    @staticmethod
    def _experts_padded(lw: LayerWeights, h_BD: torch.Tensor, y_BD: torch.Tensor, expert_M: torch.Tensor,
                        rows_M: torch.Tensor, w_M: torch.Tensor, counts_E: torch.Tensor, P: int) -> torch.Tensor:
        """y += the routed experts' outputs, as two bmm over [E, P] slots: the M assignments (sorted by expert) go to
        slot (expert, rank within the expert); empty slots read row 0 with weight 0."""
        E, Fe = counts_E.shape[0], lw.width
        rank_M = torch.arange(expert_M.shape[0], device=h_BD.device) - (counts_E.cumsum(0) - counts_E)[expert_M]
        rows_EP = torch.zeros(E, P, dtype=torch.long, device=h_BD.device)
        w_EP = torch.zeros(E, P, dtype=h_BD.dtype, device=h_BD.device)
        rows_EP[expert_M, rank_M] = rows_M
        w_EP[expert_M, rank_M] = w_M
        gu_EPF2 = torch.bmm(h_BD[rows_EP], lw.gate_upT_EDF2)
        a_EPF = F.silu(gu_EPF2[..., :Fe]).mul_(gu_EPF2[..., Fe:]).mul_(w_EP[..., None])
        return y_BD.index_add_(0, rows_EP.view(-1), torch.bmm(a_EPF, lw.downT_EFD).view(E * P, -1))
