"""The GPU check's step memory by the trainer's account (axk1/train/memory.py): the batch on the GPU it finds (as
many of its sequences a step as the account lets one process hold there), and the account beside the allocator's
peak that a run logged.

The check's one-process bf16 step (axk1-gpu-small, A.X K1's 163,840-token vocabulary, 8 x 4,096 tokens) takes
~92.9 GB by that account (what `axk1 train --dry-run` checks): it fits an H200 (~150 GB) and
not an H100 80GB (85.5 GB), where the `train` part ran out of memory. So on a smaller GPU the check runs fewer
sequences a step, says so, and records it in its JSON.
"""

from __future__ import annotations

from axk1.config import ModelConfig
from axk1.train.memory import USABLE_FRACTION, step_memory


def memory_check(config: ModelConfig, args, rows: list[dict], one_process: bool) -> dict:
    """The trainer's memory account (what --dry-run prints, axk1/train/memory.py) beside the allocator's peak that
    the run logged (`memory_peak_gb`, CUDA only). The account is the largest of the step's moments (in one process
    with every gradient counted) and a compiled layer may keep less than eager autograd, so the ratio should be at
    most 1; well under 1 means it overstates."""
    account = step_memory(config, dp_shard=1, ep=1, seq_len=args.seq_len, micro_batch=args.seqs, recompute=False,
                          precision=args.precision, mtp_depth=1, one_process=one_process)
    peaks = [r["memory_peak_gb"] for r in rows if "memory_peak_gb" in r]
    allocations = account.total - account.reserved
    return {"memory_account_gb": {k: round(v, 2) for k, v in account.as_dict().items()},
            "memory_allocated_peak_gb": max(peaks) if peaks else None,
            "memory_peak_over_account": max(peaks) / allocations if peaks else None}


def step_account_gb(config: ModelConfig, seqs: int, seq_len: int, precision: str) -> float:
    """GB the trainer's account gives one process's step of `seqs` x `seq_len` (one micro-batch, MTP depth 1, no
    recompute: the check's recipe)."""
    return step_memory(config, dp_shard=1, ep=1, seq_len=seq_len, micro_batch=seqs, recompute=False,
                       precision=precision, mtp_depth=1, one_process=True).total


def sequences_that_fit(config: ModelConfig, seqs: int, seq_len: int, precision: str,
                       device_bytes: int) -> tuple[int, dict]:
    """The most sequences a step, at most `seqs` and at least 1, whose step the account puts within
    USABLE_FRACTION of `device_bytes` (the planner's margin: the allocator cannot hand out every byte), and what
    the JSON records of the decision."""
    limit = device_bytes / 1e9 * USABLE_FRACTION
    n = seqs
    while n > 1 and step_account_gb(config, n, seq_len, precision) > limit:
        n -= 1
    need = step_account_gb(config, n, seq_len, precision)
    return n, {"asked": seqs, "sequences": n, "account_gb": round(need, 1),
               "asked_account_gb": round(step_account_gb(config, seqs, seq_len, precision), 1),
               "device_gb": round(device_bytes / 1e9, 1), "limit_gb": round(limit, 1), "fits": need <= limit}


def fit_note(fit: dict, seq_len: int) -> str | None:
    """The line the check prints when it runs fewer sequences than asked (or none fit); None when all fit."""
    if fit["sequences"] == fit["asked"] and fit["fits"]:
        return None
    head = (f"gpu_check: {fit['asked']} sequences x {seq_len} tokens a step need {fit['asked_account_gb']} GB by "
            f"the trainer's memory account, more than {fit['limit_gb']} GB ({USABLE_FRACTION:.0%} of this GPU's "
            f"{fit['device_gb']} GB)")
    if not fit["fits"]:
        return f"{head}, and even 1 needs {fit['account_gb']} GB: the training parts will likely run out of memory"
    return (f"{head}: running {fit['sequences']} sequences a step ({fit['account_gb']} GB), so its figures are not "
            "the 8-sequence ones docs/gpu.md compares; an H200 (device kind nvidia-h200) holds those")
