"""Rotary position embedding on the decoupled rope dims, with DeepSeek's YaRN context extension.

Shapes: B batch, T tokens, H heads, P = qk_rope_head_dim // 2 rotated pairs, R = 2P.
A.X K1 rotates interleaved pairs (dims 2j and 2j+1 share frequency j). The rotated output is written as
[even results | odd results]; any fixed permutation is fine as long as queries and keys share it, and this
one matches transformers, so the cached rope keys are laid out the same way.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from axk1.config import ModelConfig
from axk1.rope_scaling import yarn_mscale


def rope_frequencies(config: ModelConfig) -> tuple[torch.Tensor, float]:
    """Inverse frequencies [P] (fp32) and the attention factor that multiplies cos and sin."""
    dim, base = config.qk_rope_head_dim, config.rope_theta
    exponents = torch.arange(0, dim, 2, dtype=torch.float32) / dim
    inv_freq = 1.0 / (base**exponents)
    yarn = config.rope_scaling
    if yarn is None:
        return inv_freq, 1.0

    factor = yarn["factor"]
    mscale, mscale_all_dim = yarn.get("mscale"), yarn.get("mscale_all_dim")
    if yarn.get("attention_factor") is not None:
        attention_factor = yarn["attention_factor"]
    elif mscale and mscale_all_dim:
        attention_factor = yarn_mscale(factor, mscale) / yarn_mscale(factor, mscale_all_dim)
    else:
        attention_factor = yarn_mscale(factor)

    # Dimensions that rotate more than beta_fast times over the original context keep their frequency
    # (extrapolation); those rotating fewer than beta_slow times are interpolated by `factor`; a linear ramp
    # blends the band between.
    original_len = yarn["original_max_position_embeddings"]

    def correction_dim(rotations: float) -> float:
        return dim * math.log(original_len / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low, high = correction_dim(yarn["beta_fast"]), correction_dim(yarn["beta_slow"])
    if yarn.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    keep = 1 - ramp  # 1 = extrapolate (keep the frequency), 0 = interpolate
    inv_freq = (inv_freq / factor) * (1 - keep) + inv_freq * keep
    return inv_freq, attention_factor


class RotaryEmbedding(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.interleave = config.rope_interleave
        # fp32 whatever the default dtype (a bf16 folder loads under a bf16 default): see _apply
        self.register_buffer("inv_freq", torch.empty(config.qk_rope_head_dim // 2, dtype=torch.float32),
                             persistent=False)
        self.attention_factor = 1.0
        self.reset_parameters()

    def _apply(self, fn, recurse=True):
        # model.to(bfloat16) must not round the frequencies: bf16 keeps 8 significant bits, and the angle
        # position * inv_freq then drifts by radians past a few thousand positions (transformers and vLLM keep them
        # fp32 too). Recomputed rather than cast back, so no rounding survives.
        super()._apply(fn, recurse)
        if self.inv_freq.dtype != torch.float32:
            self.inv_freq = self.inv_freq.float()
            self.reset_parameters()
        return self

    def reset_parameters(self) -> None:
        inv_freq, self.attention_factor = rope_frequencies(self.config)
        if self.inv_freq.is_meta:
            return
        with torch.no_grad():
            self.inv_freq.copy_(inv_freq)

    def forward(self, positions_BT: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin [B, T, 1, P] (a head axis to broadcast over) in fp32, times the YaRN attention factor."""
        angles_BT1P = positions_BT[..., None, None].float() * self.inv_freq.float()
        if self.attention_factor == 1.0:  # two ops fewer per decode step
            return angles_BT1P.cos(), angles_BT1P.sin()
        return angles_BT1P.cos() * self.attention_factor, angles_BT1P.sin() * self.attention_factor


def apply_rope(x_BTHR: torch.Tensor, cos_BT1P: torch.Tensor, sin_BT1P: torch.Tensor, interleave: bool = True) -> torch.Tensor:
    """Rotate the last dim of x (R = 2P) by per-token angles; heads broadcast."""
    if interleave:
        x1, x2 = x_BTHR[..., 0::2], x_BTHR[..., 1::2]
    else:
        half = x_BTHR.shape[-1] // 2
        x1, x2 = x_BTHR[..., :half], x_BTHR[..., half:]
    if cos_BT1P.dtype != x_BTHR.dtype:
        cos_BT1P, sin_BT1P = cos_BT1P.to(x_BTHR.dtype), sin_BT1P.to(x_BTHR.dtype)
    return torch.cat([x1 * cos_BT1P - x2 * sin_BT1P, x2 * cos_BT1P + x1 * sin_BT1P], dim=-1)


@functools.lru_cache(maxsize=16)
def _rotation_basis(P: int, interleave: bool, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """[2P, R * R]: row j places cos_j, row P + j places sin_j into the rotation matrix (entries 0 or +-1)."""
    R = 2 * P
    basis_2PRR = torch.zeros(2 * P, R, R, dtype=dtype, device=device)
    for j in range(P):
        even, odd = (2 * j, 2 * j + 1) if interleave else (j, P + j)
        basis_2PRR[j, even, j] = basis_2PRR[j, odd, P + j] = 1.0
        basis_2PRR[P + j, odd, j], basis_2PRR[P + j, even, P + j] = -1.0, 1.0
    return basis_2PRR.view(2 * P, R * R)


def rope_rotation(cos_BT1P: torch.Tensor, sin_BT1P: torch.Tensor, interleave: bool = True) -> torch.Tensor:
    """apply_rope as one matrix per token: R_BTRR with apply_rope(x_BTHR) == x_BTHR @ R_BTRR (the same two products
    per output; the sum may round differently in the last bit). Generation uses it: building R once per step and
    one small matmul per rotated tensor costs far fewer ops than apply_rope, and a CPU decode step is bound by
    per-op overhead."""
    B, T, _, P = cos_BT1P.shape
    cs_BT2P = torch.cat([cos_BT1P, sin_BT1P], dim=-1).view(B, T, 2 * P)
    # Each entry is one cos/sin times +-1 plus exact zeros, so R holds cos and sin exactly.
    basis = _rotation_basis.__wrapped__ if torch.compiler.is_compiling() else _rotation_basis  # (dynamo: no caches)
    return (cs_BT2P @ basis(P, interleave, cs_BT2P.dtype, cs_BT2P.device)).view(B, T, 2 * P, 2 * P)

