"""Multi-head Latent Attention (MLA): low-rank queries, a compressed KV latent and one shared rope key.

Legend: B batch, T query tokens, S key tokens, D hidden, H heads, N qk_nope_head_dim, R qk_rope_head_dim,
V v_head_dim, Q q_lora_rank, C kv_lora_rank, P = R // 2.

Two forms of the same function:
* `forward` (training, prefill without cache): expand the latent into per-head keys and values.
* `forward_latent` (generation): attend in the latent space. The key up-projection is folded into the query
  (q_nope @ W_uk gives a C-dim query per head) and the value up-projection is applied after attention, so the
  cache holds only c_kv [C] and the rotated rope key [R] per token, shared by all heads. One-token decoding runs the
  same form in axk1.model.latent_decode, written for per-op cost.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from axk1.config import ModelConfig
from axk1.model.attention_mask import DocumentMask
from axk1.model.kv_cache import store_latent
from axk1.model.norm import RMSNorm
from axk1.model.rope import apply_rope

# The eps of the two low-rank norms (q_a_layernorm, kv_a_layernorm): fixed, not config.rms_norm_eps, as DeepSeek-V3's
# reference code and transformers' AXK1 build them (RMSNorm's default). With another rms_norm_eps, using it here made
# a config axk1 writes load in transformers as a different model (logits 1.3e-4 apart at 1e-5, 2.0 at 1e-2).
LOW_RANK_NORM_EPS = 1e-6


class MLA(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_heads = config.num_attention_heads
        self.nope_dim, self.rope_dim, self.v_dim = config.qk_nope_head_dim, config.qk_rope_head_dim, config.v_head_dim
        self.kv_rank = config.kv_lora_rank
        self.interleave = config.rope_interleave
        self.scale = config.softmax_scale()
        D, H = config.hidden_size, config.num_attention_heads
        self.q_a_proj = nn.Linear(D, config.q_lora_rank, bias=False)
        self.q_a_layernorm = RMSNorm(config.q_lora_rank, LOW_RANK_NORM_EPS)
        self.q_b_proj = nn.Linear(config.q_lora_rank, H * config.qk_head_dim, bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(D, config.kv_lora_rank + config.qk_rope_head_dim, bias=False)
        self.kv_a_layernorm = RMSNorm(config.kv_lora_rank, LOW_RANK_NORM_EPS)
        self.kv_b_proj = nn.Linear(config.kv_lora_rank, H * (config.qk_nope_head_dim + config.v_head_dim), bias=False)
        self.o_proj = nn.Linear(H * config.v_head_dim, D, bias=False)
        # Context parallelism (set from outside, axk1/parallel/context_parallel.py): gathers the compressed
        # latents [B, T_local, C + R] of every rank's tokens along T. None: the whole sequence is here.
        self.gather_latent = None

    def _project(self, x_BTD: torch.Tensor, cos_BT1P: torch.Tensor, sin_BT1P: torch.Tensor):
        """Queries split into nope/rope parts, the normalised latent, and the rotated shared rope key."""
        B, T, _ = x_BTD.shape
        q_BTHK = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x_BTD))).view(B, T, self.n_heads, -1)
        q_nope_BTHN, q_rope_BTHR = q_BTHK.split([self.nope_dim, self.rope_dim], dim=-1)
        c_kv_BTC, k_rope_BTR = self.kv_a_proj_with_mqa(x_BTD).split([self.kv_rank, self.rope_dim], dim=-1)
        c_kv_BTC = self.kv_a_layernorm(c_kv_BTC)
        q_rope_BTHR = apply_rope(q_rope_BTHR, cos_BT1P, sin_BT1P, self.interleave)
        k_rope_BTR = apply_rope(k_rope_BTR[:, :, None, :], cos_BT1P, sin_BT1P, self.interleave)[:, :, 0]
        return q_nope_BTHN, q_rope_BTHR, c_kv_BTC, k_rope_BTR

    def forward(self, x_BTD: torch.Tensor, cos_BT1P: torch.Tensor, sin_BT1P: torch.Tensor,
                mask: torch.Tensor | DocumentMask | None = None) -> torch.Tensor:
        """Self-attention over x. mask None means plain causal; otherwise a boolean [B, 1, T, S] (True = attend)
        or the packed rows' DocumentMask (FlexAttention over its block mask where axk1.model.attention_mask says)."""
        B, T, _ = x_BTD.shape
        H = self.n_heads
        q_nope_BTHN, q_rope_BTHR, c_kv_BTC, k_rope_BTR = self._project(x_BTD, cos_BT1P, sin_BT1P)
        if self.gather_latent is not None:
            # context parallel: what moves between ranks is the latent (C + R values a token, 576 for A.X K1), not
            # the per-head keys and values it expands to; this rank's queries then attend over all S tokens
            latent_BSL = self.gather_latent(torch.cat([c_kv_BTC, k_rope_BTR], dim=-1))
            c_kv_BTC, k_rope_BTR = latent_BSL.split([self.kv_rank, self.rope_dim], dim=-1)
        S = c_kv_BTC.shape[1]
        kv_BSHK = self.kv_b_proj(c_kv_BTC).view(B, S, H, self.nope_dim + self.v_dim)
        k_nope_BSHN, v_BSHV = kv_BSHK.split([self.nope_dim, self.v_dim], dim=-1)
        # Concatenated in [B, H, T, K] order: contiguous per head, which the CPU flash kernel reads faster.
        q_BHTK = torch.cat([q_nope_BTHN.transpose(1, 2), q_rope_BTHR.transpose(1, 2)], dim=-1)
        k_BHTK = torch.cat([k_nope_BSHN.transpose(1, 2), k_rope_BTR[:, None].expand(B, H, S, self.rope_dim)], dim=-1)
        v_BHTK = v_BSHV.transpose(1, 2)
        if isinstance(mask, DocumentMask) and mask.use_flex:
            # FlexAttention takes a value head narrower than the query's: no padding
            o_BHTV = mask.flex_kernel()(q_BHTK, k_BHTK, v_BHTK, block_mask=mask.block(), scale=self.scale,
                                        kernel_options=FLEX_KERNEL_OPTIONS)
            return self.o_proj(o_BHTV.transpose(1, 2).reshape(B, T, H * self.v_dim))
        mask_B1TS = mask.dense() if isinstance(mask, DocumentMask) else mask
        if self.v_dim < q_BHTK.shape[-1]:
            # Fused (flash) attention kernels want one head dim for q, k and v: pad v with zeros, slice after.
            v_BHTK = F.pad(v_BHTK, (0, q_BHTK.shape[-1] - self.v_dim))
        blocks = causal_attention_blocks(q_BHTK, k_BHTK, v_BHTK, mask_B1TS, self.scale)
        # Concatenating the query blocks in [B, T, H, V] order is the copy that the reshape would make anyway.
        o_BTHV = torch.cat([o_BHtK[..., : self.v_dim].transpose(1, 2) for o_BHtK in blocks], dim=1)
        return self.o_proj(o_BTHV.reshape(B, T, H * self.v_dim))

    def absorbed_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """kv_b_proj split per head into the key up-projection W_uk [H, N, C] and value up-projection W_uv [H, V, C]."""
        w_HKC = self.kv_b_proj.weight.view(self.n_heads, self.nope_dim + self.v_dim, self.kv_rank)
        return w_HKC[:, : self.nope_dim], w_HKC[:, self.nope_dim :]

    def forward_latent(self, x_BTD: torch.Tensor, rot_BTRR: torch.Tensor, cache_BSL: torch.Tensor, slot: int,
                       mask_B1TS: torch.Tensor) -> torch.Tensor:
        """Write these T tokens' latents into the layer's cache [B, S, C + R] at [slot, slot + T), then attend over
        its first S' = mask_B1TS.shape[-1] slots; mask_B1TS (boolean, True = attend) says which each query may see.
        rot_BTRR: the rope rotation of these tokens (axk1.model.rope.rope_rotation). Prefill runs here; one-token
        decoding runs the same form in axk1.model.latent_decode.
        """
        B, T, _ = x_BTD.shape
        H, N, C = self.n_heads, self.nope_dim, self.kv_rank
        q_BTHK = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x_BTD))).view(B, T, H, -1)
        kv_BTL = self.kv_a_proj_with_mqa(x_BTD)
        # A decode step on CPU is bound by per-op overhead: the rope parts rotate as one small matmul each.
        k_rope_BTR = (kv_BTL[:, :, None, C:] @ rot_BTRR)[:, :, 0]
        latent_BTL = torch.cat([self.kv_a_layernorm(kv_BTL[..., :C]), k_rope_BTR], dim=-1)
        if latent_BTL.dtype != cache_BSL.dtype:
            latent_BTL = latent_BTL.to(cache_BSL.dtype)
        # keys: [c_kv | k_rope]; values: c_kv, a view of the same memory (cache_BSL may be a paged layer)
        k_BSL = store_latent(cache_BSL, slot, latent_BTL, mask_B1TS.shape[-1])

        w_uk_HNC, w_uv_HVC = self.absorbed_weights()
        q_lat_BHTC = q_BTHK[..., :N].transpose(1, 2) @ w_uk_HNC
        # One key/value head shared by all query heads: fold heads into the query axis (Q = H * T) and run
        # single-head attention, so the cache is never copied per head.
        q_BQL = torch.cat([q_lat_BHTC, (q_BTHK[..., N:] @ rot_BTRR).transpose(1, 2)], dim=-1).reshape(B, H * T, -1)
        mask_B1QS = mask_B1TS[:, :, None].expand(B, 1, H, T, mask_B1TS.shape[-1]).reshape(B, 1, H * T, -1)
        o_lat_BQC = F.scaled_dot_product_attention(
            q_BQL[:, None], k_BSL[:, None], k_BSL[:, None, :, :C], attn_mask=mask_B1QS, scale=self.scale
        )[:, 0]
        o_BHTV = o_lat_BQC.view(B, H, T, C) @ w_uv_HVC.transpose(1, 2)
        return self.o_proj(o_BHTV.transpose(1, 2).reshape(B, T, H * self.v_dim))


def causal_attention_blocks(q_BHTK: torch.Tensor, k_BHTK: torch.Tensor, v_BHTK: torch.Tensor,
                            mask_B1TS: torch.Tensor | None, scale: float) -> list[torch.Tensor]:
    """Causal self-attention (mask None) or attention under a boolean mask, as a list of outputs for consecutive
    query blocks (concatenated along T they are the output).

    On CPU the queries are split in two halves where that saves work. ATen's CPU flash-attention kernel (torch 2.13)
    behaves as if it took keys in blocks of 512 and skipped the blocks above the diagonal only for `is_causal`: at
    512 to 1,023 tokens (one or two key blocks), or under any explicit mask (packed documents), it scores all T x T
    pairs. The first half of the queries needs only the first half of the keys: 3/4 of the pairs remain. Measured
    fwd + bwd at head dim 48: 0.86x the time causal at T = 512, 0.77-0.84x masked at T = 512-2,048; slower where the
    kernel already skips (causal from 1,024) and no faster below 512; other devices' kernels skip by themselves.
    """
    T = q_BHTK.shape[2]
    if q_BHTK.device.type != "cpu" or T < 512 or (mask_B1TS is None and T >= 1024) or k_BHTK.shape[2] != T:
        return [F.scaled_dot_product_attention(q_BHTK, k_BHTK, v_BHTK, attn_mask=mask_B1TS,
                                               is_causal=mask_B1TS is None, scale=scale)]
    h = T // 2
    first = F.scaled_dot_product_attention(
        q_BHTK[:, :, :h], k_BHTK[:, :, :h], v_BHTK[:, :, :h], attn_mask=None if mask_B1TS is None else
        mask_B1TS[..., :h, :h], is_causal=mask_B1TS is None, scale=scale)
    if mask_B1TS is None:  # query h + i sees keys 0 .. h + i
        rows_tS = torch.ones(T - h, T, dtype=torch.bool, device=q_BHTK.device).tril(diagonal=h)
    else:
        rows_tS = mask_B1TS[..., h:, :]
    return [first, F.scaled_dot_product_attention(q_BHTK[:, :, h:], k_BHTK, v_BHTK, attn_mask=rows_tS, scale=scale)]


def document_positions(document_ids_BT: torch.Tensor) -> torch.Tensor:
    """Positions that restart at 0 where the document id changes (packed sequences)."""
    B, T = document_ids_BT.shape
    idx_BT = torch.arange(T, device=document_ids_BT.device).expand(B, T)
    starts_BT = torch.ones_like(document_ids_BT, dtype=torch.bool)
    starts_BT[:, 1:] = document_ids_BT[:, 1:] != document_ids_BT[:, :-1]
    start_idx_BT = torch.where(starts_BT, idx_BT, torch.zeros_like(idx_BT)).cummax(dim=1).values
    return idx_BT - start_idx_BT


# The compiled kernel's options (block sizes, warps, stages: torch's `kernel_options`); None keeps torch's choice for
# the head dims. A setting to try on a GPU (benchmarks/gpu_check.py --set), not a tuned value. The kernel itself,
# compiled once per process on an accelerator and eager on CPU, is axk1.model.attention_mask.flex_attention_kernel.
FLEX_KERNEL_OPTIONS: dict | None = None
