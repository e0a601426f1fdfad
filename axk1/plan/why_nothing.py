"""Why the planner found no plan, in words that say what to change: the --tokens asked for, the budget, memory or
the serving bound."""

from __future__ import annotations

from axk1.flops import parameter_counts
from axk1.hardware import Budget
from axk1.plan.constraints import SERVING, Limits
from axk1.plan.recipe import context_lengths, recipe_flops_per_token
from axk1.plan.scaling import optimal_vocab_size
from axk1.plan.search import BYTES, SERVE_RESERVE, SearchSpace, family_config


def why_nothing(budget: Budget, rejected: dict[str, int], space: SearchSpace, seq_len: int,
                vocab_adjust: float, limits: Limits, tokens: float | None = None) -> str:
    smallest = family_config(space.hidden_sizes[0], 8, space.experts[0], space.top_k[0], space.granularities[0],
                             1, 1024, seq_len)
    counts = parameter_counts(smallest)
    smallest = smallest.replace(vocab_size=optimal_vocab_size(counts.activated_non_vocab, smallest.hidden_size,
                                                              vocab_adjust))
    # with --tokens fixed, the binding cause is often the number itself, not the budget: say which
    # GPU time -> tokens at the trainer's count, priced over the recipe's lengths as the search prices it
    per_token = recipe_flops_per_token(smallest, seq_len, context_lengths(seq_len)[-1], with_mtp=True, causal=True)
    counts = parameter_counts(smallest)  # at its vocabulary
    activated = counts.activated
    if tokens is not None and tokens * per_token > budget.flops:
        return (f"--tokens {tokens:.3g} exceeds what the budget of {budget.flops:.3g} FLOPs can train even on the "
                f"smallest candidate (at most {budget.flops / per_token:.3g} tokens): lower --tokens, or raise "
                "--gpus, --days (or --mfu)")
    if tokens is not None and tokens < limits.min_tokens_per_param * activated:
        return (f"--tokens {tokens:.3g} is too few for any candidate of the A.X K1 family: the smallest needs at least "
                f"{limits.min_tokens_per_param:g} tokens per activated parameter "
                f"({limits.min_tokens_per_param * activated:.3g} tokens): raise --tokens (or leave it out to spend "
                "the budget)")
    if rejected.get("training memory"):
        return (f"no candidate fits in the memory of {budget.gpus:,} x {budget.gpu.name} "
                f"({budget.gpu.memory_gb:.3g} GB each) for this budget: add GPUs (--gpus), choose a GPU with more "
                "memory (--gpu), or shorten --seq-len")
    need = per_token * limits.min_tokens_per_param * activated
    if budget.flops < need:
        return (f"the budget of {budget.flops:.3g} FLOPs is too small for any candidate of the A.X K1 family: the "
                f"smallest trains on fewer than {limits.min_tokens_per_param:g} tokens per activated parameter. It "
                f"needs about {need:.2g} FLOPs: raise --gpus or --days (or --mfu), or lower --tokens")
    # the budget would do: another limit rejected them (--gpu-memory 0.001 was "3.42e+19 FLOPs is too small ... needs
    # about 9.7e+17 FLOPs", when the serving bound, 8 x 1 MB, had rejected every candidate)
    if rejected.get(SERVING):
        room = limits.serve_gpus * budget.gpu.memory_gb * (1 - SERVE_RESERVE)
        weights = counts.total * BYTES[limits.serve_precision] / 1e9
        which = (f"even the smallest candidate's {weights:.3g} GB of weights do not fit" if weights > room else
                 f"the {rejected[SERVING]:,} candidates over it were the ones the other limits left")
        return (f"the serving bound holds no candidate: the released model must fit {limits.serve_gpus} x "
                f"{budget.gpu.name} ({budget.gpu.memory_gb:.3g} GB each) in {limits.serve_precision}, {room:.3g} GB "
                f"with 10% kept for the KV cache, and {which} (the budget of {budget.flops:.3g} FLOPs is enough: the "
                f"smallest needs about {need:.2g}): check the GPU's memory (--gpu-memory), raise --serve-gpus, use "
                "--serve-precision fp8, or pass --serve-gpus 0 to lift it")
    said = ", ".join(f"{name} {n:,}" for name, n in rejected.items() if n)
    return (f"no candidate of the A.X K1 family passes the plan's limits ({said or 'none rejected'}), although the "
            f"budget of {budget.flops:.3g} FLOPs is enough (the smallest needs about {need:.2g}): lift the limit "
            "that rejects them (--min-activation, --min-tokens-per-param, --max-epochs, --data)")
