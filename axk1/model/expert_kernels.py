"""The routed experts' hand-written autograd pieces, shared by the one-rank experts (axk1/model/moe.py) and the
expert-parallel ones (axk1/parallel/expert_parallel.py): the gather of each assignment's input row, the weighted
SwiGLU between the grouped matmuls, the sum of each token's K outputs, and the cast of the expert weights to the
dtype their matmuls run in. Each exists to save memory or passes that autograd's own versions cost (docs/gpu.md).

Legend: N tokens, K experts per token, M = N·K assignments, D hidden, F expert width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class WeightedSwiGLU(torch.autograd.Function):
    """w * silu(gate) * up from the fused [M, 2F] projection and the routing weights w [M, 1], with a hand-written
    backward: the projection's gradient is written over the saved projection itself (nothing else reads it: the
    matmul that made it saves its inputs, not its output), so neither pass allocates a second [M, 2F] or [M, F]
    tensor for the split, the concatenation or the weighting that autograd would build. A second backward through
    the same graph is refused by autograd's check on the modified saved tensor."""

    @staticmethod
    def forward(ctx, gate_up_M2F: torch.Tensor, width: int, w_M1: torch.Tensor) -> torch.Tensor:
        gate_MF, up_MF = gate_up_M2F.split(width, dim=-1)
        silu_MF = F.silu(gate_MF)
        ctx.save_for_backward(gate_up_M2F, silu_MF, w_M1)
        ctx.width = width
        return (silu_MF * up_MF).mul_(w_M1)

    @staticmethod
    def backward(ctx, grad_MF: torch.Tensor):
        gate_up_M2F, silu_MF, w_M1 = ctx.saved_tensors
        gate_MF, up_MF = gate_up_M2F.split(ctx.width, dim=-1)
        g_up_MF = grad_MF * up_MF  # d(silu) before the weight; read up before its slot receives d(up)
        grad_w_M1 = None
        if ctx.needs_input_grad[2]:  # row-wise dot products as one batched matmul (no [M, F] temporary)
            grad_w_M1 = torch.bmm(g_up_MF.unsqueeze(1), silu_MF.unsqueeze(2)).view(-1, 1)
        if torch.compiler.is_compiling():
            # Compiled (the decoder layer under [parallelism] compile): dynamo cannot trace `out=` into the views
            # below and would break the layer's graph at this call (4 breaks a MoE layer); inductor fuses these
            # expressions into one pass writing the [M, 2F] gradient, so the in-place trick buys nothing there.
            grad_gate_MF = torch.ops.aten.silu_backward(g_up_MF * w_M1, gate_MF)
            return torch.cat([grad_gate_MF, grad_MF * silu_MF * w_M1], dim=-1), None, grad_w_M1
        torch.mul(grad_MF, silu_MF, out=up_MF).mul_(w_M1)
        torch.ops.aten.silu_backward.grad_input(g_up_MF.mul_(w_M1), gate_MF, grad_input=gate_MF)  # in place
        return gate_up_M2F, None, grad_w_M1


class GatherRows(torch.autograd.Function):
    """The experts' input: x_ND's rows for the M = N*K assignments sorted by expert (assignment order_M[m] of token
    token_M[m] = order_M[m] // K), in the experts' compute `dtype`. Cast before the gather: under autocast the
    residual stream is fp32 and the experts run in bf16, and gathering first made an fp32 [M, D] copy and, backward,
    an fp32 [M, D] gradient (the cast's) for an fp32 index_add; now both are bf16, half the bytes (compiled, inductor
    fused the cast into the gather, so the forward's bytes were already these). Autograd's index_select backward would
    then sum each token's K gradients in a bf16 index_add, rounding every partial sum; this one reads them back in
    assignment order, token-major (a gather through the inverse permutation: no atomics, deterministic, and compiled
    one kernel with the sum) and sums over K in fp32."""

    @staticmethod
    def forward(ctx, x_ND: torch.Tensor, token_M: torch.Tensor, order_M: torch.Tensor, K: int,
                dtype: torch.dtype) -> torch.Tensor:
        ctx.save_for_backward(order_M)
        ctx.K, ctx.x_dtype = K, x_ND.dtype
        return x_ND.to(dtype).index_select(0, token_M)

    @staticmethod
    def backward(ctx, grad_MD: torch.Tensor):
        order_M, = ctx.saved_tensors
        M, D = grad_MD.shape
        # where each assignment's row went: position_M[order_M[m]] = m
        position_M = torch.empty_like(order_M).scatter_(0, order_M, torch.arange(M, device=order_M.device))
        grad_NKD = grad_MD.index_select(0, position_M).view(M // ctx.K, ctx.K, D)
        return grad_NKD.sum(1, dtype=torch.float32).to(ctx.x_dtype), None, None, None, None


class CombineRows(torch.autograd.Function):
    """Σ over each token's K expert outputs: out[token_M[m]] += y[m], summed in `dtype`. `index_add_`'s own
    backward keeps its whole source alive ([M, D], in the sum's dtype: fp32 under autocast) although the gradient
    needs only the index; on the H200 check that was 25 KB a token and layer, the 13 GB the memory account missed
    (docs/gpu.md). This one saves the index alone and reads the gradient back with one index_select."""

    @staticmethod
    def forward(ctx, y_MD: torch.Tensor, token_M: torch.Tensor, n_tokens: int, dtype: torch.dtype) -> torch.Tensor:
        ctx.save_for_backward(token_M)
        ctx.y_dtype = y_MD.dtype
        return torch.zeros(n_tokens, y_MD.shape[1], dtype=dtype, device=y_MD.device).index_add_(0, token_M,
                                                                                               y_MD.to(dtype))

    @staticmethod
    def backward(ctx, grad_ND: torch.Tensor):
        token_M, = ctx.saved_tensors
        return grad_ND.index_select(0, token_M).to(ctx.y_dtype), None, None, None


def weights_in_compute_dtype(x: torch.Tensor, *weights: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The expert weights in the dtype their matmuls should run in: autocast's (bf16) when it is on — autocast
    does not cover `_grouped_mm`, which would otherwise run in fp32 (on CUDA its slow fallback) — else as they
    are (bf16 when FSDP2 gathered them in its param_dtype)."""
    if torch.is_autocast_enabled(x.device.type):
        dtype = torch.get_autocast_dtype(x.device.type)
        return tuple(w.to(dtype) for w in weights)
    return weights
