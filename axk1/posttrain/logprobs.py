"""Log-probabilities of sampled completion tokens, fused with the LM head, in chunks: what RL's loss is made of.

A policy-gradient loss needs log π(token) for every completion token, with a gradient, and (for logging) the
entropy of each next-token distribution. Taking log_softmax of full [B, C, V] logits keeps several fp32 copies of
the largest activation alive (logits, log-softmax, its exp for the entropy) and spends most of the update reading
them. Here only the real completion positions are gathered (no padding rows), the head runs on `chunk` of them at
a time, and each chunk keeps just two numbers per token: its log-probability and its log-sum-exp. The backward
recomputes a chunk's logits from the saved hidden states (one more matmul, cheaper than storing [N, V]):
d logp_n / d logits_n = onehot(target_n) − softmax(logits_n).

`PolicyLogprobs` wraps the LM as a module whose forward is this computation, so FSDP2's root hooks (gather the
embeddings, final norm and head before; reduce-scatter after) wrap all of it, as the training `Objective` does.

Legend: B completions, T tokens of prompt + completion, C completion positions, N real completion tokens, D hidden,
V vocabulary.
"""

from __future__ import annotations

import torch
from torch import nn

CHUNK = 512  # tokens per head chunk (the training loss's measured choice; see axk1/train/loss.py)


class _LinearLogprob(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h_ND, w_VD, target_N, chunk: int, want_entropy: bool):
        N = h_ND.shape[0]
        w32_VD = w_VD.float()
        logp_N = torch.empty(N, dtype=torch.float32, device=h_ND.device)
        lse_N = torch.empty_like(logp_N)
        entropy_N = torch.zeros_like(logp_N) if want_entropy else None
        rows_all = torch.arange(min(chunk, max(N, 1)), device=h_ND.device)
        for s in range(0, N, chunk):
            e = min(s + chunk, N)
            logits_CV = h_ND[s:e].float() @ w32_VD.T
            lse_C = torch.logsumexp(logits_CV, dim=-1)
            lse_N[s:e] = lse_C
            logp_N[s:e] = logits_CV[rows_all[: e - s], target_N[s:e]] - lse_C
            if want_entropy:  # H = lse − Σ p·logit
                p_CV = torch.exp(logits_CV - lse_C[:, None])
                entropy_N[s:e] = lse_C - (p_CV * logits_CV).sum(-1)
        ctx.save_for_backward(h_ND, w_VD, target_N, lse_N)
        ctx.chunk = chunk
        if entropy_N is not None:
            ctx.mark_non_differentiable(entropy_N)
        return logp_N, entropy_N

    @staticmethod
    def backward(ctx, grad_logp_N, _grad_entropy):
        h_ND, w_VD, target_N, lse_N = ctx.saved_tensors
        w32_VD = w_VD.float()
        grad_h_ND = torch.empty(h_ND.shape, dtype=torch.float32, device=h_ND.device)
        grad_w_VD = torch.zeros_like(w32_VD)
        g_N = grad_logp_N.float()
        for s in range(0, h_ND.shape[0], ctx.chunk):
            e = min(s + ctx.chunk, h_ND.shape[0])
            h_CD = h_ND[s:e].float()
            # d loss / d logits = g · (onehot − softmax), built in place in the logits buffer
            grad_CV = torch.exp(h_CD @ w32_VD.T - lse_N[s:e, None]).mul_(-g_N[s:e, None])
            grad_CV[torch.arange(e - s, device=h_CD.device), target_N[s:e]] += g_N[s:e]
            grad_h_ND[s:e] = grad_CV @ w32_VD
            grad_w_VD.addmm_(grad_CV.T, h_CD)
        return grad_h_ND.to(h_ND.dtype), grad_w_VD.to(w_VD.dtype), None, None, None


def linear_logprob(h_ND: torch.Tensor, weight_VD: torch.Tensor, target_N: torch.Tensor, chunk: int = CHUNK,
                   with_entropy: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(log softmax(h @ weight.T)[target] [N] fp32 with gradient, entropy [N] without one or None)."""
    if h_ND.dim() != 2 or target_N.shape != h_ND.shape[:1]:
        raise ValueError(f"expected h [N, D] and targets [N], got {tuple(h_ND.shape)} and {tuple(target_N.shape)}")
    return _LinearLogprob.apply(h_ND, weight_VD, target_N, chunk, with_entropy)


def completion_logprobs(lm, ids_BT: torch.Tensor, prompt_B: torch.Tensor, length_B: torch.Tensor,
                        with_entropy: bool = True, temperature: float = 1.0,
                        host_lengths: tuple[list[int], list[int]] | None = None,
                        ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """(log-prob of each completion token [B, C] (0 on padding), its entropy [B, C] (no grad; None unless asked),
    valid mask [B, C]) for rows of prompt + completion, right-padded (causal attention never lets a real token
    see the padding). `temperature`: the sampling temperature, so the probabilities are those of the distribution
    the tokens were drawn from (logits / T). `host_lengths`: the same prompt and row lengths as host lists, from a
    caller that also checked the ids on the host (RL's update): then nothing here reads a device value (on a GPU
    each read waits for the queued kernels; without them, four per call)."""
    h_BTD, _ = lm.hidden_states(ids_BT, None, ids_checked=host_lengths is not None)
    if host_lengths is None:
        C = int((length_B - prompt_B).max())
    else:
        C = max(length - prompt for prompt, length in zip(*host_lengths))
    c_C = torch.arange(C, device=ids_BT.device)
    mask_BC = c_C[None, :] < (length_B - prompt_B)[:, None].to(ids_BT.device)
    # position t predicts token t+1: the completion's first token is predicted from the prompt's last position
    pos_BC = (prompt_B[:, None].to(ids_BT.device) - 1 + c_C[None, :]).clamp(max=ids_BT.shape[1] - 2)
    if host_lengths is None:
        b_N, c_N = mask_BC.nonzero(as_tuple=True)
    else:  # the valid (row, column) pairs in row-major order, as nonzero lists them
        pairs = [(b, c) for b, (prompt, length) in enumerate(zip(*host_lengths)) for c in range(length - prompt)]
        b_N, c_N = (torch.tensor(col, dtype=torch.long).to(ids_BT.device, non_blocking=True) for col in zip(*pairs))
    t_N = pos_BC[b_N, c_N]
    h_ND = lm.model.norm(h_BTD[b_N, t_N])
    if temperature != 1.0:  # (h / T) @ W.T = logits / T
        h_ND = h_ND / temperature
    logp_N, entropy_N = linear_logprob(h_ND, lm.lm_head.weight, ids_BT[b_N, t_N + 1], with_entropy=with_entropy)
    logp_BC = torch.zeros(mask_BC.shape, dtype=torch.float32, device=ids_BT.device).masked_scatter(mask_BC, logp_N)
    entropy_BC = None
    if entropy_N is not None:
        entropy_BC = torch.zeros_like(logp_BC).masked_scatter_(mask_BC, entropy_N)
    return logp_BC, entropy_BC, mask_BC


class PolicyLogprobs(nn.Module):
    """The LM (as `.lm`, so parameter names and checkpoints match the training Objective's) with completion
    log-probabilities as its forward: the unit FSDP2 shards as the root during RL."""

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, ids_BT: torch.Tensor, prompt_B: torch.Tensor, length_B: torch.Tensor,
                with_entropy: bool = True, temperature: float = 1.0,
                host_lengths: tuple[list[int], list[int]] | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        return completion_logprobs(self.lm, ids_BT, prompt_B, length_B, with_entropy, temperature, host_lengths)
