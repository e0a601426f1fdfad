"""The MLA latent KV cache: per layer, per token, only c_kv [kv_lora_rank] and the rotated rope key [qk_rope_head_dim].

For A.X K1 that is (512 + 64) values x 61 layers = 70,272 bytes per token in bf16, against 64 heads x (192 + 128)
values per layer for an expanded cache (~71x more).
"""

from __future__ import annotations

import torch

from axk1.config import ModelConfig


class LatentKVCache:
    """latent[i] is layer i's cache [B, S, C + R]: the normalised c_kv then the rotated rope key, side by side, so
    attention reads keys and values as views without copying."""

    def __init__(self, config: ModelConfig, batch_size: int, max_slots: int, dtype: torch.dtype,
                 device: torch.device | str = "cpu") -> None:
        self.max_slots = max_slots
        self.kv_rank = config.kv_lora_rank
        width = config.kv_lora_rank + config.qk_rope_head_dim
        self.latent = [torch.zeros(batch_size, max_slots, width, dtype=dtype, device=device)
                       for _ in range(config.num_hidden_layers)]

    @property
    def c_kv(self) -> list[torch.Tensor]:
        return [t[..., : self.kv_rank] for t in self.latent]

    @property
    def k_rope(self) -> list[torch.Tensor]:
        return [t[..., self.kv_rank :] for t in self.latent]

    @staticmethod
    def bytes_per_token(config: ModelConfig, dtype: torch.dtype = torch.bfloat16) -> int:
        itemsize = torch.empty((), dtype=dtype).element_size()
        return config.num_hidden_layers * (config.kv_lora_rank + config.qk_rope_head_dim) * itemsize

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.latent)
