"""The planner against published models it was not tuned on: each planned from its published GPU type, count and
time with default flags, beside what was built.

    .venv/bin/python benchmarks/bench_plan_out_of_sample.py            # the markdown table in docs/planning.md

Budgets are the papers' pretraining GPU-hours (sources in docs/planning.md). Where a paper gives GPU-hours but not
the cluster size, a count is assumed (marked *): the FLOP budget depends on GPU-hours only; the count sets the
layout and the minimum batch. Calibration points (the default MFU; the leverage law's anchors; the sparsity floor)
are marked as such in the table.
"""

from __future__ import annotations

import sys
import time

from axk1.plan.planner import make_plan

# name, gpu, gpus (assumed: *), GPU-hours, built (total, activated, tokens), dense?, role
MODELS = [
    ("A.X K1", "H200", 1024, 1024 * 73 * 24, (519e9, 33e9, 10e12), False,
     "calibration: the default MFU (40%), the sparsity floor"),
    ("DeepSeek-V3", "H800", 2048, 2.664e6, (671e9, 37e9, 14.8e12), False,
     "calibration: leverage-law anchor, sparsity floor"),
    ("DeepSeek-V3", "H800", 2048, 2.664e6, (671e9, 37e9, 14.8e12), False,
     "as released: FP8 weights, so the serving bound holds twice the parameters", {"serve_precision": "fp8"}),
    ("Llama 3.1 405B", "H100", 16384, 30.84e6, (405e9, 405e9, 15.6e12), True,
     "in part: its quality is the other side of the DeepSeek-V3 leverage anchor"),
    ("Llama 3.1 70B", "H100", 8192, 7.0e6, (70e9, 70e9, 15e12), True, "out of sample (count assumed*)"),
    ("Llama 2 70B", "A100", 2048, 1_720_320, (70e9, 70e9, 2e12), True, "out of sample (count assumed*)"),
    ("DeepSeek-V2", "H800", 2048, 172.8e3 * 8.1, (236e9, 21e9, 8.1e12), False, "out of sample (count assumed*)"),
]


def _b(x: float) -> str:
    return f"{x / 1e9:,.0f}B"


def row(name, gpu, gpus, hours, built, dense, role, **flags) -> str:
    days = hours / gpus / 24
    start = time.perf_counter()
    try:
        plan = make_plan(gpu, gpus, days, **flags)
    except ValueError as e:
        return f"| {name} | {gpu} x {gpus:,} x {days:.1f} d | - | no plan: {e} | | | |"
    b = plan.best
    total, active, tokens = built
    kind = "dense" if b.dense else f"MoE {b.activation_ratio:.1%}"
    binding = "; ".join(line.split(":", 1)[0] for line in plan.binding) or "none"
    if plan.ties:
        tied = [plan.candidates[i - 1] for i, _ in plan.ties]
        ties = (f"{len(tied)} near-ties within {max(c.loss for c in tied) / b.loss - 1:.2%}: "
                f"{_b(min(c.total for c in tied + [b]))}-{_b(max(c.total for c in tied + [b]))} total, "
                f"{_b(min(c.activated for c in tied + [b]))}-{_b(max(c.activated for c in tied + [b]))} active")
    else:
        ties = "no near-ties"
    flag_text = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in flags.items()) or "defaults"
    print(f"{name} ({flag_text}): {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return (f"| {name} ({flag_text}) | {gpu} x {gpus:,} x {days:.1f} d = {hours / 1e6:.2f}M GPU-h, "
            f"C = {plan.budget.flops:.2e} | {_b(total)} / {_b(active)} / {tokens / 1e12:.1f}T | "
            f"{kind}: {_b(b.total)} / {_b(b.activated)} / {b.tokens / 1e12:.1f}T | "
            f"{b.total / total:.2f} / {b.activated / active:.2f} / {b.tokens / tokens:.2f} | "
            f"{b.loss:.3f} [{plan.band[0]:.3f}, {plan.band[1]:.3f}]; {ties} | {binding} | {role} |")


def main() -> None:
    print("| model (flags) | published budget | built: total / activated / tokens | plan | ratio plan/built | "
          "predicted loss [5-95%] | binding limits | role |")
    print("|---|---|---|---|---|---|---|---|")
    for name, gpu, gpus, hours, built, dense, role, *flags in MODELS:
        print(row(name, gpu, gpus, hours, built, dense, role, **(flags[0] if flags else {})))
        if dense:  # the user can ask for the dense family
            print(row(name, gpu, gpus, hours, built, dense, role, arch="dense"))


if __name__ == "__main__":
    main()
