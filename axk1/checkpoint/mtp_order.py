"""Which order a training checkpoint's MTP `eh_proj` reads its input in, and the conversion of the old one.

axk1's MTP module first projected [hidden state ‖ embedding] (the order of the DeepSeek-V3 paper's equation); it now
projects [embedding ‖ hidden state], the order in which the loaders of DeepSeek-V3's released MTP weights read
`eh_proj` (axk1/model/mtp.py). The trainer records the new order in train_state.json (MTP_ORDER); a checkpoint that
trained MTP without that record was trained in the old order. Its `eh_proj` [D, 2D] is the same function in the new
order with its two column halves swapped (exact: a permutation), so an export writes it swapped and a resume swaps
the weight and its optimizer moments (AdamW's are elementwise, so they permute with it).
"""

from __future__ import annotations

import re

import torch
from torch.distributed.tensor import DTensor, Shard

MTP_ORDER = "mtp_eh_proj_order"  # train_state.json's key
EMBEDDING_FIRST = "embedding_first"  # its one value
_EH_PROJ = re.compile(r"(?:^|\.)mtp\.\d+\.eh_proj\.weight$")


def is_eh_proj(key: str) -> bool:
    """An MTP module's eh_proj weight, under any prefix (the trainer's loss module holds the model as `lm.`)."""
    return _EH_PROJ.search(key) is not None


def hidden_first(saved: dict) -> bool:
    """Whether the checkpoint whose train state is `saved` trained MTP in the old order (hidden state first)."""
    order, depth = saved.get(MTP_ORDER), saved.get("mtp_depth", 0)
    if order not in (None, EMBEDDING_FIRST):  # never guessed: a wrong guess trains or exports another module
        raise ValueError(f"the checkpoint's train state says {MTP_ORDER} = {order!r}, and the trainer writes only "
                         f"{EMBEDDING_FIRST!r}: the file is damaged; use another step folder")
    return order is None and isinstance(depth, int) and depth > 0


def swap_halves(weight: torch.Tensor) -> torch.Tensor:
    """eh_proj [D, 2D] trained on [h ‖ e] → the same projection of [e ‖ h]."""
    half = weight.shape[-1] // 2
    return torch.cat([weight[..., half:], weight[..., :half]], dim=-1)


def _local(t: torch.Tensor, name: str) -> torch.Tensor:
    """This rank's part of `t`, which holds whole rows (the columns are what is swapped)."""
    if not isinstance(t, DTensor):
        return t
    if any(isinstance(p, Shard) and p.dim % t.dim() != 0 for p in t.placements):
        raise ValueError(f"{name} is sharded by columns ({t.placements}): its halves cannot be swapped in place; "
                         "resume the run without column-sharding it")
    return t.to_local()


@torch.no_grad()
def convert_resumed_(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """Swaps the halves of every MTP eh_proj weight of `model` and of its optimizer state of the same shape, in
    place (each rank its own rows); the names of the weights converted."""
    done = []
    for name, p in model.named_parameters():
        if not is_eh_proj(name):
            continue
        for t in [p, *(v for v in optimizer.state.get(p, {}).values()
                       if isinstance(v, torch.Tensor) and v.shape == p.shape)]:
            local = _local(t, name)
            local.copy_(swap_halves(local))
        done.append(name)
    return done
