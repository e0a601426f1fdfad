"""From a GPU budget to a plan: budget -> search -> the chosen model, its run and its hyper-parameters.

Two FLOP counts (axk1/flops.py says why): GPU time becomes tokens and days at the trainer's causal count (a
candidate's `train_flops_per_token`, the one its MFU divides by), and the laws' compute (the optimal batch and
learning rate) is C = DeepSeek LLM's un-halved count x tokens (`law_flops_per_token`), the units they were fitted in.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace

from axk1.hardware import DEFAULT_MFU, Budget, SECONDS_PER_DAY, make_budget, with_overrides
from axk1.params import count_text
from axk1.flops import parameter_counts
from axk1.plan import defaults
from axk1.plan.law_file import resolve_law
from axk1.plan.memory import check_step_cap, find_layout, step_cps
from axk1.plan.recipe import context_lengths, recipe_flops_per_token
from axk1.plan.scaling import (AXK1_VOCAB_ADJUST, LEVERAGE, LossSurface, optimal_batch_tokens, optimal_learning_rate,
                               optimal_vocab_size)
from axk1.plan.constraints import (DATA, DEFAULT_MAX_EPOCHS, MAX_TOKENS_PER_ACTIVE_PARAM, MIN_ACTIVATION,
                                   MIN_TOKENS_PER_ACTIVE_PARAM, TPP_MAX, TPP_MIN, Limits)
from axk1.plan.search import RECOMPUTE_THROUGHPUT, Analysis, Candidate, SearchSpace, rescore, search
from axk1.plan.growth import growth
from axk1.plan.why_nothing import why_nothing
from axk1.train.step_checks import MAX_TOKENS_PER_STEP

MIN_BATCH = "minimum batch per data-parallel rank"
MIN_STEPS = 1000  # fewer optimizer steps than this is not a pretraining run (A.X K1: ~300K)
TIE_PROBABILITY = 0.2  # a candidate that beats the plan under >= 20% of the law's plausible fits is a near-tie
# the batch raised to one sequence per rank costs loss only well above the law's optimum: DeepSeek LLM (arXiv
# 2401.02954, Fig. 3) finds a wide band of near-optimal batch sizes around it; named past 2x
BATCH_RAISE_WARN = 2.0
UNSPENT_WARN = 0.1  # a fixed --tokens run that leaves more of the budget than this unused is warned about
TIE_GAP = 0.001  # ... and so is one within 0.1% of its loss: below what any fit of these laws resolves


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
    evaluated: int  # distinct shapes
    rejected: dict[str, int] = field(default_factory=dict)
    collapsed: int = 0  # search inputs that rounded to a shape already evaluated
    context: int = 0  # the longest sequence the recipe trains at (its layout's memory holds it)
    limits: Limits = field(default_factory=Limits)
    analysis: Analysis | None = None
    binding: list[str] = field(default_factory=list)  # limits that cost loss, in words
    warnings: list[str] = field(default_factory=list)
    ties: list[tuple[int, float]] = field(default_factory=list)  # (candidate rank, P(it beats the plan))
    band: tuple[float, float] = (float("nan"), float("nan"))  # the plan's predicted loss, 5%-95%
    law_batch: float = 0.0  # the law's batch before rounding to the ranks
    growth: str = ""  # what more compute would do to the model

    @property
    def flops(self) -> float:
        """The model FLOPs the run does (the trainer's causal count): the budget, less recompute's repeats."""
        return self.best.train_flops_per_token * self.best.tokens

    def _data_source(self) -> str:
        """Where the unique-token figure comes from: --data's domains, the default corpus for the rest."""
        given = sorted(self.limits.unique_tokens)
        if not given:
            return "default corpus"
        rest = sorted(set(self.limits.available()) - set(given))
        return f"{', '.join(given)} given" + (f"; {', '.join(rest)} from the default corpus's shares" if rest else "")

    def assumptions(self) -> list[tuple[str, str, str]]:
        """(assumption, value, source) rows for the report."""
        b = self.budget
        lev = LEVERAGE
        return [
            ("GPU", f"{b.gpu.name}: {b.gpu.bf16_tflops or 0:.0f} {b.gpu.half} / "
                    + (f"{b.gpu.fp8_tflops:.0f} fp8" if b.gpu.fp8_tflops else "no fp8") + " dense TFLOP/s, "
                    f"{b.gpu.memory_gb:g} GB, scale-up "
                    + (f"{b.gpu.scale_up_gb_s:.0f} GB/s" if b.gpu.scale_up_gb_s else "unknown"), b.gpu.source),
            ("utilisation", f"{b.mfu:.1%} of the {b.peak_name} peak = {b.achieved_tflops:.0f} TFLOP/s per GPU",
             f"default {DEFAULT_MFU[b.precision]:.0%}: reproduces A.X K1's 2.548e24 from 1,024 H200 x 73 days "
             "(docs/training.md, Budget)"),
            ("budget", f"C = {b.gpus:,} x {b.days:g} d x {b.achieved_tflops:.0f} TFLOP/s = {b.flops:.3e} FLOPs",
             "C = GPUs x seconds x achieved FLOP/s"),
            ("compute-optimal split", f"{self.law.label}: model exponent {self.law.model_exponent:.4f}",
             self.law.source),
            ("MoE efficiency leverage", f"EL = (1/(A+{lev.a_sat}))^({lev.a:.3f} + {lev.d:.3f} log10(C/{lev.c0:.1e})"
                                        f" - {lev.gamma} ln^2(G/{lev.g_opt}))",
             "form of Tian et al. 2025 (arXiv 2507.17702); anchored on Ling-mini-beta (7.2x at 5.1e21) and "
             "DeepSeek-V3 vs LLaMA-3.1-405B (11.5x at 3.3e24)"),
            ("sparsity floor", f"activation ratio >= {self.min_activation:.1%} (shared experts counted)",
             "production range of the lineage: 3.5% (DeepSeek-V3) to 6.3% (Qwen3)"),
            ("data", f"{count_text(sum(self.limits.available().values()), 1)} unique tokens"
                     f" ({self._data_source()}), at most "
                     f"{self.limits.max_epochs:g} epochs of any domain: "
                     f"{count_text(self.limits.max_tokens(), 1)} tokens",
             "repeats discounted by Muennighoff et al. 2023 (arXiv 2305.16264), R* = 15.4"),
            ("tokens per activated parameter", f"{self.limits.min_tokens_per_param:g} to "
                                               f"{self.limits.max_tokens_per_param:g}",
             "the floor under both built-in laws' optima (11-17 and 16-20 up to 1e26 FLOPs); above the ceiling "
             "compute is better spent on a larger model"),
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
             "units, the chunked loss's gradients and buffers, bf16 activations as the model saves them",
             "axk1/train/memory.py (what axk1 train --dry-run prints), held to autograd's saved tensors and "
             "MemTracker peaks by tests/test_memory_account.py"),
            ("training FLOPs/token", f"{self.best.train_flops_per_token:.3e} as the trainer counts them (causal "
                                     "attention, what its MFU divides by: GPU time -> tokens and days); "
                                     f"{self.best.law_flops_per_token:.3e} in DeepSeek LLM's units (whole score "
                                     "matrix: the laws' C for the leverage, batch and learning rate). Each the mean "
                                     f"over the recipe's lengths ({self.seq_len:,} to {self.context:,} tokens) "
                                     "weighted by their tokens, lm_head and "
                                     + ("MTP included" if self.best.memory.layout.cp == 1 else
                                        "no MTP: context parallelism trains without it"),
             "axk1/flops.py; DeepSeek LLM's M (its own definition) + head + MTP"),
            ("recompute and downtime", ("full recompute: 3/4 of the tokens per GPU-second; "
                                        if self.best.memory.layout.recompute else "no recompute; ")
             + f"downtime {b.downtime:.0%} of the days",
             "recompute repeats the forward (4 units of work for 3 of model FLOPs); --downtime"),
        ]


def make_plan(gpu: str, gpus: int, days: float, precision: str = defaults.PRECISION, mfu: float | None = None,
              gpu_memory: float | None = None, peak_tflops: float | None = None,
              tflops: float | None = None, tokens: float | None = None, law: str = defaults.LAW,
              seq_len: int = defaults.SEQ_LEN, vocab_adjust: float = AXK1_VOCAB_ADJUST,
              serve_gpus: int = defaults.SERVE_GPUS, serve_precision: str = defaults.PRECISION,
              min_activation: float = MIN_ACTIVATION, top: int = defaults.TOP, space: SearchSpace = SearchSpace(),
              arch: str | None = None, downtime: float = defaults.DOWNTIME, data: dict[str, float] | None = None,
              max_epochs: float = DEFAULT_MAX_EPOCHS, min_tokens_per_param: float = MIN_TOKENS_PER_ACTIVE_PARAM,
              max_tokens_per_param: float = MAX_TOKENS_PER_ACTIVE_PARAM) -> Plan:
    # --gpu-memory / --peak-tflops: a part the table lacks, or a variant of one (precision checked by make_budget)
    spec = with_overrides(gpu, gpu_memory, peak_tflops, precision)
    budget = make_budget(spec, gpus, days, precision, mfu, tflops, downtime)
    if tokens is not None and not (tokens > 0 and math.isfinite(tokens)):
        raise ValueError(f"--tokens must be positive and finite, got {tokens}")
    if not (isinstance(seq_len, int) and seq_len >= 2):
        raise ValueError(f"--seq-len must be a whole number of tokens >= 2 (the trainer's shortest row), got {seq_len}")
    if top < 1:
        raise ValueError(f"--top must be >= 1 (candidates to list), got {top}")
    limits = Limits(serve_gpus, serve_precision, min_activation, min_tokens_per_param, max_tokens_per_param,
                    dict(data or {}), max_epochs)
    if arch is not None:
        space = replace(space, arch=arch)
    surface = resolve_law(law)
    check_step_cap(budget.gpus, seq_len)
    result = search(budget, surface, seq_len, tokens, vocab_adjust, limits, space, top)
    if not result.ranked:
        raise ValueError(why_nothing(budget, result.rejected, space, seq_len, vocab_adjust, limits, tokens))
    # Every listed candidate laid out at the long-context stage's length, then ranked again: the search lays out at
    # the base length, and the one it ranked first could need recompute at 32K (3/4 of the tokens) where the second
    # did not, and the plan took the worse run while its table listed better ones below it
    contexts = [_at_longest_context(c, budget, seq_len, surface, limits, tokens) for c in result.ranked]
    # ... and the tokens-per-parameter floor checked again on that layout: recompute at 32K buys 3/4 of the tokens,
    # and a plan went to 8 tokens per activated parameter under its own floor of 10
    under = [c.tokens < limits.min_tokens_per_param * c.activated for c in result.ranked]
    if any(under):
        result.rejected[TPP_MIN] = result.rejected.get(TPP_MIN, 0) + sum(under)
        contexts = [x for x, low in zip(contexts, under) if not low]
        result.ranked[:] = [c for c, low in zip(result.ranked, under) if not low]
        if not result.ranked:
            raise ValueError(why_nothing(budget, result.rejected, space, seq_len, vocab_adjust, limits, tokens))
    order = sorted(range(len(result.ranked)), key=lambda i: result.ranked[i].loss)
    result.ranked[:] = [result.ranked[i] for i in order]
    best, context = result.ranked[0], contexts[order[0]]
    counts = parameter_counts(best.config)
    uniform = math.log(best.config.vocab_size)
    if not (math.isfinite(best.loss) and best.loss < uniform):  # A = 1e308 planned a "loss" of 300 digits
        raise ValueError(f"the {surface.label} predicts a loss of {best.loss:.4g} nats for the plan's model "
                         f"({count_text(best.activated, 1)} activated, {count_text(best.tokens, 1)} tokens), not below "
                         f"ln({best.config.vocab_size:,}) = {uniform:.2f}, a uniform guess's: its constants (E {surface.E:.4g}, "
                         f"A {surface.A:.4g}, B {surface.B:.4g}) do not describe models of this size; refit it with "
                         "`axk1 plan fit`")
    # the law's batch, rounded to a whole number of the longest stage's sequences per data-parallel rank, so every
    # stage's sequences divide over the ranks (cp ranks share rows); at least one sequence per rank
    unit = budget.gpus // best.memory.layout.cp * context
    law_batch = optimal_batch_tokens(best.law_flops_per_token * best.tokens)  # the law's C, in its units
    # ... and no more sequences per rank than the trainer's step cap holds (check_step_cap left room for one)
    batch = min(max(1, round(law_batch / unit)), MAX_TOKENS_PER_STEP // unit) * unit
    if best.tokens < batch:
        raise ValueError(f"the budget buys {best.tokens:.3g} tokens, less than one optimizer step of {batch:,} tokens "
                         f"(one {context:,}-token sequence on each of {unit // context:,} data-parallel ranks): raise "
                         "--days, or plan for fewer --gpus")
    per_gpu = budget.achieved_tflops * 1e12 / best.train_flops_per_token
    if best.memory.layout.recompute:
        per_gpu *= RECOMPUTE_THROUGHPUT
    run_days = best.tokens / (per_gpu * budget.gpus * (1 - budget.downtime)) / SECONDS_PER_DAY
    plan = Plan(
        budget=budget, law=surface, seq_len=seq_len, best=best, candidates=result.ranked,
        vocab_optimal=optimal_vocab_size(counts.activated_non_vocab, best.config.hidden_size),
        vocab_adjust=vocab_adjust, batch_tokens=batch, batch_sequences=max(1, round(batch / seq_len)),
        learning_rate=optimal_learning_rate(best.law_flops_per_token * best.tokens),
        tokens_per_second_per_gpu=per_gpu, days=run_days, serve_gpus=serve_gpus, serve_precision=serve_precision,
        min_activation=min_activation, evaluated=result.evaluated, rejected=result.rejected, context=context,
        limits=limits, analysis=result.analysis, law_batch=law_batch, collapsed=result.collapsed,
        band=surface.band(best.leverage * best.scale, best.effective_tokens),
    )
    _explain(plan, result.memory_rejected_better, tokens is not None)
    if budget.peak_name == "fp16":
        plan.warnings.append(f"{budget.gpu.name} has no bf16 tensor cores: the plan counts its fp16 peak "
                             f"({budget.gpu.bf16_tflops:g} TFLOP/s), which only an fp16 trainer reaches; axk1 train "
                             "computes in bf16 or fp32 ([parallelism] precision), and bf16 matmuls do not run at that "
                             "rate there: plan with --tflops at the rate you measure")
    steps = best.tokens / batch
    if steps < MIN_STEPS:
        plan.warnings.append(f"only {steps:,.0f} optimizer steps of {batch:,} tokens: too few for warmup and decay "
                             "(plan for fewer GPUs or more days)")
    if tokens is not None and run_days > budget.days * (1 + 1e-9):
        plan.warnings.append(f"the fixed {count_text(tokens)} tokens take {duration_text(run_days)}, more than the "
                             f"{duration_text(budget.days)} budgeted: the long-context stage's layout needs full "
                             "recompute, which the search's layout at the base length did not (lower --tokens)")
    if tokens is not None and run_days < budget.days * (1 - UNSPENT_WARN):
        plan.warnings.append(f"the fixed {count_text(tokens)} tokens take {duration_text(run_days)} of the "
                             f"{duration_text(budget.days)} budgeted ({run_days / budget.days:.0%} of the budget): the "
                             "rest goes unspent; leave --tokens out to spend the budget, or budget fewer --days")
    return plan


def _at_longest_context(cand, budget, seq_len: int, surface, limits, tokens) -> int:
    """Lays `cand` out at the long-context stage's length and scores it on that layout; returns the longest length
    it fits. Where one GPU cannot hold a 32K sequence's activations (DeepSeek-V3's budget on 80 GB H800s), context
    parallelism splits it (and the run trains without MTP, which the trainer cannot combine with it); where even
    that fails, the recipe stops at the longest length that fits. plan.md says which."""
    # cp must divide every stage's length (the trainer's check), so the base length, of which all are multiples
    # ... and keeps the step's tokens within the trainer's cap (make_plan checked one degree does at the longest)
    for context in reversed(context_lengths(seq_len)):
        cps = step_cps(budget.gpus, seq_len, context)
        memory = find_layout(cand.config, budget.gpus, budget.gpu.memory_gb, context, cps=cps) if cps else None
        if memory is not None:
            if cps[0] > 1:  # the cap, not memory, ruled out the lower degrees: the layout's sentence says so
                memory = replace(memory, why=f"{memory.why}; context parallel below {cps[0]} would leave "
                                 f"{budget.gpus // (cps[0] // 2):,} data-parallel ranks, one {context:,}-token "
                                 f"sequence each over the {MAX_TOKENS_PER_STEP:,} tokens a step may take")
            cand.memory = memory
            break
    else:
        context = seq_len
    # the recipe's cost per token: its lengths' mean, weighted by their tokens (attention grows with the length);
    # a context-parallel run trains without MTP, so the budget pays for no MTP work
    mtp = cand.memory.layout.cp == 1
    cand.train_flops_per_token = recipe_flops_per_token(cand.config, seq_len, context, with_mtp=mtp, causal=True)
    cand.law_flops_per_token = recipe_flops_per_token(cand.config, seq_len, context, with_mtp=mtp, causal=False)
    if tokens is None:  # the layout of the longest stage is the run's: its recompute sets the tokens the budget buys
        rescore(cand, surface, limits, budget.flops, cand.memory.layout.recompute)
    return context


def _explain(plan: Plan, memory_rejected_better: int, fixed_tokens: bool) -> None:
    """Fills plan.binding, plan.warnings, plan.ties and plan.growth from the search's analysis."""
    best, limits, analysis = plan.best, plan.limits, plan.analysis
    for name, alt in (analysis.lifted.items() if analysis else []):
        cap = name in (DATA, TPP_MAX)
        loss = alt.lifted_loss[name] if cap else alt.loss
        tokens = alt.lifted_tokens[name] if cap else alt.tokens
        if name == DATA and alt.config == best.config and math.isclose(tokens, best.tokens, rel_tol=1e-3):
            # the same run: what the lift changes is the discount on its repeated tokens
            plan.binding.append(f"{name}: lifted, the same model and tokens would count in full, not as repeats "
                                f"(loss {loss:.4f} vs {best.loss:.4f})")
            continue
        plan.binding.append(f"{name}: lifted, the law would choose {_describe(alt, tokens)} (loss {loss:.4f} vs "
                            f"{best.loss:.4f})")
    if memory_rejected_better:
        plan.binding.append(f"training memory: {memory_rejected_better} better candidates fit no layout of "
                            f"{plan.budget.gpus:,} x {plan.budget.gpu.name}")
    _recompute_holds(plan)
    dp = plan.budget.gpus // best.memory.layout.cp
    ratio = dp * plan.context / plan.law_batch
    if ratio > BATCH_RAISE_WARN:  # a 1.4% raise was listed as binding, "1.0x the law's optimum ... a worse loss"
        plan.binding.append(f"{MIN_BATCH}: the law's batch ({plan.law_batch:,.0f} tokens) is less than one "
                            f"{plan.context:,}-token sequence per rank; raised to {dp:,} sequences of {plan.context:,} "
                            f"tokens ({ratio:.1f}x; the batch line counts them at the base length)")
        plan.warnings.append(f"fewer than 1 sequence per data-parallel rank at the law's batch: the batch is "
                             f"{ratio:.1f}x the law's optimum (plan for fewer GPUs, or expect a worse loss)")
    epochs = limits.epochs(best.tokens)
    domain = max(epochs, key=epochs.get)
    if epochs[domain] > 1:
        plan.warnings.append(f"the run repeats its data: {epochs[domain]:.1f} epochs of {domain} (of "
                             f"{count_text(limits.available()[domain])} unique); repeated tokens count for less "
                             f"({count_text(best.effective_tokens, 1)} effective of {count_text(best.tokens, 1)})")
    if best.capped_by and fixed_tokens:  # the tokens asked for were cut without a word in plan.md
        plan.warnings.append(f"--tokens asked for {count_text(best.budget_tokens, 1)} tokens; the {best.capped_by} "
                             f"limit cuts the run to {count_text(best.tokens, 1)} (lift the limit to train them all: "
                             "--max-tokens-per-param, --data or --max-epochs)")
    if best.capped_by and not fixed_tokens:
        fix = ("give --data with more unique tokens or raise --max-epochs" if best.capped_by == DATA else
               "raise --max-tokens-per-param, or lift the limit that holds the model (serving: --serve-gpus / "
               "--serve-precision fp8)")
        plan.warnings.append(f"the {best.capped_by} limit caps the tokens: the plan uses "
                             f"{best.tokens / best.budget_tokens:.0%} of the budget ({count_text(best.tokens, 1)} of "
                             f"the {count_text(best.budget_tokens, 1)} tokens it buys; the run ends after "
                             f"{duration_text(plan.days)} of the {duration_text(plan.budget.days)} budgeted); to spend "
                             f"the rest: {fix}")
    # without samples there is no band to show how little a far extrapolation pins down: say it is unbounded
    spread = ("its band says how little that pins down" if plan.law.samples else
              "it has no bootstrap band, so nothing bounds the error of that extrapolation")
    if math.isnan(plan.law.fitted_flops):
        plan.warnings.append(f"the {plan.law.label} lists no runs: the budgets it was fitted on are unknown, so "
                             f"nothing says how far this plan extrapolates it ({spread}); refit it with `axk1 plan fit`")
    elif plan.law.fitted_flops and plan.budget.flops > 100 * plan.law.fitted_flops:
        plan.warnings.append(f"the {plan.law.label} was fitted on runs of at most {plan.law.fitted_flops:.2g} FLOPs; "
                             f"this plan extrapolates it {plan.budget.flops / plan.law.fitted_flops:.1e}x ({spread})")
    vocab = plan.best.config.vocab_size
    if plan.law.fitted_vocab and plan.law.fitted_vocab != vocab:  # a loss is nats per token of its own tokenizer
        plan.warnings.append(f"the {plan.law.label} was fitted on runs with a vocabulary of {plan.law.fitted_vocab:,}, "
                             f"the plan's model has {vocab:,}: its losses are nats per token of another tokenizer, so "
                             "the predicted loss is in the fitted runs' units, not this model's")
    if analysis and analysis.unconstrained is not None and analysis.unconstrained.budget_tokens > 1e15:
        plan.warnings.append(f"without limits the law would train on {analysis.unconstrained.budget_tokens / 1e12:,.0f}"
                             "T tokens, beyond any corpus")
    # near-ties: a candidate within TIE_GAP of the plan's loss (no fit resolves that), or one that beats the plan
    # under a fair share of the law's plausible fits (its samples)
    samples = plan.law.samples
    for i, cand in enumerate(plan.candidates[1:], 2):
        wins = sum(_loss(s, cand) < _loss(s, best) for s in samples) / len(samples) if samples else 0.0
        if cand.loss <= best.loss * (1 + TIE_GAP) or wins >= TIE_PROBABILITY:
            plan.ties.append((i, wins))
    memory_holds = memory_rejected_better > 0 or any(b.startswith("training memory") for b in plan.binding)
    plan.growth = growth(plan, memory_holds, UNSPENT_WARN if fixed_tokens else None)


def _loss(sample: tuple[float, ...], c: Candidate) -> float:
    e, a, alpha, b, beta = sample
    return e + a / (c.leverage * c.scale) ** alpha + b / c.effective_tokens ** beta


def duration_text(days: float) -> str:
    """A run's length: hours under a day (a one-hour plan does not run "0.0 days")."""
    return f"{days:.1f} days" if days >= 1 else f"{days * 24:.1f} hours"


def _recompute_holds(plan: Plan) -> None:
    """Where no single limit binds yet the law's unconstrained optimum is better than the plan, what holds it is
    the trainer's memory at the long-context stage: its shape fits these GPUs there only with full recompute, which
    buys 3/4 of the tokens and leaves it worse than the plan, or not at all. Said in plan.md (it read "binding: none;
    the law's optimum is feasible" beside an optimum 1.7x the plan's size). Laid out at the plan's longest length, as
    the plan's own candidates are (_at_longest_context): at the base length a 13.6B dense optimum fitted without
    recompute and nothing was named, though at 32K it needed it."""
    free = plan.analysis.unconstrained if plan.analysis else None
    if plan.binding or free is None or free.lifted_loss["all"] >= plan.best.loss * (1 - 1e-4):
        return
    cps = step_cps(plan.budget.gpus, plan.seq_len, plan.context)  # as the plan's own layouts
    memory = find_layout(free.config, plan.budget.gpus, plan.budget.gpu.memory_gb, plan.context, cps=cps)
    where = f"{plan.budget.gpus:,} x {plan.budget.gpu.name} at the {plan.context:,}-token stage"
    if memory is None:
        plan.binding.append(f"training memory: the unconstrained optimum ({_describe(free, free.lifted_tokens['all'])}"
                            f", loss {free.lifted_loss['all']:.4f} vs the plan's {plan.best.loss:.4f}) fits no layout "
                            f"of {where}")
        return
    if not memory.layout.recompute:
        return
    on_layout = copy.copy(free)
    on_layout.memory = memory
    mtp = memory.layout.cp == 1  # priced as the plan's candidates are on their longest layout
    on_layout.train_flops_per_token = recipe_flops_per_token(free.config, plan.seq_len, plan.context, with_mtp=mtp,
                                                             causal=True)
    on_layout.law_flops_per_token = recipe_flops_per_token(free.config, plan.seq_len, plan.context, with_mtp=mtp,
                                                           causal=False)
    rescore(on_layout, plan.law, plan.limits, plan.budget.flops, True)
    if on_layout.loss < plan.best.loss:
        return  # a limit holds it, not memory
    plan.binding.append(f"training memory: the unconstrained optimum ({_describe(free, free.lifted_tokens['all'])}) "
                        f"fits {where} only with full recompute, which buys 3/4 of the tokens: loss "
                        f"{on_layout.loss:.4f} vs the plan's {plan.best.loss:.4f}")


def _describe(c: Candidate, tokens: float) -> str:
    kind = "dense" if c.dense else f"MoE {c.activation_ratio:.1%} active"
    return (f"{count_text(c.total, 1)} total / {count_text(c.activated, 1)} activated ({kind}), "
            f"{count_text(tokens)} tokens")
