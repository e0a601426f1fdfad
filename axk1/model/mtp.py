"""Multi-token prediction (DeepSeek-V3 style, depth 1 in A.X K1's training; no weights are released).

h' = eh_proj([enorm(embed(t_{i+1})) ‖ hnorm(h_i)]), then one MoE decoder layer; the caller applies
`shared_head_norm` and the shared lm_head to predict t_{i+2}. Embedding and head are shared with the main model.
The embedding comes first, as the loaders of DeepSeek-V3's released MTP weights read eh_proj (vLLM's
deepseek_mtp.py, SGLang, Megatron); the paper's equation writes the hidden state first, and an eh_proj trained in
that order is another module to them (docs/model.md, "MTP").
"""

from __future__ import annotations

import torch
from torch import nn

from axk1.config import ModelConfig
from axk1.model.decoder import DecoderLayer
from axk1.model.norm import RMSNorm


class MTPModule(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        D = config.hidden_size
        self.enorm = RMSNorm(D, config.rms_norm_eps)
        self.hnorm = RMSNorm(D, config.rms_norm_eps)
        self.eh_proj = nn.Linear(2 * D, D, bias=False)
        self.layer = DecoderLayer(config, layer_idx=config.num_hidden_layers)  # past the dense prefix: an MoE layer
        self.shared_head_norm = RMSNorm(D, config.rms_norm_eps)

    def forward(self, h_BTD: torch.Tensor, next_emb_BTD: torch.Tensor, cos_BT1P, sin_BT1P, mask_B1TS=None) -> torch.Tensor:
        x_BTD = self.eh_proj(torch.cat([self.enorm(next_emb_BTD), self.hnorm(h_BTD)], dim=-1))
        return self.layer(x_BTD, cos_BT1P, sin_BT1P, mask_B1TS)
