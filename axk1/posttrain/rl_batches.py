"""How an RL update splits a rollout batch: minibatches of whole groups (one optimizer step each), and each
data-parallel rank's micro-batches of a minibatch (axk1/posttrain/rl_update.py).

Legend: B completions, T tokens of prompt + completion.
"""

from __future__ import annotations

import numpy as np
import torch


class Padding(list):
    """A micro-batch a rank runs only to keep step with the others (rank_micro_batches): one real completion, whose
    loss, gradients and statistics the update counts as nothing."""


def pad_rows(rows: list[list[int]], pad_id: int) -> torch.Tensor:
    """Token rows right-padded with `pad_id` into one [B, T] tensor."""
    T = max(len(r) for r in rows)
    out_BT = torch.full((len(rows), T), pad_id, dtype=torch.long)
    for b, r in enumerate(rows):
        out_BT[b, :len(r)] = torch.tensor(r)
    return out_BT


def minibatches(n_samples: int, group_size: int, updates: int, seed: tuple) -> list[list[int]]:
    """The samples' indices in `updates` minibatches of whole groups (a group's completions share their advantage's
    baseline), the groups in an order drawn from `seed`."""
    order = np.random.default_rng(seed).permutation(n_samples // group_size)
    return [[g * group_size + k for g in groups.tolist() for k in range(group_size)]
            for groups in np.array_split(order, updates) if len(groups)]


def rank_micro_batches(rows: list[int], mb: int, dp_rank: int, dp_size: int) -> list[list[int]]:
    """A data-parallel rank's micro-batches of a minibatch's completions `rows`: every dp_size-th completion, `mb`
    at a time. Every rank must run as many forwards and backwards as the others (FSDP2's gathers and EP's
    all-to-alls pair them up), so a rank with fewer completions (the minibatch does not divide over the ranks)
    runs Padding micro-batches."""
    mine = rows[dp_rank::dp_size]
    out = [mine[i:i + mb] for i in range(0, len(mine), mb)]
    most = -(-len(rows[0::dp_size]) // mb)  # rank 0 holds the most
    return out + [Padding(rows[:1]) for _ in range(most - len(out))]
