"""Context parallelism: the sequence of every row is split over the ranks of a "cp" mesh axis, each holding a
contiguous chunk of T / cp tokens. Everything a token does alone (projections, MoE, norms, the loss) stays local;
attention gathers, in each MLA layer, the compressed latent of every rank's tokens (kv_lora_rank + rope dims: 576
values a token for A.X K1, against 2 x 128 heads x 192 for expanded keys and values) and expands keys and values
from it locally, so this rank's queries attend over all earlier tokens of their documents. The gather's backward
sums the latent gradients back to their owners (reduce-scatter). Applied from outside, like FSDP2: the model only
offers `MLA.gather_latent`.

Legend: B rows, T whole length, t = T / cp this rank's tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn
import torch.distributed._functional_collectives as funcol

from axk1.model.attention_mask import DocumentMask
from axk1.model.mla import MLA, document_positions


# torch 2.13 renamed the autograd all-gather (the old name warns on every call); the GPU image's 2.11 may have only
# the old one
_all_gather_autograd = getattr(funcol, "all_gather_single_autograd", None) or funcol.all_gather_tensor_autograd


def _gather_sequence(x_BtL: torch.Tensor, group: dist.ProcessGroup) -> torch.Tensor:
    return _all_gather_autograd(x_BtL.contiguous(), gather_dim=1, group=group)


def apply_context_parallel(model: nn.Module, group: dist.ProcessGroup) -> int:
    """Makes every MLA layer of `model` gather its latents over `group`; returns how many."""
    layers = [m for m in model.modules() if isinstance(m, MLA)]
    for m in layers:
        m.gather_latent = partial(_gather_sequence, group=group)
    return len(layers)


@dataclass
class SequenceShard:
    """This rank's chunk of a batch's rows, with what attention needs from the whole rows."""
    input_ids_Bt: torch.Tensor
    labels_Bt: torch.Tensor
    position_ids_Bt: torch.Tensor   # positions in their documents, from the whole rows
    mask: DocumentMask              # this chunk's queries against all T keys


def shard_sequence(input_ids_BT: torch.Tensor, document_ids_BT: torch.Tensor | None, labels_BT: torch.Tensor,
                   rank: int, size: int) -> SequenceShard:
    """Rank `rank` of `size`'s chunk [rank·t, (rank+1)·t). Labels come from the whole rows (the next token of a
    chunk's last position is the next chunk's first), so build them before sharding."""
    B, T = input_ids_BT.shape
    if T % size:
        raise ValueError(f"sequence length {T} must divide over {size} context-parallel ranks")
    t = T // size
    docs_BT = document_ids_BT if document_ids_BT is not None else torch.zeros_like(input_ids_BT)
    chunk = slice(rank * t, (rank + 1) * t)
    return SequenceShard(input_ids_BT[:, chunk], labels_BT[:, chunk], document_positions(docs_BT)[:, chunk],
                         DocumentMask(docs_BT, q_start=rank * t, q_len=t))



@dataclass
class RankRows:
    """The rows a rank computes a step (or a validation pass) on: the whole rows, or with context parallelism its
    chunk of each (`shard_sequence`) with the positions and document ids of the whole rows that attention needs.
    One helper for the trainer and the validator, so both shard alike."""
    input_ids_BT: torch.Tensor
    document_ids_BT: torch.Tensor | None  # this chunk's documents under cp are the whole rows', in `row_docs_BT`
    labels_BT: torch.Tensor
    position_ids_BT: torch.Tensor | None = None  # cp only: the chunk's positions in their documents
    row_docs_BT: torch.Tensor | None = None      # cp only: the whole rows' document ids (the mask's keys)
    q_start: int = 0
    q_len: int = 0

    @classmethod
    def of(cls, input_ids_BT: torch.Tensor, document_ids_BT: torch.Tensor | None, labels_BT: torch.Tensor,
           cp_rank: int, cp_size: int) -> "RankRows":
        if cp_size == 1:
            return cls(input_ids_BT, document_ids_BT, labels_BT)
        shard = shard_sequence(input_ids_BT, document_ids_BT, labels_BT, cp_rank, cp_size)
        return cls(shard.input_ids_Bt, None, shard.labels_Bt, shard.position_ids_Bt, shard.mask.document_ids_BT,
                   shard.mask.q_start, shard.mask.q_len)

    def to(self, move: Callable[[torch.Tensor], torch.Tensor]) -> "RankRows":
        """Every tensor through `move` (the trainer's copy to its device)."""
        return replace(self, **{f: move(t) for f in ("input_ids_BT", "document_ids_BT", "labels_BT",
                                                     "position_ids_BT", "row_docs_BT")
                                if (t := getattr(self, f)) is not None})

    def rows(self, start: int, stop: int) -> tuple:
        """(ids, docs, labels, context) of rows [start, stop): context is the objective's (positions, DocumentMask)
        of a context-parallel chunk, None without."""
        docs = None if self.document_ids_BT is None else self.document_ids_BT[start:stop]
        context = None if self.row_docs_BT is None else (
            self.position_ids_BT[start:stop], DocumentMask(self.row_docs_BT[start:stop], self.q_start, self.q_len))
        return self.input_ids_BT[start:stop], docs, self.labels_BT[start:stop], context
