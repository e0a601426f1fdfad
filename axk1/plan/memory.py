"""Memory per GPU for a parallel layout, and the search for the cheapest layout that fits.

Layout axes (the trainer's DeviceMesh, docs/architecture.md, plus the pipeline and context axes large runs add):
pp (pipeline stages) x cp (context parallel) x dp_replicate x dp_shard = GPUs; ep (expert parallel) divides
dp_shard x cp and the routed-expert count. Model state is sharded FSDP/ZeRO-3 style over dp_shard (x cp) inside a
pipeline stage and replicated over dp_replicate (HSDP).

Bytes per parameter of training state: bf16 weights 2 + fp32 gradients 4 + fp32 master weights 4 + AdamW moments
8 = 18 (FP32 master weights as in A.X K1, docs/training.md; with fp8 compute the fp8 copies are transient).
Activations per token per layer (bf16; after Korthikanti et al. 2022, arXiv 2205.05198, with flash attention so
no s^2 term), written for MLA and a routed MoE:
  attention  2 x (2d + 2 r_q + H (2 qk + 2 v) + 2 (r_kv + rope)) + 4 H   (inputs, projections, output, LSE)
  MoE        2 x (2d + (k + shared) (2d + 3 d_e)) + 4 E                   (dispatch, gate/up/act, down, router)
With full recomputation only each layer's input (2d bytes) is kept. 1F1B pipelining keeps up to pp micro-batches
in flight on the first stage. A fixed 6 GB covers the CUDA context, communication buffers and fragmentation, and
two layers' gathered bf16 weights are resident for FSDP prefetch.
"""

from __future__ import annotations

from dataclasses import dataclass

from axk1.config import ModelConfig
from axk1.plan.arch import parameter_counts

STATE_BYTES_PER_PARAM = 18
RESERVED_BYTES = 6e9
USABLE_FRACTION = 0.92  # of HBM; the allocator cannot hand out every byte


@dataclass(frozen=True)
class Layout:
    pp: int
    cp: int
    ep: int
    dp_replicate: int
    dp_shard: int
    recompute: bool

    @property
    def gpus(self) -> int:
        return self.pp * self.cp * self.dp_replicate * self.dp_shard


@dataclass(frozen=True)
class MemoryEstimate:
    layout: Layout
    states_gb: float
    activations_gb: float
    buffers_gb: float

    @property
    def total_gb(self) -> float:
        return self.states_gb + self.activations_gb + self.buffers_gb


def activation_bytes_per_token_layer(c: ModelConfig) -> float:
    d, h = c.hidden_size, c.num_attention_heads
    attention = 2 * (2 * d + 2 * c.q_lora_rank + h * (2 * c.qk_head_dim + 2 * c.v_head_dim)
                     + 2 * (c.kv_lora_rank + c.qk_rope_head_dim)) + 4 * h
    active = c.num_experts_per_tok + c.n_shared_experts
    moe = 2 * (2 * d + active * (2 * d + 3 * c.moe_intermediate_size)) + 4 * c.n_routed_experts
    return float(attention + moe)


def estimate_memory(c: ModelConfig, layout: Layout, seq_len: int, micro_batch: int = 1) -> MemoryEstimate:
    """Peak memory per GPU on the first pipeline stage (it holds the embedding and the most in-flight work)."""
    counts = parameter_counts(c)
    shard = layout.dp_shard * layout.cp
    stage_params = counts.total / layout.pp + (counts.mtp if layout.pp == 1 else 0)
    states = STATE_BYTES_PER_PARAM * stage_params / shard
    layers = -(-c.num_hidden_layers // layout.pp)
    tokens = micro_batch * seq_len / layout.cp
    per_layer = 2 * c.hidden_size if layout.recompute else activation_bytes_per_token_layer(c)
    in_flight = layout.pp
    activations = tokens * layers * per_layer * in_flight
    # the layer being recomputed/backpropagated needs its full activations even under recompute
    activations += tokens * activation_bytes_per_token_layer(c) if layout.recompute else 0
    # logits chunk of the fused cross-entropy (fp32, 8K-token chunks) on the last stage
    activations += 4 * min(tokens, 8192) * c.vocab_size
    layer_params = (counts.total - counts.vocab) / c.num_hidden_layers
    buffers = RESERVED_BYTES + 2 * 2 * layer_params / layout.ep
    return MemoryEstimate(layout, states / 1e9, activations / 1e9, buffers / 1e9)


def _divisors(n: int, candidates: tuple[int, ...]) -> list[int]:
    return [x for x in candidates if n % x == 0]


def find_layout(c: ModelConfig, gpus: int, memory_gb: float, seq_len: int) -> MemoryEstimate | None:
    """The cheapest layout that fits, in this order of preference: no recomputation, fewest pipeline stages,
    smallest FSDP shard group (HSDP replicates the rest), expert parallel 8 (one NVLink node) where it divides.
    None if nothing fits."""
    limit = memory_gb * USABLE_FRACTION
    cp = 1 if seq_len <= 8192 else min(8, seq_len // 4096)
    ep_order = (8, 4, 16, 2, 32, 64, 1)
    for recompute in (False, True):
        for pp in _divisors(gpus, (1, 2, 4, 8, 16, 32)):
            if pp > c.num_hidden_layers or gpus % (pp * cp):
                continue
            data = gpus // (pp * cp)
            for shard in [s for s in range(1, data + 1) if data % s == 0]:
                eps = [e for e in ep_order if c.n_routed_experts % e == 0 and (shard * cp) % e == 0]
                if not eps:
                    continue
                layout = Layout(pp, cp, eps[0], data // shard, shard, recompute)
                estimate = estimate_memory(c, layout, seq_len)
                if estimate.total_gb <= limit:
                    return estimate
    return None
