"""Shape measures the planner ranks and bounds MoE candidates by (the parameter and FLOP counts are axk1/flops.py's,
shared with the trainer's MFU)."""

from __future__ import annotations

from axk1.config import ModelConfig


def activation_ratio(c: ModelConfig) -> float:
    """Share of the expert pool a token uses, shared experts counted (Ling 2.0's "3.5%" = 9/257); 1 for a dense
    model (no MoE layer)."""
    if c.first_k_dense_replace >= c.num_hidden_layers:
        return 1.0
    return (c.num_experts_per_tok + c.n_shared_experts) / (c.n_routed_experts + c.n_shared_experts)


def granularity(c: ModelConfig) -> float:
    """G = 2 d / d_expert: how many experts a dense FFN of width 2d would be cut into (A.X K1: 7)."""
    return 2.0 * c.hidden_size / c.moe_intermediate_size
