"""One decoder layer: pre-norm MLA, then a dense SwiGLU MLP (first layers) or an MoE with A.X K1's post-MoE norm.

Legend: B batch, T tokens, D hidden, P rope pairs.
"""

from __future__ import annotations

import torch
from torch import nn

from axk1.config import ModelConfig
from axk1.model.mla import MLA
from axk1.model.moe import MLP, MoE
from axk1.model.norm import RMSNorm


class DecoderLayer(nn.Module):
    def __init__(self, config: ModelConfig, layer_idx: int) -> None:
        super().__init__()
        self.is_moe = config.is_moe_layer(layer_idx)
        self.self_attn = MLA(config)
        self.mlp = MoE(config) if self.is_moe else MLP(config.hidden_size, config.intermediate_size)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        # The release stores this weight on every layer; only MoE layers apply it (docs/model.md).
        self.post_mlp_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def _mlp(self, h_BTD: torch.Tensor) -> torch.Tensor:
        y_BTD = self.mlp(self.post_attention_layernorm(h_BTD))
        return h_BTD + (self.post_mlp_layernorm(y_BTD) if self.is_moe else y_BTD)

    def forward(self, x_BTD, cos_BT1P, sin_BT1P, mask_B1TS=None) -> torch.Tensor:
        h_BTD = x_BTD + self.self_attn(self.input_layernorm(x_BTD), cos_BT1P, sin_BT1P, mask_B1TS)
        return self._mlp(h_BTD)

    def forward_latent(self, x_BTD, rot_BTRR, cache_BSL, slot, mask_B1TS) -> torch.Tensor:
        """Generation with the latent cache (prefill; one-token decoding runs in axk1.model.latent_decode)."""
        return self._mlp(x_BTD + self.self_attn.forward_latent(self.input_layernorm(x_BTD), rot_BTRR, cache_BSL, slot,
                                                               mask_B1TS))
