"""From a GPU budget to a plan: budget -> search -> the chosen model, its run and its hyper-parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

from axk1.hardware import DEFAULT_MFU, Budget, SECONDS_PER_DAY, make_budget
from axk1.plan.arch import parameter_counts, training_flops_per_token
from axk1.plan.law_file import resolve_law
from axk1.plan.memory import find_layout

CONTEXT_PARALLEL = (1, 2, 4, 8)  # degrees tried for the long-context stage (A.X K1 published CP 4-8)
from axk1.plan.recipe import CONTEXT_LENGTHS
from axk1.plan.scaling import (AXK1_VOCAB_ADJUST, LEVERAGE, LossSurface, optimal_batch_tokens, optimal_learning_rate, optimal_vocab_size)
from axk1.plan.search import (MIN_ACTIVATION, MIN_TOKENS_PER_ACTIVE_PARAM, Candidate, SearchSpace, family_config,
                              search)


@dataclass
class Plan:
    budget: Budget
    law: LossSurface
    seq_len: int
    best: Candidate
    candidates: list[Candidate]
    vocab_optimal: int  # Tao et al. before the adjustment
    vocab_adjust: float
    batch_tokens: float
    batch_sequences: int
    learning_rate: float
    tokens_per_second_per_gpu: float
    days: float
    serve_gpus: int
    serve_precision: str
    min_activation: float
    evaluated: int
    rejected: dict[str, int] = field(default_factory=dict)
    context: int = 0  # the longest sequence the recipe trains at (its layout's memory holds it)

    @property
    def flops(self) -> float:
        return self.best.train_flops_per_token * self.best.tokens

    def assumptions(self) -> list[tuple[str, str, str]]:
        """(assumption, value, source) rows for the report."""
        b = self.budget
        lev = LEVERAGE
        return [
            ("GPU", f"{b.gpu.name}: {b.gpu.bf16_tflops:.0f} bf16 / {b.gpu.fp8_tflops or 0:.0f} fp8 dense TFLOP/s, "
                    f"{b.gpu.memory_gb:.0f} GB, scale-up {b.gpu.scale_up_gb_s:.0f} GB/s", b.gpu.source),
            ("utilisation", f"{b.mfu:.1%} of the {b.precision} peak = {b.achieved_tflops:.0f} TFLOP/s per GPU",
             f"default {DEFAULT_MFU[b.precision]:.0%}: reproduces A.X K1's 2.548e24 from 1,024 H200 x 73 days "
             "(docs/training.md, Budget)"),
            ("budget", f"C = {b.gpus:,} x {b.days:g} d x {b.achieved_tflops:.0f} TFLOP/s = {b.flops:.3e} FLOPs",
             "C = GPUs x seconds x achieved FLOP/s"),
            ("compute-optimal split", f"{self.law.name}: model exponent {self.law.model_exponent:.4f}",
             self.law.source),
            ("MoE efficiency leverage", f"EL = (1/(A+{lev.a_sat}))^({lev.a:.3f} + {lev.d:.3f} log10(C/{lev.c0:.1e})"
                                        f" - {lev.gamma} ln^2(G/{lev.g_opt}))",
             "form of Tian et al. 2025 (arXiv 2507.17702); anchored on Ling-mini-beta (7.2x at 5.1e21) and "
             "DeepSeek-V3 vs LLaMA-3.1-405B (11.5x at 3.3e24)"),
            ("sparsity floor", f"activation ratio >= {self.min_activation:.1%} (shared experts counted)",
             "production range of the lineage: 3.5% (DeepSeek-V3) to 6.3% (Qwen3); binding"),
            ("serving bound", (f"total params <= {self.serve_gpus} x {b.gpu.memory_gb:.0f} GB x 0.9 in "
                               f"{self.serve_precision}") if self.serve_gpus else "none",
             "one node serves the release (A.X K1: 1,038 GB BF16 on 8 x H200)"),
            ("batch size", f"{self.batch_tokens:.3g} tokens = {self.batch_sequences:,} x {self.seq_len}",
             "DeepSeek LLM Eq. 1: B = 0.2920 C^0.3271, rounded to a multiple of GPUs x the longest stage's "
             "length so every stage divides over the ranks"),
            ("peak learning rate", f"{self.learning_rate:.2e}", "DeepSeek LLM Eq. 1: eta = 0.3118 C^-0.1250"),
            ("vocabulary", f"{self.vocab_optimal:,} x {self.vocab_adjust:g} -> {self.best.config.vocab_size:,}",
             "Tao et al. 2024 (arXiv 2407.13623) approach 2; A.X K1 raised the optimum by 25% "
             "(docs/model.md, Tokenizer)"),
            ("memory", "the trainer's account at the longest stage: 16 B/param of sharded fp32 state, gathered bf16 "
             "units, the chunked loss's buffers, bf16 activations", "axk1/train/memory.py (what axk1 train "
             "--dry-run prints); Korthikanti et al. 2022 for activations"),
            ("training FLOPs/token", f"{self.best.train_flops_per_token:.3e} at {self.seq_len} tokens (incl. "
                                     "attention, lm_head, MTP depth 1)", "arch.py; DeepSeek LLM's M + head + MTP"),
        ]


def make_plan(gpu: str, gpus: int, days: float, precision: str = "bf16", mfu: float | None = None,
              tflops: float | None = None, tokens: float | None = None, law: str = "deepseek", seq_len: int = 4096,
              vocab_adjust: float = AXK1_VOCAB_ADJUST, serve_gpus: int = 8, serve_precision: str = "bf16",
              min_activation: float = MIN_ACTIVATION, top: int = 10, space: SearchSpace = SearchSpace()) -> Plan:
    budget = make_budget(gpu, gpus, days, precision, mfu, tflops)
    if tokens is not None and not tokens > 0:
        raise ValueError(f"--tokens must be positive, got {tokens}")
    if not seq_len > 0:
        raise ValueError(f"--seq-len must be positive, got {seq_len}")
    if top < 1:
        raise ValueError(f"--top must be >= 1 (candidates to list), got {top}")
    if serve_gpus < 0:
        raise ValueError(f"--serve-gpus must be >= 0 (0 = no serving bound), got {serve_gpus}")
    if not 0 < min_activation < 1:
        raise ValueError(f"--min-activation must be in (0, 1), got {min_activation}")
    surface = resolve_law(law)
    result = search(budget, surface, seq_len, tokens, vocab_adjust, serve_gpus, serve_precision, space, top,
                    min_activation)
    if not result.ranked:
        raise ValueError(_why_nothing(budget, result.rejected, space, seq_len, vocab_adjust))
    best = result.ranked[0]
    counts = parameter_counts(best.config)
    # The long-context stage: the layout is chosen at its longest length. Where one GPU cannot hold a 32K sequence's
    # activations (DeepSeek-V3's budget on 80 GB H800s), context parallelism splits it (and the run trains without
    # MTP, which the trainer cannot combine with it); where even that fails, the recipe stops at the longest length
    # that fits. plan.md says which.
    for context in sorted((L for L in CONTEXT_LENGTHS if L >= seq_len), reverse=True):
        memory = find_layout(best.config, budget.gpus, budget.gpu.memory_gb, context, cps=CONTEXT_PARALLEL)
        if memory is not None:
            best.memory = memory
            break
    else:
        context = seq_len
    # the law's batch, rounded to a whole number of the longest stage's sequences per GPU, so every stage's
    # sequences divide over the data-parallel ranks (all GPUs: the trainer has no pipeline or context axis)
    unit = budget.gpus // best.memory.layout.cp * context  # the data-parallel ranks (cp ranks share rows)
    batch = max(1, round(optimal_batch_tokens(best.train_flops_per_token * best.tokens) / unit)) * unit
    per_gpu = budget.achieved_tflops * 1e12 / best.train_flops_per_token
    days = best.tokens / (per_gpu * budget.gpus) / SECONDS_PER_DAY
    return Plan(
        budget=budget, law=surface, seq_len=seq_len, best=best, candidates=result.ranked,
        vocab_optimal=optimal_vocab_size(counts.activated_non_vocab, best.config.hidden_size),
        vocab_adjust=vocab_adjust, batch_tokens=batch, batch_sequences=max(1, round(batch / seq_len)),
        learning_rate=optimal_learning_rate(best.train_flops_per_token * best.tokens),
        tokens_per_second_per_gpu=per_gpu, days=days, serve_gpus=serve_gpus, serve_precision=serve_precision,
        min_activation=min_activation, evaluated=result.evaluated, rejected=result.rejected, context=context,
    )


def _why_nothing(budget: Budget, rejected: dict[str, int], space: SearchSpace, seq_len: int,
                 vocab_adjust: float) -> str:
    smallest = family_config(space.hidden_sizes[0], 8, space.experts[0], space.top_k[0], space.granularities[0],
                             1, 1024, seq_len)
    counts = parameter_counts(smallest)
    smallest = smallest.replace(vocab_size=optimal_vocab_size(counts.activated_non_vocab, smallest.hidden_size,
                                                              vocab_adjust))
    if rejected.get("memory"):
        return (f"no candidate fits in the memory of {budget.gpus:,} x {budget.gpu.name} "
                f"({budget.gpu.memory_gb:.0f} GB each) for this budget: add GPUs (--gpus), choose a GPU with more "
                "memory (--gpu), or shorten --seq-len")
    if rejected.get("serving") and not rejected.get("too few tokens"):
        return ("every candidate exceeds the serving bound: raise --serve-gpus, use --serve-precision fp8, or "
                "pass --serve-gpus 0 to lift it")
    need = (training_flops_per_token(smallest, seq_len) * MIN_TOKENS_PER_ACTIVE_PARAM
            * parameter_counts(smallest).activated)
    return (f"the budget of {budget.flops:.3g} FLOPs is too small for any candidate of the A.X K1 family: the "
            f"smallest trains on fewer than {MIN_TOKENS_PER_ACTIVE_PARAM} tokens per activated parameter. It needs "
            f"about {need:.2g} FLOPs: raise --gpus or --days (or --mfu), or lower --tokens")
