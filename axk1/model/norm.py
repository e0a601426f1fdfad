"""RMSNorm as A.X K1 computes it: normalise in fp32, cast back, then scale.

Legend: D the normalised (last) dim; "..." any leading dims.
"""

import functools

import torch
from torch import nn


def _inv_rms(x: torch.Tensor, eps: float) -> torch.Tensor:
    """1 / sqrt(mean(x^2) + eps) over the last dim, keepdim. vector_norm reduces in one pass with no temporary
    (about half the time of vecdot, which multiplies into a temporary and then sums)."""
    return torch.linalg.vector_norm(x, dim=-1, keepdim=True).square_().div_(x.shape[-1]).add_(eps).rsqrt_()


@functools.lru_cache(maxsize=64)
def _eps_and_inv_dim(eps: float, D: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.inference_mode(False):  # usable in and out of inference mode
        return torch.tensor(eps, device=device), torch.tensor(1.0 / D, device=device)


def rms_norm_no_grad(x_sD: torch.Tensor, w_D: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm.forward without autograd (generation; axk1.model.latent_decode calls it on plain tensors).

    In fp32 a decode step's single rows cost per op, so it takes six ops (constants as 0-d tensors, so no Python
    scalar is wrapped per call): ~60% of the time of F.rms_norm or pow/mean/add. sum * (1/D) equals mean exactly
    for power-of-two D and to the last bit otherwise. Other dtypes normalise in fp32 and cast back."""
    if x_sD.dtype != torch.float32 or w_D.dtype != torch.float32 or torch.compiler.is_compiling():
        # (the compiled decode step fuses the plain formula anyway)
        x32 = x_sD.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)
        return w_D * x32.to(x_sD.dtype)
    eps_t, inv_dim_t = _eps_and_inv_dim(eps, x_sD.shape[-1], x_sD.device)
    r_s = torch.rsqrt(torch.addcmul(eps_t, torch.linalg.vecdot(x_sD, x_sD), inv_dim_t))
    return (x_sD * r_s.unsqueeze(-1)).mul_(w_D)


class _RMSNormFp32(torch.autograd.Function):
    """y = w * x * r, r = rsqrt(mean(x^2) + eps), with a hand-written backward: autograd's chain through pow, mean,
    rsqrt and two products makes about twice the passes over x. Saves the normalised x (x * r, in place of x: the
    same memory) and r, so the backward need not form it again."""

    @staticmethod
    def forward(ctx, x_sD: torch.Tensor, w_D: torch.Tensor, eps: float) -> torch.Tensor:
        r_s1 = _inv_rms(x_sD, eps)
        xhat_sD = x_sD * r_s1
        ctx.save_for_backward(xhat_sD, w_D, r_s1)
        return xhat_sD * w_D

    @staticmethod
    def backward(ctx, g_sD: torch.Tensor):
        xhat_sD, w_D, r_s1 = ctx.saved_tensors
        D = xhat_sD.shape[-1]
        # dx = r * (g w - xhat * mean(g w xhat)); dw = sum over rows of g xhat. Products and sums only, which
        # inductor fuses (dx in one pass over each row: its mean, then the update). The mean was a matrix-vector
        # product ((g xhat) @ w); inductor decomposes torch.mv into the same product and sum (torch 2.13's table),
        # so compiled layers gain nothing measurable from this form, and eager runs the same passes with at most two
        # [.., D] tensors at once: it is written so for the formula's sake, not for speed.
        grad_w = (g_sD * xhat_sD).reshape(-1, D).sum(0) if ctx.needs_input_grad[1] else None
        grad_x = None
        if ctx.needs_input_grad[0]:
            gw_sD = g_sD * w_D
            c_s1 = (gw_sD * xhat_sD).sum(-1, keepdim=True).div_(D)
            grad_x = gw_sD.addcmul_(xhat_sD, c_s1, value=-1).mul_(r_s1)  # in place: one new tensor, not two
        return grad_x, grad_w, None


class _RMSNormLowPrecision(torch.autograd.Function):
    """The same norm for bf16 inputs (FSDP2 gathers weights in bf16, so the residual stream is bf16): normalise in
    fp32, cast back, then scale, as `rms_norm_no_grad`. Autograd through those ops would keep the fp32 copy of x and
    the cast normalised x (6 bytes a value); this keeps x itself and r (2 bytes a value, 4 a row) and forms the
    normalised x again in the backward (docs/gpu.md, "Memory")."""

    @staticmethod
    def forward(ctx, x_sD: torch.Tensor, w_D: torch.Tensor, eps: float) -> torch.Tensor:
        r_s1 = _inv_rms(x_sD.float(), eps)
        ctx.save_for_backward(x_sD, w_D, r_s1)
        return w_D * (x_sD.float() * r_s1).to(x_sD.dtype)

    @staticmethod
    def backward(ctx, g_sD: torch.Tensor):
        x_sD, w_D, r_s1 = ctx.saved_tensors
        D = x_sD.shape[-1]
        xhat_sD = x_sD.float() * r_s1
        grad_w = None
        if ctx.needs_input_grad[1]:
            grad_w = (g_sD.float() * xhat_sD.to(x_sD.dtype)).reshape(-1, D).sum(0).to(w_D.dtype)
        grad_x = None
        if ctx.needs_input_grad[0]:
            gxhat_sD = (g_sD * w_D).float()
            c_s1 = (gxhat_sD * xhat_sD).sum(-1, keepdim=True).div_(D)
            grad_x = gxhat_sD.addcmul_(xhat_sD, c_s1, value=-1).mul_(r_s1).to(x_sD.dtype)
        return grad_x, grad_w, None


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.dtype == torch.float32 and self.weight.dtype == torch.float32 and torch.is_grad_enabled()
                and (x.requires_grad or self.weight.requires_grad)):
            return _RMSNormFp32.apply(x, self.weight, self.eps)
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            return _RMSNormLowPrecision.apply(x, self.weight, self.eps)
        return rms_norm_no_grad(x, self.weight, self.eps)

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)
