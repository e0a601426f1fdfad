"""Architecture search over the DeepSeek-V3 / A.X K1 family, dense and MoE, for a FLOP budget.

Every candidate spends the whole budget (D = C / training FLOPs per token: the trainer's causal count, so D is
what `axk1 train` does in that GPU time at the budget's MFU (axk1/flops.py), the mean over the recipe's lengths)
unless --tokens fixes D or the data
runs out first (constraints.py: then D is what the data allows and the rest of the budget is left unspent). The
predicted loss is the chosen law's surface at the candidate's dense-equivalent scale EL x M (scaling.py; EL = 1
for a dense model) and its effective tokens (repeated tokens discounted). Candidates are ranked by that loss among
those that satisfy every limit in constraints.py; the same candidates scored with each limit lifted tell which
limits bind and what the unconstrained optimum would be (`Analysis`).

Family shape rules, scaled from A.X K1 / DeepSeek-V3 (docs/model.md): MLA head dims 128/64/128, q/kv LoRA ranks
1536/512 from d = 7168 up (scaled down below), heads d/112, dense FFN 18432/7168 x d, 8 expert groups (top 4),
one shared expert, 3 norms per layer, MTP depth 1 in training for a MoE (none for a dense model, as Llama 3),
untied embeddings. A dense candidate is the same family with every layer dense.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from axk1.config import ModelConfig
from axk1.hardware import Budget
from axk1.flops import non_embedding_flops_per_token, parameter_counts
from axk1.plan.arch import activation_ratio, granularity
from axk1.plan.constraints import (DATA, OVER_BUDGET, SERVING, SPARSITY, TPP_MAX, TPP_MIN, Limits)
from axk1.plan.defaults import ARCHES
from axk1.plan.memory import MemoryEstimate, find_layout
from axk1.plan.recipe import context_lengths, recipe_flops_per_token
from axk1.plan.scaling import AXK1_VOCAB_ADJUST, LossSurface, efficiency_leverage, optimal_vocab_size
from axk1.presets import AXK1_TOKENIZER_IDS

SERVE_RESERVE = 0.10
BYTES = {"bf16": 2, "fp8": 1}
# Sparsity floor (constraints.MIN_ACTIVATION, 4.5%). Production MoEs of this lineage activate (shared experts
# counted) 3.5% (DeepSeek-V3, Ling 2.0), 4.7% (A.X K1), 4.9% (DeepSeek-V2), 5.6% (GLM-4.5), 6.3% (Qwen3-235B);
# sparser designs trade leverage for all-to-all traffic, memory and balance problems the leverage law does not
# see. 4.5% is the middle of that range. plan.md says when it binds and what the law would choose without it.
ANALYSIS_TRIES = 400  # per limit, when looking for the best candidate it holds back that memory allows (a layout
# check is arithmetic: 400 cost a fraction of a second; 40 missed a serving limit whose first fit was the 58th)
RECOMPUTE_THROUGHPUT = 0.75  # full recompute runs the forward twice: 4 units of work for 3 of model FLOPs


@dataclass(frozen=True)
class SearchSpace:
    hidden_sizes: tuple[int, ...] = (1024, 1536, 2048, 2560, 3072, 4096, 5120, 6144, 7168, 8192, 9216, 10240,
                                     12288)
    depth_ratios: tuple[float, ...] = (128.0, 117.5, 104.0, 92.0)  # d / layers; A.X K1 and DeepSeek-V3: 117.5
    experts: tuple[int, ...] = (32, 64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512)
    top_k: tuple[int, ...] = (6, 8)
    granularities: tuple[int, ...] = (6, 7, 8, 10, 12)
    dense_layers: tuple[int, ...] = (1, 3)
    dense_hidden_sizes: tuple[int, ...] = (1024, 1536, 2048, 2560, 3072, 4096, 5120, 6144, 7168, 8192, 10240,
                                           12288, 14336, 16384, 18432, 20480)
    arch: str = ARCHES[0]  # "moe", "dense" or both in one ranking


@dataclass
class Candidate:
    config: ModelConfig
    total: int
    activated: int
    activation_ratio: float
    granularity: float
    leverage: float
    scale: float  # the law's model scale: M (deepseek) or activated non-vocabulary parameters (chinchilla)
    train_flops_per_token: float  # the trainer's (causal) count: what the GPU time pays for, and MFU measures
    law_flops_per_token: float  # DeepSeek LLM's (un-halved): C = this x tokens is the compute a law is handed
    tokens: float
    loss: float
    memory: MemoryEstimate | None = None
    effective_tokens: float = 0.0  # tokens with repeats discounted (= tokens when the data suffices)
    budget_tokens: float = 0.0     # the tokens the budget would buy (more than `tokens` when a cap holds it)
    capped_by: str | None = None   # the cap (data, tokens per parameter) that set `tokens`, if one did
    lifted_loss: dict[str, float] = field(default_factory=dict)  # the loss with a cap (or "all") lifted
    lifted_tokens: dict[str, float] = field(default_factory=dict)  # ... and the tokens it then trains on
    violations: frozenset = frozenset()  # limits the candidate breaks (rejected if any)

    @property
    def dense(self) -> bool:
        return self.activation_ratio == 1.0

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.activated

    def summary(self) -> dict:
        c = self.config
        return {
            "total_params": self.total, "activated_params": self.activated, "tokens": self.tokens,
            "hidden_size": c.hidden_size, "layers": c.num_hidden_layers, "dense_layers": c.first_k_dense_replace,
            "heads": c.num_attention_heads, "experts": c.n_routed_experts, "top_k": c.num_experts_per_tok,
            "expert_width": c.moe_intermediate_size, "vocab_size": c.vocab_size,
            "arch": "dense" if self.dense else "moe", "activation_ratio": self.activation_ratio,
            "granularity": self.granularity, "leverage": self.leverage,
            "train_flops_per_token": self.train_flops_per_token, "law_flops_per_token": self.law_flops_per_token,
            "predicted_loss": self.loss,
            "effective_tokens": self.effective_tokens, "tokens_per_param": self.tokens_per_param,
            "layout": None if self.memory is None else vars(self.memory.layout),
            "memory_gb": None if self.memory is None else round(self.memory.total_gb, 1),
        }


@dataclass
class Analysis:
    """What the limits cost: for each limit, the best candidate with it alone lifted (a cap lifted: the candidate
    trains on every token the budget buys, all of them new), training memory kept; and the unconstrained optimum
    (every limit lifted, training memory too: the law's own answer in this search space)."""
    lifted: dict[str, Candidate]      # limit -> best candidate with that limit lifted (where it beats the plan)
    unconstrained: Candidate | None


@dataclass
class SearchResult:
    ranked: list[Candidate]  # feasible candidates, best first
    evaluated: int  # distinct shapes scored
    rejected: dict[str, int] = field(default_factory=dict)
    analysis: Analysis | None = None
    memory_rejected_better: int = 0  # candidates better than the chosen one that no layout of the GPUs holds
    collapsed: int = 0  # search inputs whose rounded widths gave a shape already scored (skipped, not listed twice)


def _round(x: float, multiple: int) -> int:
    return max(multiple, int(round(x / multiple)) * multiple)


def family_config(hidden: int, layers: int, experts: int, top_k: int, gran: int, dense: int, vocab: int,
                  seq_len: int) -> ModelConfig:
    """A member of the family; dense >= layers makes every layer dense (a dense model: no MTP, experts unused)."""
    heads = max(8, _round(hidden / 112, 8))
    q_rank = min(1536, _round(hidden * 1536 / 7168, 64))
    kv_rank = min(512, _round(hidden * 512 / 7168, 64))
    return ModelConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=_round(hidden * 18432 / 7168, 256),
        moe_intermediate_size=_round(2 * hidden / gran, 128), num_hidden_layers=layers, first_k_dense_replace=dense,
        num_attention_heads=heads, q_lora_rank=q_rank, kv_lora_rank=kv_rank, qk_nope_head_dim=128,
        qk_rope_head_dim=64, v_head_dim=128, n_routed_experts=experts, n_shared_experts=1, num_experts_per_tok=top_k,
        n_group=8, topk_group=4, max_position_embeddings=max(seq_len, 4096),
        num_nextn_predict_layers=0 if dense >= layers else 1,
        **AXK1_TOKENIZER_IDS,  # the model trains on an axk1 tokenizer: its <|im_end|> ends a turn and a reply
    )


def _shapes(space: SearchSpace):
    if space.arch not in ARCHES:
        raise ValueError(f"--arch must be one of {', '.join(ARCHES)}, got {space.arch!r}")
    if space.arch in ("both", "dense"):
        for hidden in space.dense_hidden_sizes:
            for layers in sorted({max(4, round(hidden / r)) for r in space.depth_ratios}):
                yield hidden, layers, 32, 6, 8, layers  # experts, top-k, granularity unused
    if space.arch == "dense":
        return
    for hidden in space.hidden_sizes:
        for layers in sorted({max(4, round(hidden / r)) for r in space.depth_ratios}):
            for experts in space.experts:
                for top_k in space.top_k:
                    if top_k > 4 * (experts // 8):
                        continue
                    for gran in space.granularities:
                        for dense in space.dense_layers:
                            if dense < layers:
                                yield hidden, layers, experts, top_k, gran, dense


def search(budget: Budget, law: LossSurface, seq_len: int = 4096, tokens: float | None = None,
           vocab_adjust: float = AXK1_VOCAB_ADJUST, limits: Limits = Limits(), space: SearchSpace = SearchSpace(),
           keep: int = 10) -> SearchResult:
    """Rank the family for `budget` under `limits`; the first `keep` feasible candidates carry a memory layout."""
    flops = budget.flops
    max_total = (limits.serve_gpus * budget.gpu.memory_gb * 1e9 * (1 - SERVE_RESERVE) / BYTES[limits.serve_precision]
                 if limits.serve_gpus else math.inf)
    data_cap = limits.max_tokens()
    scored: list[Candidate] = []
    rejected = {SERVING: 0, SPARSITY: 0, TPP_MIN: 0, OVER_BUDGET: 0, "training memory": 0}
    # Different inputs can round to one model: at hidden 1024 granularities 7, 8 and 10 all give expert width 256
    # (2 x 1024 / G to a multiple of 128). Scored once each; the table listed the same shape three times and the
    # near-ties line counted the copies as alternatives.
    seen: set[str] = set()
    collapsed = 0
    longest = context_lengths(seq_len)[-1]
    for hidden, layers, experts, top_k, gran, dense in _shapes(space):
        config = family_config(hidden, layers, experts, top_k, gran, dense, 1024, seq_len)
        counts = parameter_counts(config)
        config = config.replace(vocab_size=optimal_vocab_size(counts.activated_non_vocab, hidden, vocab_adjust))
        key = repr(config)  # every field: equal keys are the same model
        if key in seen:
            collapsed += 1
            continue
        seen.add(key)
        counts = parameter_counts(config)
        # priced as the recipe trains it (its lengths' token-weighted mean, MTP included), so that the candidates
        # the analysis weighs against the plan pay for their long-context tokens too; the ranked ones are priced
        # again on the layout of the longest length that fits (planner.py: where MTP or 32K must go, it costs less)
        per_token = recipe_flops_per_token(config, seq_len, longest, with_mtp=True, causal=True)
        law_per_token = recipe_flops_per_token(config, seq_len, longest, with_mtp=True, causal=False)
        ratio, gran_value = activation_ratio(config), granularity(config)
        budget_tokens = flops / per_token if tokens is None else tokens
        leverage = efficiency_leverage(ratio, gran_value, law_per_token * budget_tokens)  # the law's C, its units
        scale = (non_embedding_flops_per_token(config, seq_len) if law.flops_per_unit == 1
                 else float(counts.activated_non_vocab))
        violations = set()
        if counts.total > max_total:
            violations.add(SERVING)
        if ratio < limits.min_activation:
            violations.add(SPARSITY)
        if tokens is not None and per_token * tokens > flops * (1 + 1e-9):
            violations.add(OVER_BUDGET)
        cand = Candidate(config, counts.total, counts.activated, ratio, gran_value, leverage, scale, per_token,
                         law_per_token, 0.0, 0.0, budget_tokens=budget_tokens)
        score(cand, law, limits, data_cap)
        if cand.tokens < limits.min_tokens_per_param * counts.activated:
            violations.add(TPP_MIN)
        cand.violations = frozenset(violations)
        scored.append(cand)
    for cand in scored:
        for name in cand.violations:
            rejected[name] = rejected.get(name, 0) + 1
    # the law's own answer, taken before the layouts below rescore candidates in place (a recompute penalty on a
    # candidate the ranking reached made this optimum depend on flags that only decide which ones it reaches)
    unconstrained = min((c for c in scored if OVER_BUDGET not in c.violations), key=lambda c: c.lifted_loss["all"],
                        default=None)
    unconstrained = copy.copy(unconstrained) if unconstrained is not None else None
    feasible = sorted((c for c in scored if not c.violations), key=lambda c: c.loss)
    ranked: list[Candidate] = []
    better_but_too_big = 0
    # down the whole ranking until `keep` fit: a cap on the tries turned a larger budget (whose best shapes no GPU
    # holds) into "nothing fits" although smaller shapes further down do. A layout check is a few arithmetic
    # account evaluations (shard sizes are the GPU count's divisors), so the full family costs seconds at worst.
    for candidate in feasible:
        memory = find_layout(candidate.config, budget.gpus, budget.gpu.memory_gb, seq_len)
        if memory is None:
            rejected["training memory"] += 1
            if not ranked:
                better_but_too_big += 1
            continue
        if tokens is not None and memory.layout.recompute and (candidate.train_flops_per_token * tokens
                                                                / RECOMPUTE_THROUGHPUT > flops * (1 + 1e-9)):
            rejected[OVER_BUDGET] += 1  # the fixed tokens fit the budget only without recompute
            continue
        if tokens is None:
            rescore(candidate, law, limits, flops, memory.layout.recompute)
            if candidate.tokens < limits.min_tokens_per_param * candidate.activated:
                rejected[TPP_MIN] += 1  # recompute left it too few tokens
                continue
        candidate.memory = memory
        ranked.append(candidate)
        if len(ranked) >= keep:
            break
    ranked.sort(key=lambda c: c.loss)
    result = SearchResult(ranked, len(scored), {k: v for k, v in rejected.items() if v},
                          memory_rejected_better=better_but_too_big, collapsed=collapsed)
    if ranked:
        def placed(c: Candidate) -> Candidate | None:
            """`c` on the layout the GPUs give it, as the ranking scores it (a copy: rescored for recompute), or
            None when none holds it."""
            memory = find_layout(c.config, budget.gpus, budget.gpu.memory_gb, seq_len)
            if memory is None:
                return None
            c = copy.copy(c)
            if tokens is None and memory.layout.recompute:
                rescore(c, law, limits, flops, True)
            return c

        result.analysis = _analyse(scored, ranked[0], placed, unconstrained)
    return result


def score(c: Candidate, law: LossSurface, limits: Limits, data_cap: float | None = None) -> None:
    """Tokens, effective tokens and loss of a candidate from its budget tokens under the two caps (data, tokens per
    parameter), and its loss with each cap lifted (for the binding analysis)."""
    data_cap = limits.max_tokens() if data_cap is None else data_cap
    caps = {DATA: data_cap, TPP_MAX: limits.max_tokens_per_param * c.activated}

    def loss(lift: tuple[str, ...]) -> tuple[float, float, float]:
        n = min([c.budget_tokens] + [v for k, v in caps.items() if k not in lift])
        effective = n if DATA in lift else limits.effective_tokens(n)
        return n, effective, law.loss(c.leverage * c.scale, effective)

    c.tokens, c.effective_tokens, c.loss = loss(())
    c.capped_by = min(caps, key=caps.get) if min(caps.values()) < c.budget_tokens else None
    lifted = {DATA: loss((DATA,)), TPP_MAX: loss((TPP_MAX,)), "all": loss((DATA, TPP_MAX))}
    c.lifted_loss = {k: v[2] for k, v in lifted.items()}
    c.lifted_tokens = {k: v[0] for k, v in lifted.items()}


def rescore(c: Candidate, law: LossSurface, limits: Limits, flops: float, recompute: bool) -> None:
    """The candidate on a layout: full recompute does 4/3 the work per model FLOP, so the budget buys 3/4 of the
    tokens."""
    c.budget_tokens = flops * (RECOMPUTE_THROUGHPUT if recompute else 1.0) / c.train_flops_per_token
    score(c, law, limits)


def _analyse(scored: list[Candidate], chosen: Candidate, placed, unconstrained: Candidate | None) -> Analysis:
    """For each limit the best candidate it holds back that some layout of the GPUs can still train, scored on that
    layout as the plan is (`placed`: training memory stays in force, full recompute costs its tokens), at most
    ANALYSIS_TRIES layouts tried per limit. A candidate compared at full tokens named limits whose lifting would
    not help (its layout needed recompute), and 40 tries left a binding limit unnamed."""
    def best_fitting(pool: list[Candidate], key) -> Candidate | None:
        for c in sorted(pool, key=key)[:ANALYSIS_TRIES]:
            if key(c) >= chosen.loss * (1 - 1e-6):
                return None
            on_layout = c if c.memory is not None else placed(c)
            if on_layout is not None and key(on_layout) < chosen.loss * (1 - 1e-6):
                return on_layout
        return None

    lifted: dict[str, Candidate] = {}
    for name in (SERVING, SPARSITY, TPP_MIN):  # rejections: the best candidate that breaks this limit only
        best = best_fitting([c for c in scored if c.violations == {name}], lambda c: c.loss)
        if best is not None:
            lifted[name] = best
    for name in (DATA, TPP_MAX):  # caps: the best feasible candidate this cap holds back, with it lifted
        best = best_fitting([c for c in scored if not c.violations and c.lifted_loss[name] < c.loss],
                            lambda c, name=name: c.lifted_loss[name])
        if best is not None:
            lifted[name] = best
    return Analysis(lifted, unconstrained)
