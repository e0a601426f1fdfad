"""Whole tensors from a sharded model: what a rollout engine (or any single-process consumer) needs after an update.

FSDP2 keeps each parameter as a DTensor shard (`full_tensor()` all-gathers it); under expert parallelism a routed
expert block additionally holds only its ep rank's experts under the full block's name, so those slices are
all-gathered over the ep group and joined along the expert dimension. Every rank must call this (collectives, in
the same parameter order); every rank gets the whole tensors, one at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.tensor import DTensor

from axk1.parallel.expert_parallel import ExpertParallelExperts


@torch.no_grad()
def full_named_tensors(lm: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, whole tensor) for every parameter and buffer of `lm`, named as in the unsharded model."""
    for name, t in itertools.chain(lm.named_parameters(), lm.named_buffers()):
        x = t.full_tensor() if isinstance(t, DTensor) else t.detach()
        owner = lm.get_submodule(name.rsplit(".", 1)[0]) if "." in name else lm
        if isinstance(owner, ExpertParallelExperts) and name.rsplit(".", 1)[-1] in ("gate_up_proj", "down_proj"):
            parts = [torch.empty_like(x) for _ in range(owner.ep)]
            dist.all_gather(parts, x.contiguous(), group=owner.group)
            x = torch.cat(parts)
        yield name, x


@torch.no_grad()
def copy_full_weights_(source_lm: nn.Module, target: nn.Module | None) -> None:
    """Copies the sharded `source_lm`'s whole tensors into an unsharded replica `target` (None on ranks that hold
    no replica: they still take part in the gathers). Names must match; a missing one is an error."""
    dest = dict(itertools.chain(target.named_parameters(), target.named_buffers())) if target is not None else None
    for name, x in full_named_tensors(source_lm):
        if dest is None:
            continue
        if name not in dest or dest[name].shape != x.shape:
            raise KeyError(f"replica has no tensor {name} of shape {tuple(x.shape)}: it is not the trained model's "
                           "architecture")
        dest[name].copy_(x)
