"""Architecture search over the DeepSeek-V3 / A.X K1 family for a FLOP budget.

Every candidate spends the whole budget (D = C / training FLOPs per token) unless --tokens fixes D, so ranking by
predicted loss is ranking by loss per FLOP. The predicted loss is the chosen law's surface at the candidate's
dense-equivalent scale EL x M (scaling.py) and its token count. Constraints:

* training memory: some layout of the given GPUs must hold the model (memory.py);
* serving: the released weights must fit one node (`serve_gpus`, default 8 of the training GPU) in the release
  precision with 10% of its memory left for the KV cache. This is what bounds the total size: the leverage law
  rewards ever sparser models, and in practice a model is sized to the machines that serve it (A.X K1 in BF16,
  1,038 GB, on 8 x H200 = 1,128 GB; a ~1T model in FP8 on the same node). `serve_gpus=0` lifts the bound;
* a sane run: at least 20 tokens per activated parameter (Chinchilla's dense optimum; a MoE wants more).

Family shape rules, scaled from A.X K1 / DeepSeek-V3 (docs/model.md): MLA head dims 128/64/128, q/kv LoRA ranks
1536/512 from d = 7168 up (scaled down below), heads d/112, dense FFN 18432/7168 x d, 8 expert groups (top 4),
one shared expert, 3 norms per layer, MTP depth 1 in training, untied embeddings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from axk1.config import ModelConfig
from axk1.hardware import Budget
from axk1.plan.arch import (activation_ratio, granularity, parameter_counts, training_flops_per_token,
                            non_embedding_flops_per_token)
from axk1.plan.memory import MemoryEstimate, find_layout
from axk1.plan.scaling import (AXK1_VOCAB_ADJUST, LossSurface, efficiency_leverage, optimal_vocab_size)

SERVE_RESERVE = 0.10
BYTES = {"bf16": 2, "fp8": 1}
MIN_TOKENS_PER_ACTIVE_PARAM = 20
# Sparsity floor. Under the serving bound the leverage law always prefers the sparsest design, so this floor, not
# the law, sets the activated size. Production MoEs of this lineage activate (shared experts counted) 3.5%
# (DeepSeek-V3, Ling 2.0), 4.7% (A.X K1), 4.9% (DeepSeek-V2), 5.6% (GLM-4.5), 6.3% (Qwen3-235B); sparser designs
# trade leverage for all-to-all traffic, memory and balance problems the law does not see. 4.5% is the middle
# of that range. It is informed by the designs the tests check (A.X K1, DeepSeek-V3): with 3.5-4% the A.X K1 plan
# trains ~25-30% more tokens than the report's ~10T (see the report in plan.md).
MIN_ACTIVATION = 0.045
MAX_LAYOUT_TRIES = 400  # candidates (best first) tried against the memory model before giving up


@dataclass(frozen=True)
class SearchSpace:
    hidden_sizes: tuple[int, ...] = (1024, 1536, 2048, 2560, 3072, 4096, 5120, 6144, 7168, 8192, 9216, 10240,
                                     12288)
    depth_ratios: tuple[float, ...] = (128.0, 117.5, 104.0, 92.0)  # d / layers; A.X K1 and DeepSeek-V3: 117.5
    experts: tuple[int, ...] = (32, 64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512)
    top_k: tuple[int, ...] = (6, 8)
    granularities: tuple[int, ...] = (6, 7, 8, 10, 12)
    dense_layers: tuple[int, ...] = (1, 3)


@dataclass
class Candidate:
    config: ModelConfig
    total: int
    activated: int
    activation_ratio: float
    granularity: float
    leverage: float
    scale: float  # the law's model scale: M (deepseek) or activated non-vocabulary parameters (chinchilla)
    train_flops_per_token: float
    tokens: float
    loss: float
    memory: MemoryEstimate | None = None

    def summary(self) -> dict:
        c = self.config
        return {
            "total_params": self.total, "activated_params": self.activated, "tokens": self.tokens,
            "hidden_size": c.hidden_size, "layers": c.num_hidden_layers, "dense_layers": c.first_k_dense_replace,
            "heads": c.num_attention_heads, "experts": c.n_routed_experts, "top_k": c.num_experts_per_tok,
            "expert_width": c.moe_intermediate_size, "vocab_size": c.vocab_size,
            "activation_ratio": self.activation_ratio, "granularity": self.granularity, "leverage": self.leverage,
            "train_flops_per_token": self.train_flops_per_token, "predicted_loss": self.loss,
            "layout": None if self.memory is None else vars(self.memory.layout),
            "memory_gb": None if self.memory is None else round(self.memory.total_gb, 1),
        }


@dataclass
class SearchResult:
    ranked: list[Candidate]  # feasible candidates, best first
    evaluated: int
    rejected: dict[str, int] = field(default_factory=dict)


def _round(x: float, multiple: int) -> int:
    return max(multiple, int(round(x / multiple)) * multiple)


def family_config(hidden: int, layers: int, experts: int, top_k: int, gran: int, dense: int, vocab: int,
                  seq_len: int) -> ModelConfig:
    heads = max(8, _round(hidden / 112, 8))
    q_rank = min(1536, _round(hidden * 1536 / 7168, 64))
    kv_rank = min(512, _round(hidden * 512 / 7168, 64))
    return ModelConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=_round(hidden * 18432 / 7168, 256),
        moe_intermediate_size=_round(2 * hidden / gran, 128), num_hidden_layers=layers, first_k_dense_replace=dense,
        num_attention_heads=heads, q_lora_rank=q_rank, kv_lora_rank=kv_rank, qk_nope_head_dim=128,
        qk_rope_head_dim=64, v_head_dim=128, n_routed_experts=experts, n_shared_experts=1, num_experts_per_tok=top_k,
        n_group=8, topk_group=4, max_position_embeddings=max(seq_len, 4096), num_nextn_predict_layers=1,
        bos_token_id=None, eos_token_id=None,
    )


def _shapes(space: SearchSpace):
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
           vocab_adjust: float = AXK1_VOCAB_ADJUST, serve_gpus: int = 8, serve_precision: str = "bf16",
           space: SearchSpace = SearchSpace(), keep: int = 10, min_activation: float = MIN_ACTIVATION) -> SearchResult:
    """Rank the family for `budget`; the first `keep` feasible candidates carry a memory layout."""
    flops = budget.flops
    max_total = (serve_gpus * budget.gpu.memory_gb * 1e9 * (1 - SERVE_RESERVE) / BYTES[serve_precision]
                 if serve_gpus else math.inf)
    scored: list[Candidate] = []
    rejected = {"sparsity": 0, "serving": 0, "too few tokens": 0, "over budget": 0, "memory": 0}
    evaluated = 0
    for hidden, layers, experts, top_k, gran, dense in _shapes(space):
        evaluated += 1
        config = family_config(hidden, layers, experts, top_k, gran, dense, 1024, seq_len)
        counts = parameter_counts(config)
        vocab = optimal_vocab_size(counts.activated_non_vocab, hidden, vocab_adjust)
        config = config.replace(vocab_size=vocab)
        counts = parameter_counts(config)
        if counts.total > max_total:
            rejected["serving"] += 1
            continue
        per_token = training_flops_per_token(config, seq_len)
        run_tokens = flops / per_token if tokens is None else tokens
        if tokens is not None and per_token * tokens > flops:
            rejected["over budget"] += 1
            continue
        if run_tokens < MIN_TOKENS_PER_ACTIVE_PARAM * counts.activated:
            rejected["too few tokens"] += 1
            continue
        ratio, gran_value = activation_ratio(config), granularity(config)
        if ratio < min_activation:
            rejected["sparsity"] += 1
            continue
        leverage = efficiency_leverage(ratio, gran_value, per_token * run_tokens)
        scale = (non_embedding_flops_per_token(config, seq_len) if law.flops_per_unit == 1
                 else float(counts.activated_non_vocab))
        loss = law.loss(leverage * scale, run_tokens)
        scored.append(Candidate(config, counts.total, counts.activated, ratio, gran_value, leverage, scale,
                                per_token, run_tokens, loss))
    scored.sort(key=lambda c: c.loss)
    ranked: list[Candidate] = []
    for candidate in scored[:MAX_LAYOUT_TRIES]:
        memory = find_layout(candidate.config, budget.gpus, budget.gpu.memory_gb, seq_len)
        if memory is None:
            rejected["memory"] += 1
            continue
        candidate.memory = memory
        ranked.append(candidate)
        if len(ranked) >= keep:
            break
    return SearchResult(ranked, evaluated, rejected)
