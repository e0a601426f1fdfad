"""One chunk of the accelerators' loss loop (axk1/train/loss.py): the eager ops it ran before, against
`chunk_cross_entropy` eager and compiled (what a GPU runs now), at A.X K1's vocabulary on bf16 logits.

Per chunk of C tokens the head's matmul writes [C, V] bf16 logits; what follows is memory-bound. The eager sequence
copied them into an fp32 buffer, took the logsumexp, subtracted it and exponentiated in place, took one from the
labels' entries and cast the gradient to bf16: five passes, ~32 bytes a logit. The compiled function reads the bf16
logits for the logsumexp and again for the gradient, which it writes in bf16 (~6 bytes a logit). A CPU has no
GPU's memory system, but it pays for passes over a 168 MB chunk the same way; the GPU figure comes from the GPU
check's profile (benchmarks/gpu_check.py, "head_loss").

    .venv/bin/python benchmarks/bench_loss_chunk.py [--chunk 512] [--vocab 163840] [--repeats 5]
"""

from __future__ import annotations

import argparse

import torch

from axk1.train.loss import chunk_cross_entropy
from timing import time_ms


def before(logits_CV, labels_C, valid_C, buffer_CV):
    """The accelerators' eager chunk step as it was (sync-free: no host reads)."""
    rows = torch.arange(logits_CV.shape[0])
    x_CV = buffer_CV.copy_(logits_CV)
    logit_label_C = x_CV[rows, labels_C]
    lse_C = torch.logsumexp(x_CV, dim=-1)
    nll_C = (lse_C - logit_label_C) * valid_C
    grad_CV = x_CV.sub_(lse_C[:, None]).exp_()
    grad_CV[rows, labels_C] -= 1.0
    return nll_C, grad_CV.to(logits_CV.dtype)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--chunk", type=int, default=512)
    p.add_argument("--vocab", type=int, default=163840)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    g = torch.Generator().manual_seed(0)
    logits_CV = (torch.randn(args.chunk, args.vocab, generator=g) * 3).to(torch.bfloat16)
    labels_C = torch.randint(0, args.vocab, (args.chunk,), generator=g)
    valid_C = torch.rand(args.chunk, generator=g) > 0.01
    buffer_CV = torch.empty(args.chunk, args.vocab)
    compiled = torch.compile(chunk_cross_entropy, fullgraph=True)
    runs = {"before (eager ops)": lambda: before(logits_CV, labels_C, valid_C, buffer_CV),
            "chunk_cross_entropy, eager": lambda: chunk_cross_entropy(logits_CV, labels_C, valid_C, True),
            "chunk_cross_entropy, compiled": lambda: compiled(logits_CV, labels_C, valid_C, True)}
    ref_nll, ref_grad = runs["before (eager ops)"]()
    nll, grad = runs["chunk_cross_entropy, compiled"]()
    torch.testing.assert_close(nll, ref_nll * valid_C, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(grad.float(), (ref_grad.float() * valid_C[:, None]), rtol=1e-2, atol=1e-3)
    print(f"chunk {args.chunk} x vocabulary {args.vocab}, bf16 logits, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; best of {args.repeats}")
    base = None
    for name, fn in runs.items():
        ms = time_ms(fn, args.repeats)
        base = base or ms
        print(f"| {name} | {ms:.1f} ms | {base / ms:.2f}x |")


if __name__ == "__main__":
    main()
