"""Closed-form parameter and FLOP accounting for the DeepSeek-V3 / A.X K1 family.

`count_parameters` (axk1/params.py) builds the model on the meta device; that is exact but takes ~0.1 s, too slow
for a search over thousands of shapes. `parameter_counts` is the same count in closed form (the formula in
docs/model.md, "Parameter count"); tests/test_plan_scaling.py checks that both agree exactly on several configs.

FLOPs per token follow DeepSeek LLM (arXiv 2401.02954, §3.2): model scale is the non-embedding FLOPs per
token M = 6 x (non-vocabulary matmul parameters a token touches) + the attention-score FLOPs
6 x H x (qk_head_dim + v_head_dim) x seq_len per layer (QK^T and AV: 2 FLOPs per multiply-add forward, twice that
backward). That is the paper's own definition (its M = 72 n_layer d^2 + 12 n_layer d l_seq counts the whole
l_seq x l_seq score matrix, no causal halving), and its law was fitted with C = M D in those units, so the planner
counts them the same way, both for the law's scale and for the tokens a budget buys. The vocabulary head and the
MTP module cost compute too; they are added in `training_flops_per_token`, which is what the budget pays for.
"""

from __future__ import annotations

from dataclasses import dataclass

from axk1.config import ModelConfig


@dataclass(frozen=True)
class ParamCounts:
    total: int  # all weights in the released model (no MTP), as `axk1 params` reports
    activated: int  # what one token touches, embedding and head included
    vocab: int  # embedding + lm_head
    activated_non_vocab: int  # `activated` minus the vocabulary matrices (Tao et al.'s N_nv for a MoE)
    mtp: int  # one DeepSeek-style MTP module per depth (training only; shares embedding and head)


def _mla_params(c: ModelConfig) -> int:
    d, h = c.hidden_size, c.num_attention_heads
    return (d * c.q_lora_rank + c.q_lora_rank + c.q_lora_rank * h * c.qk_head_dim
            + d * (c.kv_lora_rank + c.qk_rope_head_dim) + c.kv_lora_rank
            + c.kv_lora_rank * h * (c.qk_nope_head_dim + c.v_head_dim) + h * c.v_head_dim * d)


def _moe_block(c: ModelConfig, experts: int) -> int:
    """Router + `experts` SwiGLU experts of width moe_intermediate_size (the shared ones included by the caller)."""
    return c.n_routed_experts * c.hidden_size + experts * 3 * c.hidden_size * c.moe_intermediate_size


def parameter_counts(c: ModelConfig) -> ParamCounts:
    d, layers = c.hidden_size, c.num_hidden_layers
    n_dense = c.first_k_dense_replace
    n_moe = layers - n_dense
    vocab = c.vocab_size * d * (1 if c.tie_word_embeddings else 2)
    norms = 3 * d  # input, post-attention and post-MoE RMSNorm on every layer (docs/model.md)
    base = vocab + d + layers * (_mla_params(c) + norms) + n_dense * 3 * d * c.intermediate_size
    total = base + n_moe * _moe_block(c, c.n_routed_experts + c.n_shared_experts)
    activated = base + n_moe * _moe_block(c, c.num_experts_per_tok + c.n_shared_experts)
    moe_layer = _mla_params(c) + norms + _moe_block(c, c.n_routed_experts + c.n_shared_experts)
    mtp = 2 * d + 2 * d * d + moe_layer + d  # enorm, hnorm, eh_proj, one MoE decoder layer, final norm
    return ParamCounts(total, activated, vocab, activated - vocab, mtp * c.num_nextn_predict_layers)


def attention_flops_per_token(c: ModelConfig, seq_len: int) -> float:
    """Training FLOPs of QK^T and AV per token over all layers (forward + backward), without causal halving, as
    DeepSeek LLM's M counts them."""
    per_layer = 6 * c.num_attention_heads * (c.qk_head_dim + c.v_head_dim) * seq_len
    return float(per_layer * c.num_hidden_layers)


def non_embedding_flops_per_token(c: ModelConfig, seq_len: int) -> float:
    """DeepSeek LLM's M: 6 x activated non-vocabulary parameters + attention scores (no vocabulary FLOPs)."""
    counts = parameter_counts(c)
    return 6.0 * counts.activated_non_vocab + attention_flops_per_token(c, seq_len)


def training_flops_per_token(c: ModelConfig, seq_len: int, with_mtp: bool = True) -> float:
    """Everything the budget pays for per training token: M, the lm_head, and each MTP depth (its MoE layer,
    projection and a second pass through the shared head). The embedding lookup is free."""
    head = 6.0 * c.vocab_size * c.hidden_size
    flops = non_embedding_flops_per_token(c, seq_len) + head
    if with_mtp and c.num_nextn_predict_layers:
        d = c.hidden_size
        layer_active = (_mla_params(c) + _moe_block(c, c.num_experts_per_tok + c.n_shared_experts))
        attention = attention_flops_per_token(c, seq_len) / c.num_hidden_layers
        flops += c.num_nextn_predict_layers * (6.0 * (layer_active + 2 * d * d) + attention + head)
    return flops


def activation_ratio(c: ModelConfig) -> float:
    """Share of the expert pool a token uses, shared experts counted (Ling 2.0's "3.5%" = 9/257); 1 for a dense
    model (no MoE layer)."""
    if c.first_k_dense_replace >= c.num_hidden_layers:
        return 1.0
    return (c.num_experts_per_tok + c.n_shared_experts) / (c.n_routed_experts + c.n_shared_experts)


def granularity(c: ModelConfig) -> float:
    """G = 2 d / d_expert: how many experts a dense FFN of width 2d would be cut into (A.X K1: 7)."""
    return 2.0 * c.hidden_size / c.moe_intermediate_size
