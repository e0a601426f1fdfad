"""An RL iteration's statistics: the update's, reduced over micro-batches and data-parallel ranks on the device,
and the rollout's, per prompt mode (axk1/posttrain/rl.py logs both)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
import torch.distributed as dist


class ReducedStats(NamedTuple):
    names: list[str]
    values_K: torch.Tensor  # float64, on the device


def reduce_stats(parts: list[dict[str, torch.Tensor]], loss_sum: torch.Tensor, distributed: bool) -> ReducedStats:
    """One minibatch's statistics over its micro-batches (and data-parallel ranks), on the device: each the mean of
    its non-NaN values, but ratio_min / ratio_max the min / max, and the loss summed. Three all-reduces of small
    tensors stand in for gathering Python objects, and nothing is read back until the caller's one `.tolist()`."""
    names = list(parts[0])
    x_PK = torch.stack([torch.stack([p[k] for p in parts]) for k in names], dim=1).double()
    ok_PK = ~torch.isnan(x_PK)
    sums_K = torch.cat([torch.where(ok_PK, x_PK, 0.0).sum(0), loss_sum.double().reshape(1)])
    counts_K = ok_PK.sum(0).double()
    low_K = torch.where(ok_PK, x_PK, float("inf")).amin(0)
    high_K = torch.where(ok_PK, x_PK, float("-inf")).amax(0)
    if distributed:
        dist.all_reduce(sums_K)
        dist.all_reduce(counts_K)
        dist.all_reduce(low_K, op=dist.ReduceOp.MIN)
        dist.all_reduce(high_K, op=dist.ReduceOp.MAX)
    nan = torch.full_like(counts_K, float("nan"))
    mean_K = torch.where(counts_K > 0, sums_K[:-1] / counts_K.clamp(min=1), nan)
    idx = {k: i for i, k in enumerate(names)}
    if "ratio_min" in idx:
        mean_K[idx["ratio_min"]] = torch.where(counts_K[idx["ratio_min"]] > 0, low_K[idx["ratio_min"]], float("nan"))
    if "ratio_max" in idx:
        mean_K[idx["ratio_max"]] = torch.where(counts_K[idx["ratio_max"]] > 0, high_K[idx["ratio_max"]], float("nan"))
    return ReducedStats(names + ["loss"], torch.cat([mean_K, sums_K[-1:]]))


def mean_over_updates(entries: list[dict[str, float]]) -> dict[str, float]:
    """An iteration's update statistics from its updates' entries: each the mean of the updates that have a value
    for it (not NaN; a dropped update has no expert drift), ratio_min / ratio_max the min / max. NaN where none has
    one (every update non-finite): the metrics row writes it as null and names it in its non_finite field, and the
    row says it was skipped. numpy's nanmean gave that NaN with a "Mean of empty slice" warning in the run's log."""
    out = {}
    for key in dict.fromkeys(k for entry in entries for k in entry):
        values = [entry[key] for entry in entries if not math.isnan(entry.get(key, math.nan))]
        if not values:
            out[key] = math.nan
        elif key in ("ratio_min", "ratio_max"):
            out[key] = (min if key == "ratio_min" else max)(values)
        else:
            out[key] = sum(values) / len(values)
    return out


def rollout_metrics(seen: list[dict], kept: list[dict]) -> dict:
    """Reward, accuracy, format and length per mode over every scored sample of the iteration."""
    out = {"reward_mean": float(np.mean([x["reward"] for x in seen])),
           "accuracy": float(np.mean([x["correct"] for x in seen])), "samples_kept": len(kept)}
    for mode, thinking in (("think", True), ("non-think", False)):
        xs = [x for x in seen if x["thinking"] == thinking]
        if xs:
            out[f"reward/{mode}"] = float(np.mean([x["reward"] for x in xs]))
            out[f"accuracy/{mode}"] = float(np.mean([x["correct"] for x in xs]))
            out[f"format_ok/{mode}"] = float(np.mean([x["format_ok"] for x in xs]))
            out[f"response_len/{mode}"] = float(np.mean([len(x["completion"]) for x in xs]))
    return out
