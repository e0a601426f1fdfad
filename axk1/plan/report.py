"""Plan outputs: a terminal summary, JSON, and DIR/{plan.md, isoflop.png, config.json, recipe.toml}."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from axk1.atomic_file import write_text_atomic
from axk1.json_text import strict_json
from axk1.params import count_text
from axk1.plan.next_steps import next_steps
from axk1.plan.planner import Plan, duration_text
from axk1.plan.recipe import build_recipe, context_lengths, lr_phase
from axk1.plan.scaling import efficiency_leverage
from axk1.toml_file import to_toml


def _b(x: float) -> str:
    """Parameters in the unit that fits (a small plan's are M, not "0.1B")."""
    return count_text(x, 1)


def _span(low: float, high: float) -> str:
    return _b(low) if _b(low) == _b(high) else f"{_b(low)}-{_b(high)}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def plan_dict(plan: Plan) -> dict[str, Any]:
    b = plan.budget
    return {
        "budget": {"gpu": b.gpu.name, "gpus": b.gpus, "days": b.days, "precision": b.precision, "mfu": b.mfu,
                   "achieved_tflops_per_gpu": b.achieved_tflops, "flops": b.flops, "gpu_hours": b.gpu_hours},
        "law": plan.law.name,
        "plan": {**plan.best.summary(), "vocab_optimal": plan.vocab_optimal, "vocab_adjust": plan.vocab_adjust,
                 "batch_tokens": plan.batch_tokens, "batch_sequences": plan.batch_sequences,
                 "learning_rate": plan.learning_rate, "tokens_per_second_per_gpu": plan.tokens_per_second_per_gpu,
                 "days": plan.days, "seq_len": plan.seq_len},
        "candidates": [c.summary() for c in plan.candidates],
        "assumptions": [{"assumption": a, "value": v, "source": s} for a, v, s in plan.assumptions()],
        "search": {"evaluated": plan.evaluated, "collapsed": plan.collapsed, "rejected": plan.rejected},
        "predicted_loss_band": list(plan.band),
        "binding": plan.binding,
        "unconstrained": None if not (plan.analysis and plan.analysis.unconstrained) else
        {**plan.analysis.unconstrained.summary(), "tokens": plan.analysis.unconstrained.lifted_tokens["all"],
         "predicted_loss": plan.analysis.unconstrained.lifted_loss["all"]},
        "growth": plan.growth,
        "near_ties": [{"rank": i, "p_better": p, "loss": plan.candidates[i - 1].loss} for i, p in plan.ties],
        "warnings": plan.warnings,
    }


def constraint_lines(plan: Plan) -> list[str]:
    """What decided the plan, in sentences: the predicted loss and its band, the limits that bind, the unconstrained
    optimum, what more compute would do, the near-ties."""
    best = plan.best
    band = (f"5-95% band {plan.band[0]:.4f}-{plan.band[1]:.4f}, the fit uncertainty of the {plan.law.label}"
            if plan.band[0] == plan.band[0] else f"no band: the {plan.law.label} has no bootstrap refits")  # NaN
    lines = [f"predicted loss {best.loss:.4f} ({band})"]
    if plan.binding:
        lines += [f"binding: {b}" for b in plan.binding]
    else:
        lines.append("binding: none; the law's optimum in the search space is feasible")
    free = plan.analysis.unconstrained if plan.analysis else None
    if free is not None:
        kind = "dense" if free.dense else f"MoE, {free.activation_ratio:.1%} active"
        lines.append(f"unconstrained optimum (every limit lifted, training memory too): {_b(free.total)} total, "
                     f"{_b(free.activated)} activated ({kind}), {count_text(free.lifted_tokens['all'])} tokens, loss "
                     f"{free.lifted_loss['all']:.4f}")
    lines.append(f"more compute: {plan.growth}")
    if plan.ties:
        tied = [plan.candidates[i - 1] for i, _ in plan.ties]
        totals = [c.total for c in tied] + [best.total]
        actives = [c.activated for c in tied] + [best.activated]
        gap = max(c.loss for c in tied) / best.loss - 1
        which = ', '.join(f'#{i}' for i, _ in plan.ties)
        within = "0.01%" if gap < 5e-5 else f"{gap:.2%}"  # not "within 0.00%"
        # a law without samples has no plausible fits to count: only the loss gap makes a near-tie
        beats = (f" (or beat{'s' if len(tied) == 1 else ''} it under >= 20% of the law's plausible fits)"
                 if plan.law.samples else "")
        lines.append(f"near-ties: {'candidate ' + which + ' is' if len(tied) == 1 else 'candidates ' + which + ' are'} "
                     f"within {within} of the plan's loss{beats}: {_span(min(totals), max(totals))} total, "
                     f"{_span(min(actives), max(actives))} activated. The law does not separate them; the plan takes "
                     "the lowest, and any of them is as defensible (choose on serving cost or stability)")
    else:
        lines.append("near-ties: none (every other listed candidate is more than 0.1% worse"
                     + (" and loses under 80% of the law's plausible fits)" if plan.law.samples else ")"))
    return lines


def summary_text(plan: Plan) -> str:
    b, best, c = plan.budget, plan.best, plan.best.config
    lay = best.memory.layout
    lines = [
        f"budget: {b.gpus:,} x {b.gpu.name} x {b.days:g} days at {b.achieved_tflops:.0f} TFLOP/s ({b.mfu:.0%} of "
        f"{b.peak_name} peak) = {b.flops:.3e} FLOPs ({_plural(round(b.gpu_hours), 'GPU-hour')})",
        f"plan:   {_b(best.total)} total, {_b(best.activated)} activated "
        f"({'dense' if best.dense else 'MoE'}), {count_text(best.tokens)} tokens "
        f"({best.tokens_per_param:.0f} per activated parameter; {plan.law.label}, EL {best.leverage:.1f})",
        f"shape:  hidden {c.hidden_size}, {c.num_hidden_layers} layers ({c.first_k_dense_replace} dense), "
        f"{c.num_attention_heads} heads, "
        + (f"FFN width {c.intermediate_size}" if best.dense else
           f"{c.n_routed_experts} experts top-{c.num_experts_per_tok} + {c.n_shared_experts} shared, expert width "
           f"{c.moe_intermediate_size} (G {best.granularity:.1f}, activation {best.activation_ratio:.2%})")
        + f", vocab {c.vocab_size:,} (optimum {plan.vocab_optimal:,} x {plan.vocab_adjust:g})",
        f"run:    batch {plan.batch_sequences:,} x {plan.seq_len} tokens, peak LR {plan.learning_rate:.2e}, "
        f"{plan.tokens_per_second_per_gpu:,.0f} tokens/s/GPU, {duration_text(plan.days)} on {_plural(b.gpus, 'GPU')}",
        f"layout: dp_replicate {lay.dp_replicate} x dp_shard {lay.dp_shard} x cp {lay.cp}, ep {lay.ep}, recompute "
        f"{'full' if lay.recompute else 'none'}; {best.memory.total_gb:.0f} of {b.gpu.memory_gb:.0f} GB per GPU at "
        f"{best.memory.seq_len:,} tokens: {best.memory.why} (check: axk1 train recipe.toml --dry-run --world-size "
        f"{b.gpus} --gpu {b.gpu.name})" + ("" if plan.context >= context_lengths(plan.seq_len)[-1] else
                        f"; the long-context stage stops at {plan.context:,} tokens: "
                        f"{context_lengths(plan.seq_len)[-1]:,} does not fit a GPU even with context parallelism "
                        "(up to 8, dividing --seq-len)"),
    ]
    lines += constraint_lines(plan)
    lines += [f"warning: {w}" for w in plan.warnings]
    lines.append("assumptions:")
    lines += [f"  - {a}: {v}  [{s}]" for a, v, s in plan.assumptions()]
    return "\n".join(lines)


def _table(plan: Plan) -> list[str]:
    rows = ["| # | kind | total | activated | tokens | tokens/param | hidden | layers | experts | top-k | expert width "
            "| vocab | A | G | EL | predicted loss | layout | GB/GPU |", "|" + "---|" * 18]
    for i, cand in enumerate(plan.candidates, 1):
        c, lay = cand.config, cand.memory.layout
        moe = not cand.dense
        rows.append(
            f"| {i} | {'MoE' if moe else 'dense'} | {_b(cand.total)} | {_b(cand.activated)} | "
            f"{count_text(cand.tokens)} | {cand.tokens_per_param:.0f} | {c.hidden_size} | "
            f"{c.num_hidden_layers} | {c.n_routed_experts if moe else '-'} | {c.num_experts_per_tok if moe else '-'} | "
            f"{c.moe_intermediate_size if moe else '-'} | "
            f"{c.vocab_size:,} | {cand.activation_ratio:.2%} | {cand.granularity:.1f} | {cand.leverage:.1f} | "
            f"{cand.loss:.5f} | ep{lay.ep}/hsdp {lay.dp_replicate}x{lay.dp_shard}{f'/cp{lay.cp}' if lay.cp > 1 else ''}"
            f"{'/recompute' if lay.recompute else ''} | {cand.memory.total_gb:.0f} |")
    return rows


def isoflop_curve(plan: Plan, factor: float) -> tuple[float, float, str]:
    """(model FLOPs, leverage, legend label) of the curve at `factor` x the plan's budget. Labelled with the budget
    and EL the plan prints: the curve at the plan's budget read "C = 1.92e+24 FLOPs (EL 9.8)" beside a plan of
    2.556e+24 and EL 10.0 (the model FLOPs left after recompute's repeated forward, and the leverage at them)."""
    budget, best = plan.budget.flops * factor, plan.best
    # the leverage law takes its C in the laws' units (un-halved attention), as the search gave it (axk1/flops.py)
    lev = (best.leverage if factor == 1 else efficiency_leverage(
        best.activation_ratio, best.granularity, budget * best.law_flops_per_token / best.train_flops_per_token))
    flops = plan.flops * factor
    spent = (f", {flops:.3e} of model FLOPs" + (" after recompute" if plan.best.memory.layout.recompute else "")
             if not math.isclose(flops, budget, rel_tol=0.01) else "")
    return flops, lev, f"C = {budget:.3e} FLOPs (EL {lev:.1f}{spent})"


def plot_isoflop(plan: Plan, path: Path) -> Path:
    """Predicted loss vs activated parameters at the plan's activation ratio and granularity, for the budget and
    budgets 10x and 100x smaller and 10x larger; the candidates and the chosen plan are marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    best, law = plan.best, plan.law
    per_param = best.train_flops_per_token / best.activated  # the trainer's FLOPs per token per activated parameter
    scale_per_param = best.scale / best.activated
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    for factor, colour in ((0.01, "#bbbbbb"), (0.1, "#888888"), (1.0, "#1f77b4"), (10.0, "#444444")):
        flops, lev, label = isoflop_curve(plan, factor)
        params = np.logspace(np.log10(best.activated) - 1.5, np.log10(best.activated) + 1.5, 200)
        tokens = flops / (per_param * params)
        loss = [law.loss(lev * scale_per_param * p, t) for p, t in zip(params, tokens)]
        ax.plot(params, loss, color=colour, lw=2.2 if factor == 1 else 1.2, label=label)
        i = int(np.argmin(loss))
        ax.plot(params[i], loss[i], "o", color=colour, ms=4)
    ax.scatter([c.activated for c in plan.candidates[1:]], [c.loss for c in plan.candidates[1:]], s=18,
               color="#ff7f0e", zorder=3, label="other top candidates")
    ax.scatter([best.activated], [best.loss], marker="*", s=220, color="#d62728", zorder=4,
               label=f"plan: {_b(best.activated)} activated, {count_text(best.tokens, 1)} tokens")
    ax.set_xscale("log")
    ax.set_xlabel("activated parameters")
    ax.set_ylabel(f"predicted loss ({law.label}, for ranking)")
    ax.set_title(f"Iso-FLOP curves: {plan.budget.gpus:,} x {plan.budget.gpu.name}, {plan.budget.days:g} days")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_outputs(plan: Plan, out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recipe = build_recipe(plan, "config.json")
    # the model must reach the recipe's longest stage (A.X K1's long-context stage ends at 32K), or `axk1 train`
    # refuses the pair written here
    longest = max(n for stage in recipe.stages for n in stage.lengths())
    model = plan.best.config
    model.replace(max_position_embeddings=max(model.max_position_embeddings, longest)).save_pretrained(out, "bfloat16")
    # each file whole or not at all: a cut recipe.toml or plan.json read later as the plan
    write_text_atomic(out / "recipe.toml", to_toml(recipe, "written by `axk1 plan`; read by `axk1 train` (every key: "
                                                          "docs/configuration.md)"))
    plot = plot_isoflop(plan, out / "isoflop.png")
    # strict JSON: a law without samples has a NaN band, which json.dumps wrote as bare NaN (not JSON)
    write_text_atomic(out / "plan.json", strict_json(plan_dict(plan), indent=2) + "\n")
    b = plan.budget
    stages = "\n".join(f"| {s.name} | {count_text(s.tokens)} | {s.lengths()} | {lr_phase(recipe, i)} |"
                       for i, s in enumerate(recipe.stages))
    md = [
        f"# Compute plan: {b.gpus:,} x {b.gpu.name} for {b.days:g} days", "",
        "```", summary_text(plan), "```", "",
        "## What decided the plan", "",
        "The law ranks every shape by its predicted loss; the limits below decide which shapes may be chosen and "
        "how many tokens they may use. A limit *binds* when lifting it alone would let the law pick a better "
        "candidate (training memory kept).", "",
        *[f"- {line}" for line in constraint_lines(plan)], "",
        *(["## Warnings", "", *[f"- {w}" for w in plan.warnings], ""] if plan.warnings else []),
        "## Assumptions", "", "| assumption | value | source |", "|---|---|---|",
        *[f"| {a} | {v} | {s} |" for a, v, s in plan.assumptions()], "",
        f"## Top candidates (ranked by predicted loss at equal FLOPs; {plan.evaluated:,} distinct shapes evaluated"
        + (f" ({plan.collapsed:,} more search inputs rounded to one of them)" if plan.collapsed else "") + ", "
        f"rejected: {', '.join(f'{k} {v:,}' for k, v in plan.rejected.items() if v) or 'none'}; a shape can fail "
        "several limits)", "",
        *_table(plan), "",
        "## Iso-FLOP curves", "", f"![iso-FLOP curves]({plot.name})", "",
        "## Pretraining stages (A.X K1's, scaled)", "", "| stage | tokens | sequence length | learning rate |",
        "|---|---|---|---|", stages, "",
        *next_steps(plan, recipe),
        "Files: `config.json` (model, loads with `axk1 params config.json`), `recipe.toml` (for `axk1 train`), "
        "`plan.json` (everything above).", "",
        "Caveats: the leverage law's constants are our fit to two published comparisons; " + (
            "the built-in laws' losses are on their papers' data and tokenizers, so they rank candidates and their "
            "band is the fit's uncertainty, not a forecast of this run's loss on this corpus (a law fitted from your "
            "own runs, `axk1 plan fit`, is)." if plan.law.label.endswith(" law") else
            f"the {plan.law.label} was fitted from your own runs, so its losses are on their data and tokenizer: a "
            "forecast for this corpus, within its band, as far as the extrapolation holds (see the warnings)."),
    ]
    write_text_atomic(out / "plan.md", "\n".join(md) + "\n")
    return {"plan": out / "plan.md", "plot": plot, "config": out / "config.json", "recipe": out / "recipe.toml",
            "json": out / "plan.json"}
