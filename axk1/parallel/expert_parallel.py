"""Expert parallelism: each rank of the "ep" axis holds n_experts / ep routed experts; tokens travel to their
experts' rank and back with two differentiable all-to-alls (one host sync for the split sizes).

Uneven splits, ranks that send or receive no tokens, and experts with no tokens all work: the grouped matmul
takes empty groups, and an empty receive still touches the weights so their gradient is a (zero) tensor.

Legend: N tokens, K experts per token, M = N·K assignments, D hidden, F expert width, E experts (global),
El local experts, R ranks on the ep axis.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed._functional_collectives import all_to_all_single_autograd
from torch.distributed.device_mesh import DeviceMesh

from axk1.model.expert_kernels import CombineRows, WeightedSwiGLU, weights_in_compute_dtype
from axk1.model.moe import GroupedExperts, MoE


class ExpertParallelExperts(GroupedExperts):
    """The local slice of a GroupedExperts (experts [rank·El, (rank+1)·El)) plus token dispatch and combine."""

    def __init__(self, full: GroupedExperts, ep_mesh: DeviceMesh, checkpoint_mesh: DeviceMesh | None = None) -> None:
        nn.Module.__init__(self)
        self.ep_mesh, self.group = ep_mesh, ep_mesh.get_group()
        # the whole launch as (dp_replicate, ep, experts_fsdp) (axk1.parallel.mesh.expert_checkpoint_mesh):
        # checkpoints see every rank's shard of the slices as part of one [E, ...] tensor
        self.checkpoint_mesh = checkpoint_mesh
        self.ep, self.rank = dist.get_world_size(self.group), dist.get_rank(self.group)
        self.n_experts, self.width = full.n_experts, full.width
        self.n_local = full.n_experts // self.ep
        lo, hi = self.rank * self.n_local, (self.rank + 1) * self.n_local
        self.gate_up_proj = nn.Parameter(full.gate_up_proj.detach()[lo:hi].clone())
        self.down_proj = nn.Parameter(full.down_proj.detach()[lo:hi].clone())

    def forward(self, x_ND: torch.Tensor, idx_NK: torch.Tensor, weights_NK: torch.Tensor) -> torch.Tensor:
        N, K = idx_NK.shape
        R, El = self.ep, self.n_local
        flat_M = idx_NK.reshape(-1)
        order_M = flat_M.argsort(stable=True)  # expert-major = destination-rank-major (experts are contiguous)
        token_M = order_M // K
        send_RE = torch.bincount(flat_M, minlength=self.n_experts).view(R, El)
        recv_RE = torch.empty_like(send_RE)
        dist.all_to_all_single(recv_RE, send_RE, group=self.group)  # who sends me how many, per local expert
        in_splits, out_splits = send_RE.sum(1).tolist(), recv_RE.sum(1).tolist()  # the one host sync
        # The routing weights travel with their rows, one more column (in the rows' dtype, the matmuls' on every path
        # that runs EP), so the expert applies them inside its SwiGLU as the one-rank path does: weighting the
        # returned [M, D] rows instead would keep them all for the weights' gradient. One all-to-all, not two: two
        # independent ones could run their backwards in a different order on a rank with no tokens (another graph),
        # and mismatched collectives corrupt memory.
        # Each [M, D] tensor below is dropped (del) once the next step has used it: held to the return, as locals,
        # the layer's forward had six at once where the one-rank path has one (what the backward keeps aside), the
        # step's peak in fp32 on 2 gloo ranks: activations 14% over the memory account (axk1/train/memory.py)
        xw_MD1 = torch.cat([x_ND.index_select(0, token_M), weights_NK.reshape(-1)[order_M, None].to(x_ND.dtype)], 1)
        xw_recv = all_to_all_single_autograd(xw_MD1, out_splits, in_splits, self.group)
        # received rows are source-rank-major; the grouped matmul wants them local-expert-major
        expert_of_row = torch.arange(El, device=x_ND.device).repeat(R).repeat_interleave(recv_RE.flatten())
        perm = expert_of_row.argsort(stable=True)
        x_local, w_local = _Unpack.apply(xw_recv, perm)  # (reading the received rows waits for the all-to-all)
        del xw_MD1, xw_recv
        gate_up_EFD, down_EDF = weights_in_compute_dtype(x_local, self.gate_up_proj, self.down_proj)
        if x_local.shape[0] == 0:  # nothing to compute here; keep weights and routing weights in the graph (zero
            # gradients: the backward's all-to-alls need every rank), in the dtype the other ranks send
            y_local = (x_local + 0.0 * (gate_up_EFD.sum() + down_EDF.sum() + w_local.sum())).to(down_EDF.dtype)
        else:
            offsets = recv_RE.sum(0).cumsum(0).to(torch.int32)
            h = WeightedSwiGLU.apply(torch._grouped_mm(x_local.to(gate_up_EFD.dtype), gate_up_EFD.transpose(-2, -1),
                                                offs=offsets), self.width, w_local.to(gate_up_EFD.dtype))
            y_local = torch._grouped_mm(h, down_EDF.transpose(-2, -1), offs=offsets)
            del h
        del x_local, w_local
        inverse = torch.empty_like(perm)
        inverse[perm] = torch.arange(perm.numel(), device=perm.device)
        y_sent = y_local.index_select(0, inverse)
        del y_local
        y_MD = all_to_all_single_autograd(y_sent, in_splits, out_splits, self.group)
        return CombineRows.apply(y_MD, token_M, N, x_ND.dtype)


class _Unpack(torch.autograd.Function):
    """The received rows in local-expert order (`perm`), split into the tokens [M, D] and their routing weights
    [M, 1], each a contiguous tensor of its own (the grouped matmul wants aligned rows). Autograd's way (a gather
    into a reordered [M, D+1] copy, then two slices made contiguous) made that copy in the forward and the [M, D+1]
    gradient three times over in the backward (the gather's and each slice's, zero-filled). This one gathers each
    part straight from the received rows, and writes the one gradient it returns row by row (`perm` is a
    permutation: every row is written once); it keeps only `perm`."""

    @staticmethod
    def forward(ctx, xw_MD1: torch.Tensor, perm_M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.save_for_backward(perm_M)
        return xw_MD1[:, :-1].index_select(0, perm_M), xw_MD1[:, -1:].index_select(0, perm_M)

    @staticmethod
    def backward(ctx, grad_x_MD: torch.Tensor, grad_w_M1: torch.Tensor):  # (autograd gives zeros for an unused one)
        perm_M, = ctx.saved_tensors
        grad_MD1 = grad_x_MD.new_empty(grad_x_MD.shape[0], grad_x_MD.shape[1] + 1)
        grad_MD1[:, :-1].index_copy_(0, perm_M, grad_x_MD)
        grad_MD1[:, -1:].index_copy_(0, perm_M, grad_w_M1.to(grad_MD1.dtype))
        return grad_MD1, None


def apply_expert_parallel(model: nn.Module, ep_mesh: DeviceMesh,
                          checkpoint_mesh: DeviceMesh | None = None) -> list[ExpertParallelExperts]:
    """Replaces every MoE block's experts (main stack and MTP) by this rank's slice of the 1-D `ep_mesh`; returns
    the new modules. `checkpoint_mesh`: for DCP checkpoints (axk1.checkpoint.dcp), the launch's ranks as
    (dp_replicate, ep, experts_fsdp)."""
    out = []
    for module in model.modules():
        if isinstance(module, MoE) and not isinstance(module.experts, ExpertParallelExperts):
            eager = "forward" in vars(module.experts)  # apply_compile kept fp32 experts out of the graph
            module.experts = ExpertParallelExperts(module.experts, ep_mesh, checkpoint_mesh)
            if eager:  # ... and so must their replacement be: dynamo has no fp32 rule for _grouped_mm
                module.experts.forward = torch.compiler.disable(module.experts.forward, recursive=True)
            out.append(module.experts)
    return out
