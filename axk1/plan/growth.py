"""The plan's "more compute" line: what a larger budget would do to the model, given the limits that hold it."""

from __future__ import annotations

from axk1.plan.constraints import DATA, SERVING, SPARSITY, TPP_MAX


def growth(plan, memory_holds: bool, unspent_warn: float | None = None) -> str:
    """What more compute would do: which limits hold the model still, and at what multiple of this budget a cap on
    the tokens forces it to change (or that the budget already goes unspent). With --tokens fixed it buys no
    tokens (the line said it "buys tokens for the same model" beside a fixed 1T). `plan`: a planner.Plan;
    `unspent_warn`: with --tokens fixed, the share of the budget left unused that counts as unspent (else None)."""
    best, limits = plan.best, plan.limits
    held = [name for name in (SERVING, SPARSITY) if plan.analysis and name in plan.analysis.lifted]
    held += ["training memory"] if memory_holds else []
    holds = f"{' and '.join(held)} {'holds' if len(held) == 1 else 'hold'} the model"
    if unspent_warn is not None:
        fixed = f"{holds + '; ' if held else ''}the tokens are fixed (--tokens), so more compute buys no tokens"
        if plan.days < plan.budget.days * (1 - unspent_warn):
            return (f"{fixed}, and this plan already leaves {1 - plan.days / plan.budget.days:.0%} of the budget "
                    "unspent: more would go unspent too (leave --tokens out to spend it on tokens)")
        return f"{fixed}: it can only move the model (larger, or less sparse{' within those limits' if held else ''})"
    if best.capped_by:
        return (f"{holds + ' and ' if held else ''}the {best.capped_by} limit caps its tokens: more compute would go "
                "unspent; lift that limit to use it")
    if not held:
        return "the law sets the model here, no limit holds it: more compute moves it (larger, or less sparse)"
    caps = {TPP_MAX: limits.max_tokens_per_param * best.activated / best.tokens,
            DATA: limits.max_tokens() / best.tokens}
    nxt = min(caps, key=caps.get)
    return (f"{holds} still: more compute buys tokens for the same model until the {nxt} limit at {caps[nxt]:.3g}x "
            "this budget; past it the law moves to a less sparse model, or the compute goes unspent")
