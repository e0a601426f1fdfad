"""Rotary position embedding on the decoupled rope dims, with DeepSeek's YaRN context extension.

Shapes: B batch, T tokens, H heads, P = qk_rope_head_dim // 2 rotated pairs.
A.X K1 rotates interleaved pairs (dims 2j and 2j+1 share frequency j). The rotated output is written as
[even results | odd results]; any fixed permutation is fine as long as queries and keys share it, and this
one matches transformers, so the cached rope keys are laid out the same way.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from axk1.config import ModelConfig, yarn_mscale


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
        self.register_buffer("inv_freq", torch.empty(config.qk_rope_head_dim // 2), persistent=False)
        self.attention_factor = 1.0
        self.reset_parameters()

    def reset_parameters(self) -> None:
        inv_freq, self.attention_factor = rope_frequencies(self.config)
        if self.inv_freq.is_meta:
            return
        with torch.no_grad():
            self.inv_freq.copy_(inv_freq)

    def forward(self, positions_BT: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin [B, T, 1, P] (a head axis to broadcast over) in fp32, times the YaRN attention factor."""
        angles_BT1P = positions_BT[..., None, None].float() * self.inv_freq.float()
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
