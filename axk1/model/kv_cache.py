"""The MLA latent KV cache: per layer, per token, only c_kv [kv_lora_rank] and the rotated rope key [qk_rope_head_dim].

For A.X K1 that is (512 + 64) values x 61 layers = 70,272 bytes per token in bf16, against 64 heads x (192 + 128)
values per layer for an expanded cache (~71x more).
"""

from __future__ import annotations

import torch

from axk1.config import ModelConfig


class LatentKVCache:
    def __init__(self, config: ModelConfig, batch_size: int, max_slots: int, dtype: torch.dtype,
                 device: torch.device | str = "cpu") -> None:
        L = config.num_hidden_layers
        self.max_slots = max_slots
        self.c_kv = [torch.zeros(batch_size, max_slots, config.kv_lora_rank, dtype=dtype, device=device) for _ in range(L)]
        self.k_rope = [torch.zeros(batch_size, max_slots, config.qk_rope_head_dim, dtype=dtype, device=device) for _ in range(L)]

    @staticmethod
    def bytes_per_token(config: ModelConfig, dtype: torch.dtype = torch.bfloat16) -> int:
        itemsize = torch.empty((), dtype=dtype).element_size()
        return config.num_hidden_layers * (config.kv_lora_rank + config.qk_rope_head_dim) * itemsize

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.c_kv, *self.k_rope))
