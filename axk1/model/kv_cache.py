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
                 device: torch.device | str = "cpu", num_layers: int | None = None) -> None:
        """num_layers: the model's (default), or e.g. 1 for an MTP module's own layer (axk1/infer/speculative.py)."""
        self.max_slots = max_slots
        width = config.kv_lora_rank + config.qk_rope_head_dim
        self.latent = [torch.zeros(batch_size, max_slots, width, dtype=dtype, device=device)
                       for _ in range(config.num_hidden_layers if num_layers is None else num_layers)]

    @staticmethod
    def bytes_per_token(config: ModelConfig, dtype: torch.dtype = torch.bfloat16) -> int:
        itemsize = torch.empty((), dtype=dtype).element_size()
        return config.num_hidden_layers * (config.kv_lora_rank + config.qk_rope_head_dim) * itemsize

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.latent)


class PagedLatentCache:
    """The latent cache as one pool of fixed-size blocks shared by every sequence (vLLM's paged attention, on the
    MLA latent): pool[i] is layer i's [num_blocks * block_size, L] rows, and a sequence's token at position p lives
    at row table[p // block_size] * block_size + p % block_size of every layer. Memory is spent per block a sequence
    holds, not per (slot x max length); the allocator (which block is free, shared, cached) lives above the model,
    in axk1/infer/block_pool.py.

    The pool is allocated empty, so pages the OS never hands out cost nothing; a block is zeroed when first handed
    out (zero_blocks), because attention reads whole blocks and masked slots must hold finite values (a NaN times a
    zero softmax weight is still NaN). Legend: N pool rows, B rows of a step, T tokens, S slots read, L latent width.
    """

    def __init__(self, config: ModelConfig, num_blocks: int, block_size: int, dtype: torch.dtype,
                 device: torch.device | str = "cpu", extra_layers: int = 0) -> None:
        """extra_layers: pools after the model's own, indexed by the same block tables (the MTP drafter's layer when
        a server drafts: its latents then follow every sequence, preemption and prefix-cache hit included)."""
        self.num_blocks, self.block_size = num_blocks, block_size
        width = config.kv_lora_rank + config.qk_rope_head_dim
        layers = config.num_hidden_layers + extra_layers
        self.pool = [torch.empty(num_blocks * block_size, width, dtype=dtype, device=device) for _ in range(layers)]
        self.bytes_per_block = width * torch.empty((), dtype=dtype).element_size() * layers * block_size

    def zero_blocks(self, blocks: list[int]) -> None:
        rows_N = self.rows(torch.tensor(blocks, dtype=torch.long, device=self.pool[0].device)).view(-1)
        for t in self.pool:
            t.index_fill_(0, rows_N, 0)

    def rows(self, table_BK: torch.Tensor) -> torch.Tensor:
        """Block table [B, K] -> pool rows [B, K * block_size] of the positions those blocks hold, in order."""
        offsets = torch.arange(self.block_size, device=table_BK.device)
        return (table_BK[..., None] * self.block_size + offsets).flatten(-2)

    def step_view(self, read_BS: torch.Tensor, write_BT: torch.Tensor, layers: slice = slice(None)) -> PagedStep:
        """The cache one model call sees: each row attends over pool rows read_BS and writes its T new tokens'
        latents at pool rows write_BT (in the pools of `layers`: all by default)."""
        return PagedStep([PagedLayer(t, read_BS, write_BT) for t in self.pool[layers]])

    def nbytes(self) -> int:
        return self.num_blocks * self.bytes_per_block


class PagedLayer:
    """One layer's pool with one step's read and write rows (what attention gets in place of a [B, S, L] tensor)."""

    def __init__(self, pool_NL: torch.Tensor, read_BS: torch.Tensor, write_BT: torch.Tensor) -> None:
        self.pool_NL, self.read_BS, self.write_BT = pool_NL, read_BS, write_BT
        self.dtype = pool_NL.dtype


class PagedStep:
    def __init__(self, latent: list[PagedLayer]) -> None:
        self.latent = latent


def store_latent(cache_BSL: torch.Tensor | PagedLayer, slot: int | torch.Tensor, latent_BTL: torch.Tensor,
                 S: int) -> torch.Tensor:
    """Write T new tokens' latents into one layer's cache, then return the keys [B, S, L] attention reads (the
    first S slots; values are their first C columns). slot: an int (every row writes at [slot, slot + T)) or per-row
    slots [B] for T = 1; a paged layer carries its own write rows and ignores it."""
    B, T, L = latent_BTL.shape
    if isinstance(cache_BSL, PagedLayer):
        pool_NL = cache_BSL.pool_NL
        pool_NL.index_copy_(0, cache_BSL.write_BT.reshape(-1), latent_BTL.reshape(-1, L))
        return pool_NL.index_select(0, cache_BSL.read_BS[:, :S].reshape(-1)).view(B, S, L)
    if isinstance(slot, torch.Tensor):
        cache_BSL[torch.arange(B, device=slot.device), slot] = latent_BTL[:, 0]
    else:  # a slice, not an int index: torch.compile keeps the slot symbolic instead of recompiling per step
        cache_BSL[:, slot : slot + T] = latent_BTL
    return cache_BSL[:, :S]
