"""The training parts' figures from the trainer's logged rows (benchmarks/gpu_check.py, docs/gpu.md "The GPU check"):
which rows are steady, and how much of MFU's attention count the packed documents' mask needs.

Steady rows. The trainer logs tokens/s and MFU over the window since its previous log row; the first row's window
starts when training starts, so it holds the compile (~1 min of FlexAttention and, compiled, the layers) and the
warm-up, and its MFU reads a fraction of a steady step's (a minute of compile and ten 0.33 s steps: 0.021 where
the steps ran at ~0.40). It is never counted: the figure is the median of the later half of the other rows, and
with fewer than two logged rows there is none (tokens/s and MFU null, `not_measured` says why and what to raise).

The attention convention. MFU (axk1/train/callbacks.py, axk1/flops.py) counts attention causal over the whole row,
T²/2 scores a row a layer. The check's rows pack documents, and FlexAttention skips the blocks of its mask that lie
wholly between documents, so the scores the mask needs are Σ n(n+1)/2 over the row's documents of n tokens: the
`document_causal_share` of the causal count. MFU's formula stays as it is (one convention for every run and every
report); beside it the check gives the share, attention's part of MFU's count, and MFU with the attention counted
document-causal, the lower bound of the work the kernel does (it still computes the partly masked blocks whole).

Legend: B rows, T tokens.
"""

from __future__ import annotations

import torch

from axk1.config import ModelConfig
from axk1.flops import attention_flops_per_token, training_flops_per_token


def median(xs: list) -> float | None:
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def steady_rows(rows: list[dict]) -> list[dict]:
    """The logged rows whose tokens/s are steady: never the first (its window holds the compile and warm-up), the
    later half of the others; none with fewer than two logged rows."""
    timed = [r for r in rows if r.get("tokens_per_s")]
    return timed[max(1, len(timed) // 2):]


def steady_figures(rows: list[dict], raise_what: str) -> dict:
    """tokens/s and MFU as the medians of the steady rows, the steps they cover, and, where no row is steady,
    `not_measured`: why, and `raise_what` (the option that gives the part more logged steps)."""
    timed, steady = [r for r in rows if r.get("tokens_per_s")], steady_rows(rows)
    out = {"tokens_per_s": median([r["tokens_per_s"] for r in steady]), "mfu": median([r.get("mfu") for r in steady]),
           "steady_steps": [r["step"] for r in steady]}
    if not steady:
        out["not_measured"] = (f"{len(timed)} logged row(s): the first holds the compile and warm-up and is never "
                               f"counted as steady, so there is no steady tokens/s or MFU; raise {raise_what} so that "
                               "the part logs at least two rows")
        if timed:  # said, not taken for the figure
            out["first_row_mfu_with_compile"] = timed[0].get("mfu")
    return out


def document_causal_share(document_ids_BT: torch.Tensor) -> float:
    """Σ over rows of the document-causal scores (Σ n(n+1)/2 over its documents of n tokens) over the causal ones
    (T(T+1)/2 a row). Document ids change at each document's start (axk1.train.data's packing)."""
    B, T = document_ids_BT.shape
    need = 0.0
    for row_T in document_ids_BT:
        n = torch.unique_consecutive(row_T, return_counts=True)[1].double()
        need += float((n * (n + 1) / 2).sum())
    return need / (B * T * (T + 1) / 2)


def attention_convention(config: ModelConfig, seq_len: int, with_mtp: bool, share: float | None,
                         mfu: float | None) -> dict:
    """The figures beside MFU (module docstring): attention's part of MFU's count per token, the document-causal
    share, the part of MFU that counts scores the mask does not need, and MFU with attention counted document-causal."""
    total = training_flops_per_token(config, seq_len, with_mtp=with_mtp, causal=True)
    layers = config.num_hidden_layers + (config.num_nextn_predict_layers if with_mtp else 0)
    attention = attention_flops_per_token(config, seq_len, causal=True) * layers / config.num_hidden_layers
    out = {"convention": "MFU counts attention causal over the whole row (T^2/2 scores a row and layer); the packed "
                         "documents need only the document-causal share of them",
           "attention_share_of_mfu_flops": attention / total, "document_causal_share": share}
    if share is not None:
        overstated = attention * (1 - share) / total
        out["mfu_overstated_by"] = overstated  # a fraction of MFU's own value
        out["mfu_document_causal"] = None if mfu is None else mfu * (1 - overstated)
    return out


def sampled_share(sampler, steps: range) -> float | None:
    """The document-causal share of the rows the trainer drew at these steps (the sampler's batches are a pure
    function of the step: drawn again on the host, no device work)."""
    docs = [sampler.batch(step).docs_BT for step in steps]
    return document_causal_share(torch.cat(docs)) if docs else None
