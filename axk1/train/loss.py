"""Next-token cross-entropy fused with the LM head, in chunks of tokens.

Full-vocabulary logits for a whole batch are the largest activation of a language model (N tokens x 163,840 fp32
values: 2.6 GB for 4K tokens). Here the head is applied to `chunk_size` tokens at a time; each chunk's gradient
(softmax - one_hot) is turned into d(hidden) and d(head weight) right away, so neither logits nor their gradient ever
exist for the whole batch, and no separate log-softmax backward pass is needed. On CPU the default chunk (512
tokens) keeps a chunk's logits (16 MB at V = 8,192) in the last-level cache between the matmul that writes them and
the softmax that reads them, while the head-gradient matmul (whose inner dim is the chunk) stays efficient; an
accelerator takes 4,096 (`ACCELERATOR_CHUNK_TOKENS`) and runs each chunk's softmax, loss and gradient as one
compiled function (`chunk_cross_entropy`).

Legend: N tokens, D hidden, V vocabulary, C chunk of tokens.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from axk1.model import check_token_ids
from axk1.train.balance import moe_layers

IGNORE_INDEX = -100
# Tokens per chunk. Measured on the benchmark model's training step (V = 8,192): 256 was ~15% faster than 1,024 on a
# 2-core AMD EPYC; on a 2-core Xeon (Sapphire Rapids) 512 beats 256 by ~1.5% of the whole step and 128 loses. With a
# much larger V a smaller chunk may pay.
CHUNK_TOKENS = 512
# Tokens per chunk on an accelerator. Each chunk adds its [V, D] head gradient into the fp32 sum: the matmul writes
# it and the sum reads and rewrites it, 12 bytes a head weight per chunk, whatever the chunk's length. At 512 tokens
# that traffic rivals the matmul's own time (A.X K1's head: 14 GB per chunk, ~4 ms at 3.5 TB/s, against 1.7 ms of
# bf16 tensor-core work; the 2B check model: 128 chunks a step, ~74 ms of a 640 ms step); at 4,096 it is under a
# third of it. The price is the chunk's bf16 logits and gradient, 4 bytes a token and vocabulary entry: 2.7 GB.
ACCELERATOR_CHUNK_TOKENS = 4096


def chunk_tokens(device: torch.device) -> int:
    return CHUNK_TOKENS if device.type == "cpu" else ACCELERATOR_CHUNK_TOKENS


def sync_free_loss(device: torch.device) -> bool:
    """Whether the chunk loop avoids host reads (an accelerator: a read stalls the queue of kernels once per chunk,
    measured as 2 of every 3 host syncs of a GPU step, docs/gpu.md). On CPU a read is free and the one-pass softmax is
    faster."""
    return device.type != "cpu"


def _nll_and_prob_one_pass(logits_CV, rows, labels_C, h_CD, w_VD):
    """CPU: one pass (softmax, in place) instead of two (log_softmax, then exp for the gradient); the loss reads the
    label's log-probability off the softmax (relative error ~1e-7) except where it underflowed, where those few rows'
    exact log-softmax is recomputed (their logits were overwritten by the probabilities)."""
    prob_CV = torch.ops.aten._softmax.out(logits_CV, -1, False, out=logits_CV)  # in place
    p_label_C = prob_CV[rows, labels_C]
    nll_C = -p_label_C.log()
    tiny_C = (p_label_C < 1e-30).nonzero()[:, 0]
    if tiny_C.numel():
        logits_tV = h_CD[tiny_C].float() @ w_VD.float().T
        nll_C[tiny_C] = -torch.log_softmax(logits_tV, dim=-1).gather(1, labels_C[tiny_C, None])[:, 0]
    return nll_C, prob_CV


def chunk_cross_entropy(logits_CV, labels_C, valid_C, need_grad: bool):
    """Accelerators' step for one chunk: the loss of each row from its logsumexp (exact, no host read) and, with
    `need_grad`, the logits' gradient softmax - one_hot, zero on ignored rows, in the logits' dtype (the matmul's:
    bf16 on bf16 runs). Written as whole-chunk tensor expressions so that torch.compile fuses them (`_chunk_kernel`):
    bf16 logits are read twice and the bf16 gradient written once (~6 bytes a logit) where the eager ops made five
    fp32 passes over the chunk (~32 bytes a logit; with MTP 10 MB a token at A.X K1's vocabulary)."""
    x_CV = logits_CV.float()
    lse_C = torch.logsumexp(x_CV, dim=-1)
    nll_C = (lse_C - x_CV.gather(1, labels_C[:, None])[:, 0]) * valid_C
    if not need_grad:
        return nll_C, None
    one_hot_CV = torch.arange(x_CV.shape[1], device=x_CV.device) == labels_C[:, None]
    grad_CV = (torch.exp(x_CV - lse_C[:, None]) - one_hot_CV.float()) * valid_C[:, None]
    return nll_C, grad_CV.to(logits_CV.dtype)


_compiled_chunk = None


def _chunk_kernel(device: torch.device):
    """`chunk_cross_entropy`, compiled once per process on an accelerator (one fused reduction and one pointwise
    kernel); eager on CPU, where tests run the same expressions (the CPU's own loop is the one-pass softmax)."""
    global _compiled_chunk
    if device.type == "cpu":
        return chunk_cross_entropy
    if _compiled_chunk is None:
        _compiled_chunk = torch.compile(chunk_cross_entropy, fullgraph=True)
    return _compiled_chunk


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h_ND, w_VD, labels_N, chunk_size: int, need_grad: bool, token_loss_N, low: torch.dtype | None,
                n_valid: int | None):
        valid_N = labels_N != IGNORE_INDEX
        if n_valid is None:
            n_valid = int(valid_N.sum())  # a read of a device value unless the caller counted on the host
            if n_valid == 0:
                raise ValueError("every label is ignored (-100): the loss is undefined for this batch")
        safe_labels_N = labels_N.clamp(min=0)
        # The head's three matmuls per chunk run in fp32 for an fp32 run (TF32 on a GPU), in `low` (bf16) for a bf16
        # one, as torchtitan's bf16 head does: on a GPU they are half of a small model's FLOPs (two heads with MTP)
        # and bf16 tensor cores run them at twice TF32's rate. Logits, softmax, loss and the head's gradient are
        # still formed and summed in fp32.
        w_mm_VD = w_VD.float() if low is None else w_VD.to(low)
        # n_valid = 0 given by the caller: a rank's share with nothing to learn still runs the same kernels (and its
        # model the same collectives) for a loss and gradients of 0
        scale = 1.0 / n_valid if n_valid else 0.0
        loss = torch.zeros((), dtype=torch.float32, device=h_ND.device)
        grad_h_ND = torch.empty_like(h_ND, dtype=torch.float32) if need_grad else None
        grad_w_VD = None  # fp32; fp32 runs: the first chunk overwrites it (beta = 0); bf16: chunks add into zeros
        if need_grad:
            grad_w_VD = torch.empty_like(w_VD, dtype=torch.float32) if low is None else torch.zeros_like(
                w_VD, dtype=torch.float32)
        sync_free = sync_free_loss(h_ND.device)
        if sync_free:
            kernel = _chunk_kernel(h_ND.device)
        else:
            # CPU: one [C, V] fp32 buffer serves every chunk: logits, then (in place) probabilities, then the
            # gradient. Reusing it keeps it in cache and spares a fresh multi-MB allocation (and its page faults).
            buffer_CV = torch.empty(min(chunk_size, h_ND.shape[0]), w_VD.shape[0], dtype=torch.float32,
                                    device=h_ND.device)
        for start in range(0, h_ND.shape[0], chunk_size):
            end = min(start + chunk_size, h_ND.shape[0])
            h_CD = h_ND[start:end].float() if low is None else h_ND[start:end].to(low)
            labels_C, valid_C = safe_labels_N[start:end], valid_N[start:end]
            if sync_free:  # logits in the matmul's dtype; the kernel reads them into fp32
                nll_C, grad_CV = kernel(torch.mm(h_CD, w_mm_VD.T), labels_C, valid_C, need_grad)
            else:
                if low is None:
                    logits_CV = torch.mm(h_CD, w_mm_VD.T, out=buffer_CV[: end - start])
                else:
                    logits_CV = buffer_CV[: end - start].copy_(torch.mm(h_CD, w_mm_VD.T))
                rows = torch.arange(end - start, device=h_ND.device)
                nll_C, grad_CV = _nll_and_prob_one_pass(logits_CV, rows, labels_C, h_CD, w_mm_VD)
                nll_C = nll_C * valid_C
                if need_grad:
                    grad_CV[rows, labels_C] -= 1.0  # softmax - one_hot, in place
                    ignored_C = (~valid_C).nonzero()[:, 0]
                    if ignored_C.numel():  # usually a handful of rows: zero them rather than rescale the chunk
                        grad_CV[ignored_C] = 0.0
            loss += nll_C.sum()
            if token_loss_N is not None:
                token_loss_N[start:end] = nll_C
            if need_grad:
                if low is None:
                    torch.mm(grad_CV, w_mm_VD, out=grad_h_ND[start:end])
                    grad_w_VD.addmm_(grad_CV.T, h_CD, beta=0 if start == 0 else 1, alpha=scale)
                else:
                    g_CV = grad_CV.to(low)  # already bf16 from the accelerators' kernel
                    grad_h_ND[start:end] = torch.mm(g_CV, w_mm_VD)
                    grad_w_VD.add_(torch.mm(g_CV.T, h_CD), alpha=scale)
        # The gradients are final here; backward only scales them by the upstream gradient. They are kept on ctx
        # (not saved tensors) so that backward can hand them over without another copy of each.
        ctx.grads = (grad_h_ND.mul_(scale).to(h_ND.dtype), grad_w_VD.to(w_VD.dtype)) if need_grad else None
        return loss * scale

    @staticmethod
    def backward(ctx, grad_loss):
        if ctx.grads is None:
            raise RuntimeError("linear_cross_entropy's gradient was already handed over: its backward runs once "
                               "(do not backward through it twice with retain_graph=True)")
        grad_h_ND, grad_w_VD = ctx.grads
        ctx.grads = None
        # Scale in place, and not at all for the usual upstream 1.0 (read for free on CPU; elsewhere it would
        # cost a device sync, so there the product is always taken).
        if sync_free_loss(grad_loss.device) or float(grad_loss) != 1.0:
            grad_h_ND.mul_(grad_loss)
            grad_w_VD.mul_(grad_loss)
        return grad_h_ND, grad_w_VD, None, None, None, None, None, None


def linear_cross_entropy(h_ND: torch.Tensor, weight_VD: torch.Tensor, labels_N: torch.Tensor,
                         chunk_size: int | None = None, token_loss_N: torch.Tensor | None = None,
                         n_valid: int | None = None) -> torch.Tensor:
    """Mean cross-entropy of softmax(h @ weight.T) against labels (IGNORE_INDEX = -100 skipped), in fp32.
    `token_loss_N`, if given (fp32 [N]), receives each token's loss (0 where ignored) at no extra cost: the
    trainer's per-domain losses. Under autocast, or with bf16 hidden states (FSDP2's bf16 path), the head's
    matmuls run in that dtype; logits, loss and gradients stay fp32. `chunk_size`: tokens per chunk, by default
    the device's (`chunk_tokens`). `n_valid`: the labelled rows (labels other than IGNORE_INDEX), when the caller
    counted them on the host; otherwise they are counted here, a read of a device value (a sync on an accelerator).
    All labels ignored is an error, unless the caller says so with `n_valid = 0`: then the loss and gradients are 0
    (a distributed rank whose rows hold no label this time must still run what the other ranks run)."""
    if h_ND.dim() != 2 or labels_N.shape != h_ND.shape[:1]:
        raise ValueError(f"expected h [N, D] and labels [N], got {tuple(h_ND.shape)} and {tuple(labels_N.shape)}")
    need_grad = torch.is_grad_enabled() and (h_ND.requires_grad or weight_VD.requires_grad)
    if token_loss_N is not None and (token_loss_N.shape != labels_N.shape or token_loss_N.dtype != torch.float32):
        raise ValueError(f"token_loss_N must be float32 of shape {tuple(labels_N.shape)}")
    device = h_ND.device.type
    low = (torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device)
           else h_ND.dtype if h_ND.dtype in (torch.bfloat16, torch.float16) else None)
    chunk_size = chunk_size or chunk_tokens(h_ND.device)
    return _LinearCrossEntropy.apply(h_ND, weight_VD, labels_N, chunk_size, need_grad, token_loss_N, low, n_valid)


def next_token_labels(input_ids_BT: torch.Tensor, document_ids_BT: torch.Tensor | None = None) -> torch.Tensor:
    """Labels [B, T]: token t+1 for position t; the last position and document boundaries are ignored."""
    labels_BT = torch.full_like(input_ids_BT, IGNORE_INDEX)
    labels_BT[:, :-1] = input_ids_BT[:, 1:]
    if document_ids_BT is not None:
        crosses_BT = document_ids_BT[:, 1:] != document_ids_BT[:, :-1]
        labels_BT[:, :-1][crosses_BT] = IGNORE_INDEX
    return labels_BT


# ---- the training objective: next-token + λ·MTP (+ the sequence-wise balance loss), one entry point ----

def mtp_labels(input_ids_BT: torch.Tensor, document_ids_BT: torch.Tensor | None, depth: int,
               labels_BT: torch.Tensor | None = None) -> torch.Tensor:
    """Labels [B, T-depth] for MTP depth k: position i predicts token i+1+k; ignored across documents or the end.
    With the batch's next-token `labels_BT` (post-training masks prompts), a target the main loss ignores is
    ignored here too (for plain pretraining labels that changes nothing: their only holes are document ends)."""
    B, T = input_ids_BT.shape
    out_BT = torch.full((B, T - depth), IGNORE_INDEX, dtype=input_ids_BT.dtype, device=input_ids_BT.device)
    out_BT[:, : T - depth - 1] = input_ids_BT[:, depth + 1:]
    if document_ids_BT is not None:
        crosses = document_ids_BT[:, : T - depth - 1] != document_ids_BT[:, depth + 1:]
        out_BT[:, : T - depth - 1][crosses] = IGNORE_INDEX
    if labels_BT is not None:
        out_BT[labels_BT[:, depth:] == IGNORE_INDEX] = IGNORE_INDEX
    return out_BT


class HostCounts(NamedTuple):
    """A micro-batch's labelled positions, counted from its host copy before the copy to the device: next-token,
    then each MTP depth (one fewer than the last per document end). Handed to the objective, they spare the loss its
    reads of device values (a sync each on an accelerator); made by `host_counts`, which also checks the ids."""
    labels: int
    mtp_labels: tuple[int, ...]


def host_counts(config, input_ids_BT: torch.Tensor, document_ids_BT: torch.Tensor | None,
                labels_BT: torch.Tensor, mtp_depth: int) -> HostCounts:
    """The counts of a host batch (see HostCounts), its token ids checked against `config.vocab_size` on the way:
    a forward given the counts skips its own check of the ids."""
    check_token_ids(input_ids_BT, config)
    mtp = tuple(int((mtp_labels(input_ids_BT, document_ids_BT, k, labels_BT) != IGNORE_INDEX).sum())
                for k in range(1, mtp_depth + 1))
    return HostCounts(int((labels_BT != IGNORE_INDEX).sum()), mtp)


class LossParts(NamedTuple):
    total: torch.Tensor            # what is backpropagated: main + λ·MTP + sequence-wise balance loss
    main: torch.Tensor             # next-token loss (mean over the micro-batch's labelled tokens)
    mtp: torch.Tensor | None       # mean MTP loss over depths
    balance: torch.Tensor | None   # Σ over MoE layers of the sequence-wise balance loss (α > 0 only)
    token_loss_BT: torch.Tensor    # per-token next-token loss, 0 where unlabelled (no gradient): per-domain losses


def training_loss(model, ids_BT: torch.Tensor, docs_BT: torch.Tensor | None, mtp_weight: float,
                  labels_BT: torch.Tensor | None = None, chunk_size: int | None = None,
                  context: tuple | None = None, counts: HostCounts | None = None) -> LossParts:
    """The objective for one micro-batch of an AXK1ForCausalLM; the head is applied inside the chunked loss (no
    full logits). `labels_BT` defaults to the next-token labels (pretraining); post-training passes them with the
    prompt masked. `context`: (position ids, DocumentMask) of a context-parallel shard of the rows (its labels
    come with it; no MTP there). `counts`: the micro-batch's label counts from the host (`host_counts`, which
    checked its ids); without them the ids are checked and the labels counted on the device (reads of device
    values: on an accelerator each waits for the kernels queued before it, 5 a micro-batch with MTP)."""
    moes = [m for _, m in moe_layers(model)]
    for m in moes:  # a layer that does not run this time (MTP at λ = 0) must not contribute a stale loss
        m.aux_loss = None
    if labels_BT is None:
        labels_BT = next_token_labels(ids_BT, docs_BT)
    h_BTD, rope_and_mask = model.hidden_states(ids_BT, docs_BT, *(context or (None, None)),
                                               ids_checked=counts is not None)
    w_VD = model.lm_head.weight
    token_loss_BT = torch.zeros(ids_BT.shape, dtype=torch.float32, device=ids_BT.device)
    main = linear_cross_entropy(model.model.norm(h_BTD).flatten(0, 1), w_VD, labels_BT.flatten(), chunk_size,
                                token_loss_BT.view(-1), None if counts is None else counts.labels)
    total, mtp = main, None
    if model.mtp is not None and mtp_weight != 0:
        losses, depths = [], 0
        for k, hk_BTD in enumerate(model.mtp_hidden_states(h_BTD, ids_BT, rope_and_mask), start=1):
            labels_N = mtp_labels(ids_BT, docs_BT, k, labels_BT).flatten()
            n_labels = int((labels_N != IGNORE_INDEX).sum()) if counts is None else counts.mtp_labels[k - 1]
            depths += n_labels > 0
            # a depth without labels still runs (a loss of 0): under torchrun its layer's gradients are reduced
            # with the other ranks', who may have labels there, so every rank must give it a gradient
            losses.append(linear_cross_entropy(hk_BTD.flatten(0, 1), w_VD, labels_N, chunk_size, None, n_labels))
        if losses:
            mtp = torch.stack(losses).sum() / max(depths, 1)  # the mean over the depths that have labels
            total = total + mtp_weight * mtp
    aux = [m.aux_loss for m in moes if m.aux_loss is not None]
    balance = torch.stack(aux).sum() if aux else None
    if balance is not None:
        total = total + balance
    return LossParts(total, main, mtp, balance, token_loss_BT)


class Objective(torch.nn.Module):
    """The loss as a module, so FSDP2's root hooks (gather before, reduce-scatter after) wrap all of it."""

    def __init__(self, lm, chunk_size: int | None = None) -> None:
        super().__init__()
        self.lm, self.chunk_size = lm, chunk_size

    def forward(self, ids_BT: torch.Tensor, docs_BT: torch.Tensor | None, mtp_weight: float,
                labels_BT: torch.Tensor | None = None, context: tuple | None = None,
                counts: HostCounts | None = None) -> LossParts:
        return training_loss(self.lm, ids_BT, docs_BT, mtp_weight, labels_BT, self.chunk_size, context, counts)
