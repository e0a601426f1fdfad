"""Closed-form parameter counts and training FLOPs per token for the DeepSeek-V3 / A.X K1 family: the one count
that the trainer's MFU, the planner and the benchmarks all use.

`count_parameters` (axk1/params.py) builds the model on the meta device; that is exact but takes ~0.1 s, too slow
for a search over thousands of shapes. `parameter_counts` is the same count in closed form (the formula in
docs/model.md, "Parameter count"); tests/test_plan_scaling.py checks that both agree exactly on several configs.

A token's training FLOPs are 6 x (matmul parameters it touches) + the attention scores, QK^T and AV: 2 FLOPs per
multiply-add forward and twice that backward, 6 x H x (qk_head_dim + v_head_dim) x T per layer over the whole
T x T score matrix. Two units count those scores differently, and each has its place:

* causal (`causal=True`): a token attends to the positions before it, T/2 on average, so the scores cost half.
  That is the work the trainer does: its MFU (train/callbacks.py, the benchmarks) divides the tokens it trains by
  this count, and the planner turns GPU time into tokens with it (the tokens a budget buys, tokens/s per GPU, run
  days, over-budget checks), so that a plan made at `--mfu m` predicts the tokens `axk1 train` reports at MFU m.
* un-halved (`causal=False`): DeepSeek LLM's model scale (arXiv 2401.02954, §3.2) counts the whole matrix (its
  M = 72 n_layer d^2 + 12 n_layer d l_seq), and its laws were fitted with C = M D in those units. So the law's
  scale (`non_embedding_flops_per_token`, always un-halved) and every compute C handed to a law (the leverage,
  the optimal batch and learning rate) are counted this way, never the trainer's.

The vocabulary head and the MTP module cost compute too: `training_flops_per_token` adds them to M.
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


def attention_flops_per_token(c: ModelConfig, seq_len: int, causal: bool) -> float:
    """Training FLOPs of QK^T and AV per token over the decoder's layers (forward + backward): the whole score
    matrix (DeepSeek LLM's M), or half of it under the causal mask (what the trainer computes)."""
    per_layer = 6 * c.num_attention_heads * (c.qk_head_dim + c.v_head_dim) * seq_len
    return float(per_layer * c.num_hidden_layers) / (2 if causal else 1)


def non_embedding_flops_per_token(c: ModelConfig, seq_len: int) -> float:
    """DeepSeek LLM's M, the scaling laws' model scale: 6 x activated non-vocabulary parameters + the attention
    scores without causal halving (no vocabulary FLOPs). Un-halved always: the laws were fitted in these units."""
    counts = parameter_counts(c)
    return 6.0 * counts.activated_non_vocab + attention_flops_per_token(c, seq_len, causal=False)


def training_flops_per_token(c: ModelConfig, seq_len: int, *, with_mtp: bool, causal: bool) -> float:
    """Everything a training token costs: the decoder's matmuls and attention scores, the lm_head, and each MTP
    depth (its MoE layer, projection, attention and a second pass through the shared head). The embedding lookup
    is free. `causal`: the trainer's count (True, MFU and GPU time) or DeepSeek LLM's (False, a law's C); the two
    differ by exactly half the attention scores. `with_mtp`: whether the run trains the MTP module."""
    head = 6.0 * c.vocab_size * c.hidden_size
    counts = parameter_counts(c)
    flops = 6.0 * counts.activated_non_vocab + attention_flops_per_token(c, seq_len, causal) + head
    if with_mtp and c.num_nextn_predict_layers:
        d = c.hidden_size
        layer_active = (_mla_params(c) + _moe_block(c, c.num_experts_per_tok + c.n_shared_experts))
        attention = attention_flops_per_token(c, seq_len, causal) / c.num_hidden_layers
        flops += c.num_nextn_predict_layers * (6.0 * (layer_active + 2 * d * d) + attention + head)
    return flops
