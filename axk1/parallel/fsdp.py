"""FSDP2 (`fully_shard`) over the mesh's data-parallel axes: HSDP when dp_replicate > 1 (replicate x shard),
plain FSDP otherwise. One unit per decoder layer (MTP's included), then the root for embeddings, norms and head.

Routed experts under expert parallelism hold different slices on each ep rank, so they get their own units on
the axes outside ep (dp_replicate x dp_shard_mod_ep), as torchtitan does. Their gradients already sum every ep
rank's tokens, so their reduction divides by the whole data-parallel size instead of the unit's mesh size.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import Shard

from axk1.model.moe import Router
from axk1.parallel.expert_parallel import ExpertParallelExperts


def _dp_mesh(mesh: DeviceMesh, shard_axis: str) -> DeviceMesh:
    return mesh["dp_replicate", shard_axis] if mesh["dp_replicate"].size() > 1 else mesh[shard_axis]


def apply_fsdp(model: nn.Module, mesh: DeviceMesh, param_dtype: torch.dtype | None = None,
               reshard_after_forward: bool = True) -> nn.Module:
    """Shards `model` in place: an AXK1ForCausalLM, or a wrapper with the LM as `.lm` whose forward computes the
    loss (axk1.train.loss.Objective) - the trainer applies the head inside the chunked loss rather than in the
    LM's forward, and the root unit's parameters (embeddings, final norm, head) must be gathered around it."""
    lm = getattr(model, "lm", model)
    mp = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    kw = dict(mp_policy=mp, reshard_after_forward=reshard_after_forward)
    dp_size = mesh["dp"].size()
    dense_mesh = _dp_mesh(mesh, "fsdp")

    def shard_dense(unit: nn.Module, **unit_kw) -> None:
        """One unit over "fsdp" (= dp_shard, times cp under context parallelism). Under cp each rank's loss is
        already its share of the global mean (the trainer scales it by dp_size), so gradients are summed over the
        cp ranks and divided by dp_size only, not by the unit's mesh size."""
        fully_shard(unit, mesh=dense_mesh, **unit_kw)
        if mesh["cp"].size() > 1:
            _divide_by(unit, dp_size, mesh)

    # The routers as their own units gathered in fp32 (param_dtype fp32, inputs cast to fp32 on entry): with a
    # bf16 policy the top-k choice would otherwise be made on bf16-rounded weights (DeepSeek-V3 routes in fp32).
    if param_dtype is not None and param_dtype != torch.float32:
        fp32 = MixedPrecisionPolicy(param_dtype=torch.float32, reduce_dtype=torch.float32)
        for module in lm.modules():
            if isinstance(module, Router):
                shard_dense(module, mp_policy=fp32, reshard_after_forward=reshard_after_forward)
    for module in lm.modules():
        if isinstance(module, ExpertParallelExperts):
            emesh = _dp_mesh(mesh, "experts_fsdp")
            # when the local experts do not split evenly over the shard ranks, shard each expert's rows (dim 1):
            # whole experts (dim 0) would pad (519B: 24 local experts over 16 ranks -> 2 per rank, 33% waste)
            by_rows = module.n_local % mesh["experts_fsdp"].size() != 0
            fully_shard(module, mesh=emesh, shard_placement_fn=(lambda p: Shard(1)) if by_rows else None, **kw)
            _divide_by(module, dp_size, mesh, "experts_fsdp")
    # an MTP module's shared_head_norm runs outside its forward: shard only its decoder layer as a unit
    for unit in lm.decoder_layers():
        shard_dense(unit, **kw)
    shard_dense(model, **kw)
    return model


def _divide_by(unit: nn.Module, factor: int, mesh: DeviceMesh, axis: str = "fsdp") -> None:
    """Gradients reduced over `axis` as a sum divided by `factor`. NCCL does it in the reduction (PREMUL_SUM); gloo
    has no such op, so there the sum is divided afterwards, where a reduction over several ranks happens at all (on
    one rank FSDP2 reduces nothing, and that path divided nothing)."""
    unit.set_gradient_divide_factor(float(factor))
    if mesh.device_type == "cpu" and mesh[axis].size() > 1:
        unit.set_force_sum_reduction_for_comms(True)


def clip_gradients(model: nn.Module, max_norm: float, mesh: DeviceMesh | None) -> torch.Tensor:
    """Every trainer's gradient clipping (pretraining, SFT, RL): the model's gradients clipped to a global norm of
    `max_norm` (0: measured only); returns the norm as a 0-dim tensor on the device (not read here). `mesh`: the
    run's device mesh when sharded (clip_grad_norm_tensor_), None in one process (torch's clip_grad_norm_)."""
    if mesh is not None:
        return clip_grad_norm_tensor_(list(model.parameters()), max_norm, mesh)
    return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm if max_norm > 0 else float("inf"))


@torch.no_grad()
def clip_grad_norm_tensor_(parameters: list[nn.Parameter], max_norm: float, mesh: DeviceMesh) -> torch.Tensor:
    """Global gradient norm across FSDP shards and expert-parallel slices, then clipping in place; the norm comes
    back as a 0-dim float64 tensor on the gradients' device, so the caller decides when to wait for it.

    Dense gradients are sharded over "fsdp" (dp_shard x cp; replicated over dp_replicate); expert gradients are
    sharded over dp_shard_mod_ep x cp and differ across ep, which together is again the "fsdp" axis: summing local
    squares over that one group counts every gradient element exactly once. (torch's clip_grad_norm_ cannot mix the two
    meshes.)"""
    grads = [p.grad.to_local() if hasattr(p.grad, "to_local") else p.grad for p in parameters if p.grad is not None]
    # the squares add up where the gradients are (NCCL takes CUDA tensors only), in float64 as before
    device = grads[0].device if grads else torch.device(mesh.device_type)
    sq = torch.zeros((), dtype=torch.float64, device=device)
    for g in grads:
        sq += g.double().pow(2).sum()
    torch.distributed.all_reduce(sq, group=mesh["fsdp"].get_group())
    norm = sq.sqrt()
    # Scale by max_norm / norm when that is < 1, chosen on the device (reading the norm would be a host sync);
    # on CPU, where reading it is free, the pass is skipped when it would multiply by 1 (exactly as before).
    if max_norm > 0 and (device.type != "cpu" or float(norm) > max_norm):
        coef = torch.where(norm > max_norm, max_norm / (norm + 1e-6), 1.0)
        for g in grads:
            g.mul_(coef)
    return norm
