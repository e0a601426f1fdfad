"""Materialising a model that was built on the meta device and sharded there (expert parallelism, FSDP2): every
rank allocates only its own shards (`to_empty`) and fills them with a random init (a safetensors folder is read
into them afterwards by axk1.checkpoint.hf_sharded). No rank ever holds the whole model, so the 519B recipe can
launch.

The random init is counter-based: each element's value is a hash of (seed, parameter name, the element's index
in the unsharded tensor), turned into Normal(0, std) by Box-Muller. So it is the same for any sharding, mesh or
device (a 2-rank run and an unsharded model get identical weights), needs no communication, and consumes no
global RNG state. (DTensor's own random ops keep shards consistent only on CUDA-like devices; on CPU every rank
would draw the same numbers for its different shard.) The trainer uses it in one process too (axk1.train.trainer.build_model), so a run starts
from the same weights at any world size; it is not the stream `AXK1ForCausalLM(config)`'s own `normal_` draws.

Legend: n elements of a chunk.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from torch import nn
from torch.distributed.tensor import DTensor
from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

from axk1.model import AXK1ForCausalLM
from axk1.parallel.expert_parallel import ExpertParallelExperts

_MASK32 = 0xFFFFFFFF
# elements hashed at a time: on CPU few enough that the int64 temporaries stay in cache; on an accelerator
# many, so kernel launches do not dominate
_CHUNK = {"cpu": 1 << 16}


@dataclass
class ShardRegion:
    """Where this rank's part of a tensor sits in the unsharded one (experts: all E experts of every ep rank)."""
    local: torch.Tensor        # this rank's storage; writing into it writes the parameter
    full_shape: tuple[int, ...]
    offset: tuple[int, ...]    # the local tensor's first element's index, per dim, in the full tensor


def shard_regions(lm: AXK1ForCausalLM, remove_duplicate: bool = True) -> dict[str, ShardRegion]:
    """Every parameter and persistent buffer of `lm` (plain or DTensor, EP slices included), by state-dict name."""
    ep_of = {}  # experts' parameter name -> (their ep rank's first expert, experts in all)
    for name, m in lm.named_modules():
        if isinstance(m, ExpertParallelExperts):
            for p in ("gate_up_proj", "down_proj"):
                ep_of[f"{name}.{p}"] = (m.rank * m.n_local, m.n_experts)
    tensors = dict(lm.named_parameters(remove_duplicate=remove_duplicate))
    tensors.update((n, b) for n, b in lm.named_buffers() if n.split(".")[-1] == "e_score_correction_bias")
    out = {}
    for name, t in tensors.items():
        if isinstance(t, DTensor):
            shape, offset = compute_local_shape_and_global_offset(t.shape, t.device_mesh, t.placements)
            local = t.to_local()
            if tuple(local.shape) != tuple(shape):
                raise AssertionError(f"{name}: local shard {tuple(local.shape)} != planned {tuple(shape)}")
        else:
            local, offset = t, (0,) * t.dim()
        full, offset = tuple(t.shape), tuple(offset)
        if name in ep_of:
            first, n_experts = ep_of[name]
            full, offset = (n_experts, *full[1:]), (offset[0] + first, *offset[1:])
        out[name] = ShardRegion(local, full, offset)
    return out


def _mul32(x: torch.Tensor, m: int) -> torch.Tensor:
    """(x · m) mod 2^32 for x in [0, 2^32): a multiplier >= 2^31 is used as m - 2^32 (equal modulo 2^32), so the
    int64 product stays inside ±2^63 and never overflows."""
    return (x * (m - (1 << 32) if m >= 1 << 31 else m)) & _MASK32


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 (C. Wellons): a bijective 32-bit integer hash with near-ideal avalanche."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def _keys(seed: int, name: str) -> list[int]:
    """Three 32-bit keys per (seed, tensor name); blake2b, since Python's hash() differs between processes."""
    digest = hashlib.blake2b(f"{seed}/{name}".encode(), digest_size=12).digest()
    return [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 12, 4)]


def _unit(h_n: torch.Tensor) -> torch.Tensor:
    """32-bit hashes -> float32 uniforms in (0, 1) from their top 24 bits (never 0: the log below stays finite)."""
    return ((h_n >> 8).float() + 0.5) * 2.0**-24


def counter_normal(index_n: torch.Tensor, seed: int, name: str, std: float) -> torch.Tensor:
    """Normal(0, std) [n] (float32) for the given global element indices (int64) of tensor `name`."""
    k = _keys(seed, name)
    h_n = _hash32(_hash32((index_n & _MASK32) ^ k[0]) ^ (index_n >> 32) ^ k[1])  # all 64 index bits mixed in
    u1_n, u2_n = _unit(h_n), _unit(_hash32(h_n ^ k[2]))
    return (-2.0 * u1_n.log()).sqrt_().mul_(torch.cos(u2_n.mul_(2 * torch.pi))).mul_(std)


@torch.no_grad()
def fill_normal_(region: ShardRegion, seed: int, name: str, std: float) -> None:
    """Writes counter_normal over the region's elements of the full tensor into its local storage."""
    local = region.local
    if local.is_meta or local.numel() == 0:
        return
    strides = [1] * len(region.full_shape)
    for d in range(len(strides) - 2, -1, -1):
        strides[d] = strides[d + 1] * region.full_shape[d + 1]
    inner = local[0].numel() if local.dim() else 1
    dev = local.device
    rows = max(1, _CHUNK.get(dev.type, 1 << 24) // max(inner, 1))
    for start in range(0, local.shape[0] if local.dim() else 1, rows):
        part = local[start:start + rows] if local.dim() else local.view(1)
        index = torch.zeros((), dtype=torch.int64, device=dev)
        for d, size in enumerate(part.shape):
            first = region.offset[d] + (start if d == 0 else 0)
            view = [1] * part.dim()
            view[d] = size
            index = index + (torch.arange(size, device=dev, dtype=torch.int64) + first).view(view) * strides[d]
        part.copy_(counter_normal(index.reshape(-1), seed, name, std).view(part.shape))


@torch.no_grad()
def init_sharded_(lm: AXK1ForCausalLM, seed: int) -> None:
    """The model's init (AXK1ForCausalLM.init_weights) with counter-based draws into each rank's shards."""
    regions = shard_regions(lm, remove_duplicate=False)  # a tied head is drawn under both names, as init_weights does

    def normal_(name: str, weight: torch.Tensor, std: float) -> None:
        fill_normal_(regions[name], seed, name, std)

    lm.init_weights(normal_=normal_)
    lm.reset_derived_state()


def materialize_(module: nn.Module, device: torch.device | str, seed: int) -> None:
    """Allocates `module`'s (already sharded) meta tensors on `device`, then fills them with the counter-based
    init. `module` is an AXK1ForCausalLM or a wrapper holding it as `.lm`. On device "meta" nothing is allocated
    or filled."""
    lm = getattr(module, "lm", module)
    tied = lm.lm_head.weight is lm.model.embed_tokens.weight
    module.to_empty(device=device)
    if tied:  # to_empty() gives each parameter new storage, so a tied head would be a separate, unfilled copy
        lm.lm_head.weight = lm.model.embed_tokens.weight
    init_sharded_(lm, seed)
