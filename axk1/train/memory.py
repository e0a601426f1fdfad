"""Memory per GPU of a training step as this trainer allocates it (FSDP2 over dp_shard, experts split over ep inside
it, HSDP replicas over dp_replicate; no pipeline or context parallelism). The planner (axk1/plan/memory.py) and
`axk1 train --dry-run` use this one account. Bytes, then GB (1e9) in the breakdown:

* sharded state: every parameter (experts included: E/ep experts per ep rank, FSDP-sharded over the dp_shard/ep
  ranks that share them) is held as 1/dp_shard of an fp32 master weight (4 B), its fp32 gradient (4 B) and AdamW's
  two fp32 moments (8 B): 16 B per parameter / dp_shard.
* gathered units: FSDP2 gathers one unit (a decoder layer: its dense part whole, its experts for this ep rank) in
  the compute dtype, prefetches the next, and in the backward also holds the unit's unsharded gradient in the compute
  dtype plus the fp32 copy it reduce-scatters. The root unit (embedding, head, final norm) stays gathered through
  the step, with its gradient.
* loss: the chunked head + cross-entropy (axk1/train/loss.py) keeps an fp32 copy of the head weight and its fp32
  gradient, a [CHUNK_TOKENS, V] fp32 logits buffer and the fp32 gradient of the final hidden states.
* activations of one micro-batch: with full recompute each layer keeps its input (D values) and the layer being
  recomputed holds its whole activations; without, every layer holds them. Per token and layer (after Korthikanti
  et al. 2022, written for MLA and a routed MoE; flash-style attention, so no T² term):
      attention  2d + 2 r_q + H (2 qk + 2 v) + 2 (r_kv + rope) values + 4 H bytes (softmax statistics)
      MoE        2d + (k + shared)(2d + 3 d_e) values + 4 E bytes (router scores)
* reserved: 6 GB for the CUDA context, NCCL buffers and allocator fragmentation.
"""

from __future__ import annotations

from dataclasses import dataclass

from axk1.config import ModelConfig
from axk1.params import count_parameters
from axk1.train.loss import CHUNK_TOKENS

STATE_BYTES_PER_PARAM = 16  # fp32 master + fp32 gradient + two fp32 AdamW moments, all sharded
RESERVED_BYTES = 6e9
USABLE_FRACTION = 0.92      # of HBM: the allocator cannot hand out every byte


@dataclass(frozen=True)
class StepMemory:
    """GB per GPU by what holds it."""
    state: float
    gathered: float
    loss: float
    activations: float
    reserved: float

    @property
    def total(self) -> float:
        return self.state + self.gathered + self.loss + self.activations + self.reserved

    def as_dict(self) -> dict[str, float]:
        return {"state": self.state, "gathered": self.gathered, "loss": self.loss, "activations": self.activations,
                "reserved": self.reserved, "total": self.total}


def activation_values_per_token_layer(c: ModelConfig) -> tuple[float, float]:
    """(values held in the compute dtype, extra fp32 bytes) per token per decoder layer, without recompute."""
    d, h = c.hidden_size, c.num_attention_heads
    attention = 2 * d + 2 * c.q_lora_rank + h * (2 * c.qk_head_dim + 2 * c.v_head_dim) + 2 * (c.kv_lora_rank
                                                                                              + c.qk_rope_head_dim)
    active = c.num_experts_per_tok + c.n_shared_experts
    moe = 2 * d + active * (2 * d + 3 * c.moe_intermediate_size)
    return float(attention + moe), float(4 * h + 4 * c.n_routed_experts)


def step_memory(c: ModelConfig, *, dp_shard: int, ep: int, seq_len: int, micro_batch: int = 1, cp: int = 1,
                recompute: bool = True, precision: str = "bf16", mtp_depth: int = 1,
                total_params: int | None = None) -> StepMemory:
    """Peak memory per GPU of one training step (see the module docstring for each term). `total_params` (MTP
    included) skips counting them on a meta model, for callers that evaluate many layouts (the planner)."""
    if total_params is None:
        counts = count_parameters(c, with_mtp=mtp_depth > 0)
        total_params = counts["total"] + counts["mtp"]
    total = total_params
    act_bytes = 2 if precision == "bf16" else 4
    D, V = c.hidden_size, c.vocab_size
    state = STATE_BYTES_PER_PARAM * total / (dp_shard * cp)  # the cp ranks share the model's state too

    layers = c.num_hidden_layers + (c.num_nextn_predict_layers if mtp_depth > 0 else 0)
    routed_per_moe_layer = 3 * D * c.moe_intermediate_size * c.n_routed_experts
    moe_layers = c.num_hidden_layers - c.first_k_dense_replace + (c.num_nextn_predict_layers if mtp_depth > 0 else 0)
    root = 2 * V * D + D  # embedding, head, final norm (separate weights)
    body = total - root
    dense_per_layer = (body - routed_per_moe_layer * moe_layers) / layers
    unit = dense_per_layer + routed_per_moe_layer / ep  # the largest unit: a MoE layer with this rank's experts
    # forward: current + prefetched unit; backward: the unit, its gradient in the compute dtype and in fp32
    gathered = max(2 * unit * act_bytes, unit * (2 * act_bytes + 4)) + root * (2 * act_bytes + 4)

    tokens = micro_batch * seq_len // cp  # this rank's chunk of each row
    loss = 4 * V * D * 2 + 4 * CHUNK_TOKENS * V + 4 * tokens * D

    values, fp32_bytes = activation_values_per_token_layer(c)
    full_layer = tokens * (values * act_bytes + fp32_bytes)
    if recompute:
        activations = tokens * layers * D * act_bytes + full_layer
    else:
        activations = layers * full_layer
    activations += tokens * D * act_bytes * 4  # embeddings out, final norm in/out, the hidden states' gradient
    if cp > 1:  # one layer's keys and values expanded from the gathered latents of the whole rows
        S = micro_batch * seq_len
        activations += S * (c.kv_lora_rank + c.qk_rope_head_dim + c.num_attention_heads
                            * (c.qk_head_dim + c.v_head_dim)) * act_bytes
    return StepMemory(state / 1e9, gathered / 1e9, loss / 1e9, activations / 1e9, RESERVED_BYTES / 1e9)
