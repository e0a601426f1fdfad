"""Memory per GPU of a training step as this trainer allocates it (FSDP2 over dp_shard, experts split over ep inside
it, HSDP replicas over dp_replicate; context parallelism; no pipeline). The planner (axk1/plan/memory.py) and
`axk1 train --dry-run` use this one account; tests/test_memory_account.py holds it to what autograd saves and what a
whole step allocates (docs/gpu.md, "Memory"). Three compute paths:
  bf16      FSDP2 MixedPrecisionPolicy(bf16): weights gathered in bf16, so the residual stream is bf16 too;
  autocast  one process, bf16: fp32 weights and residual stream, matmuls in bf16 under autocast;
  fp32      everything fp32 (CPU).
Bytes, then GB (1e9) in the breakdown:

* sharded state: every parameter (experts included: E/ep experts per ep rank, FSDP-sharded over the dp_shard/ep
  ranks that share them) is held as 1/dp_shard of an fp32 master weight (4 B), its fp32 gradient (4 B) and AdamW's
  two fp32 moments (8 B): 16 B per parameter / dp_shard; under FSDP2 the gradients only from the backward on (the
  step starts by dropping them), so 12 B until then.
* gathered weights: FSDP2 gathers one unit (a decoder layer: its dense part whole, its experts for this ep rank) in
  the compute dtype, prefetches the next, and in the backward also holds the unit's unsharded gradient in the compute
  dtype plus the fp32 copy it reduce-scatters; the root unit (embedding, head, final norm) stays gathered through the
  step, its gradients and their fp32 copies at the backward's end. One process under autocast: the bf16 copy of
  every matmul weight (autocast caches them until the forward leaves autocast, after the loss, and autograd keeps
  them for the backward).
* moments (`step_moments`; `step_memory` is their largest): under FSDP2 the forward's end, the first unit of the
  backward, each recompute, the backward's end, each with what is live then (with expert parallelism the middle two
  hold one [N*K, D] more: an all-to-all's sent and received rows); tests/test_memory_account.py measures two ranks'
  peak within 10% below it.
* loss: the chunked head + cross-entropy (axk1/train/loss.py) computes its gradients in the forward and keeps them to
  the backward, for the next-token loss and each MTP depth: d(head) in the weight's dtype and d(hidden) in the
  activations'; while it runs, one chunk's logits and their gradient (on an accelerator 4,096 tokens in the
  matmul's dtype; on CPU 512 in an fp32 buffer) and, on the bf16 paths (bf16 matmuls), the head in bf16, the fp32
  sum of its gradient and one chunk's bf16 gradient.
* activations of one micro-batch: without recompute every layer keeps what autograd saves for its backward
  (`layer_bytes_per_token`, listed tensor by tensor), and the peak ends the forward, with every loss's gradients;
  with full recompute each layer keeps its input and the layer being recomputed holds all of its own, and the peak
  is the largest of the forward's end, an MTP layer's recompute and a main layer's (the loss term then holds what
  is live at that moment); plus the residual stream's gradient and the embedding's output. Under context
  parallelism a layer's attention holds the whole rows' keys and values: one layer's while it runs, and without
  recompute every layer's, kept for its backward (`whole_row_keys_bytes`).
"""

from __future__ import annotations

from dataclasses import dataclass

from axk1.config import ModelConfig
from axk1.params import count_parameters
from axk1.train.loss import ACCELERATOR_CHUNK_TOKENS, CHUNK_TOKENS

STATE_BYTES_PER_PARAM = 16  # fp32 master + fp32 gradient + two fp32 AdamW moments, all sharded
KEPT_BYTES_PER_PARAM = STATE_BYTES_PER_PARAM - 4  # the master and the moments: what a rank holds between steps and
                                                   # what a checkpoint stores (the gradient is neither)
RESERVED_BYTES = 6e9        # a GPU's: the CUDA context, NCCL's buffers, the caching allocator's slack
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


PATHS = ("bf16", "autocast", "fp32")


def compute_path(precision: str, one_process: bool) -> str:
    """The trainer's compute path for a recipe's [parallelism] precision: bf16 in one process runs under autocast,
    under torchrun through FSDP2's mixed precision (axk1/train/trainer.py)."""
    if precision == "fp32":
        return "fp32"
    return "autocast" if one_process else "bf16"


def layer_bytes_per_token(c: ModelConfig, moe: bool, path: str, attention_kernel: bool = True) -> float:
    """Bytes autograd keeps per token for one decoder layer's backward (no recompute), tensor by tensor as the model
    saves them (tests/test_memory_account.py measures each on CPU). `attention_kernel`: count what the fused
    attention keeps (FlexAttention on a GPU: q, k, v, output and the row logsumexps; CPU's kernel keeps others)."""
    if path not in PATHS:
        raise ValueError(f"compute path {path!r}: one of {PATHS}")
    b = 4 if path == "fp32" else 2          # matmul inputs and outputs
    r = 2 if path == "bf16" else 4          # the residual stream, which the norms keep
    D, H = c.hidden_size, c.num_attention_heads
    norm = r * D + 4                        # the norm's input and its 1/rms per row (axk1/model/norm.py)
    # the normalised input as the matmuls after a norm keep it: one tensor, except under autocast, which casts it
    # to bf16 once per consuming matmul
    def consumed(n: int) -> float:
        return n * b * D if path == "autocast" else b * D
    attention = (norm + consumed(2)                                   # q_a and kv_a read the same input
                 + 2 * b * c.q_lora_rank + 4                          # q_a's output (its norm's input), q_b's input
                 + b * (c.kv_lora_rank + c.qk_rope_head_dim) + 4      # kv_a's output (the latent and rope key)
                 + b * c.kv_lora_rank                                 # kv_b's input (the normalised latent)
                 + (2 * b * c.qk_rope_head_dim if b == 2 else 0)      # rope's cos and sin in bf16 (fp32: shared)
                 + b * H * c.v_head_dim)                              # o_proj's input
    if attention_kernel:
        attention += b * H * (2 * c.qk_head_dim + 2 * c.v_head_dim) + 4 * H
    if not moe:
        return attention + norm + consumed(2) + 4 * b * c.intermediate_size  # gate, up, silu(gate), the product
    K, F, E = c.num_experts_per_tok, c.moe_intermediate_size, c.n_routed_experts
    router = 4 * D if path != "fp32" else 0  # its fp32 input (fp32: the same tensor the experts read)
    experts = b * K * (D + 2 * F + F + F + 1)  # per assignment: input, gate_up, silu(gate), product, routing weight
    shared = 4 * b * F * c.n_shared_experts
    routing = 4 * E + 4 * K + 4 + 3 * 8 * K    # fp32 scores, chosen scores and their sum; int64 choice, order, tokens
    return attention + norm + consumed(2) + router + routing + experts + shared + norm  # + the post-MoE norm


def whole_row_keys_bytes(c: ModelConfig, row_tokens: int, b: int) -> float:
    """What one layer holds of the whole rows under context parallelism: the gathered latents (kv_b_proj's input,
    the rope keys a view of them) and the keys and values of every head the attention kernel reads, in the compute
    dtype (b bytes)."""
    return row_tokens * (c.kv_lora_rank + c.qk_rope_head_dim + c.num_attention_heads
                         * (c.qk_head_dim + c.v_head_dim)) * b


def autocast_weight_bytes(c: ModelConfig, total_params: int) -> float:
    """The bf16 copies of the matmul weights one process keeps under autocast: all but the embedding, the head
    (the chunked loss makes and frees its own copy: the loss term), the fp32 routers and the norms."""
    norms = c.hidden_size * 3 * c.num_hidden_layers
    return 2 * (total_params - 2 * c.vocab_size * c.hidden_size - c.n_routed_experts * c.hidden_size
                * (c.num_hidden_layers - c.first_k_dense_replace) - norms)


def step_memory(c: ModelConfig, **layout) -> StepMemory:
    """Peak memory per GPU of one training step: the largest of its moments (`step_moments`)."""
    return max(step_moments(c, **layout).values(), key=lambda m: m.total)


def step_moments(c: ModelConfig, *, dp_shard: int, ep: int, seq_len: int, micro_batch: int = 1, cp: int = 1,
                 recompute: bool = True, precision: str = "bf16", mtp_depth: int = 1, one_process: bool = False,
                 total_params: int | None = None, accelerator: bool = True) -> dict[str, StepMemory]:
    """Memory per GPU at each moment of one training step that may be its peak, by name: "forward_end" (always;
    every loss has run), "backward_start" (the first layer's backward, MTP's recompute where there is one: the
    losses' gradients kept or handed over), "recompute" (a main layer's), "backward_end" (every gradient, no
    activation), as the layout has them (see the module docstring for each term). `one_process`: the trainer runs
    without torchrun (no FSDP2; bf16 then means autocast). `total_params` (MTP included) skips counting them on a
    meta model, for callers that evaluate many layouts (the planner). `accelerator=False`: the loss as it runs on a
    CPU (its chunk and buffers differ; the tests that measure the account on CPU), without a GPU's reserve."""
    if total_params is None:
        counts = count_parameters(c, with_mtp=mtp_depth > 0)
        total_params = counts["total"] + counts["mtp"]
    total = total_params
    path = compute_path(precision, one_process)
    b = 4 if path == "fp32" else 2   # compute dtype
    r = 2 if path == "bf16" else 4   # residual stream, final hidden states
    D, V = c.hidden_size, c.vocab_size
    state = STATE_BYTES_PER_PARAM * total / (dp_shard * cp)  # the cp ranks share the model's state too

    depth = mtp_depth if c.num_nextn_predict_layers else 0
    layers = c.num_hidden_layers + (c.num_nextn_predict_layers if depth > 0 else 0)
    root = 2 * V * D + D  # embedding, head, final norm (separate weights)
    routed_per_moe_layer = 3 * D * c.moe_intermediate_size * c.n_routed_experts
    moe_layers = c.num_hidden_layers - c.first_k_dense_replace + (c.num_nextn_predict_layers if depth > 0 else 0)
    dense_per_layer = (total - root - routed_per_moe_layer * moe_layers) / layers
    unit = dense_per_layer + routed_per_moe_layer / ep  # the largest unit: a MoE layer with this rank's experts
    # one process: autocast caches its copies until the forward leaves autocast, after the loss (with recompute too)
    gathered = autocast_weight_bytes(c, total) if path == "autocast" and one_process else 0.0

    tokens = micro_batch * seq_len // cp  # this rank's chunk of each row
    head_b = 2 if path == "bf16" else 4   # the head's gradient as the loss keeps it (the weight's dtype)
    kept = head_b * V * D + r * tokens * D  # the gradients one loss forms in its forward and keeps to the backward
    # while a loss runs, one chunk of C tokens (axk1/train/loss.py): on an accelerator its logits and their
    # gradient in the matmul's dtype (the compiled chunk step); on CPU one fp32 [C, V] buffer, beside the bf16
    # logits the matmul writes on the bf16 paths
    C = min(ACCELERATOR_CHUNK_TOKENS if accelerator else CHUNK_TOKENS, tokens)
    if accelerator:
        transient = 2 * (4 if path == "fp32" else 2) * C * V
    else:
        transient = 4 * C * V + (0 if path == "fp32" else 2 * C * V)
    if path == "autocast":  # the head's bf16 copy, a chunk's bf16 head gradient
        transient += 2 * V * D + 2 * V * D
    elif path == "bf16":    # the fp32 head gradient being summed, a chunk's bf16 one, fp32 d(hidden)
        transient += 4 * V * D + 2 * V * D + 4 * tokens * D

    moe_layer = layer_bytes_per_token(c, True, path)
    dense_layer = layer_bytes_per_token(c, False, path)
    n_dense = min(c.first_k_dense_replace, c.num_hidden_layers)
    norm = r * D + 4
    mtp_extra = 3 * norm + 2 * b * D  # an MTP module outside its layer: two input norms, the projection's input, a norm
    # CPU's attention (SDPA over a dense mask, axk1/model/attention_mask.py): the boolean document masks (the rows'
    # and MTP's) live through the step, and every attention call keeps its own copy of the mask in the compute dtype
    dense_masks = 0 if accelerator else (1 + depth) * tokens * seq_len
    mask_per_layer = 0 if accelerator else tokens * seq_len * b
    # final norm, token ids; the residual stream's gradient, the embeddings
    always = tokens * (norm + 8 + 2 * r * D) + dense_masks
    act_all = always + layers * mask_per_layer + tokens * (n_dense * dense_layer + (c.num_hidden_layers - n_dense)
                                                           * moe_layer + depth * (moe_layer + mtp_extra))
    # context parallelism: each layer's attention reads the whole rows' keys and values, expanded from the gathered
    # latents (axk1/model/mla.py), where the per-token count above has this rank's chunk of them only. One layer's
    # while it runs (its forward, its backward's gradients, a recompute) is `cp_keys` below; without recompute
    # every layer keeps its own for its backward: the other (cp - 1)/cp of them, layer by layer (2 gloo ranks
    # measured 29-31% over an account that counted one layer's: tests/test_memory_account.py)
    row_keys = whole_row_keys_bytes(c, micro_batch * seq_len, b) if cp > 1 else 0.0
    act_all += layers * row_keys * (cp - 1) / cp
    inputs = always + tokens * (layers * r * D + depth * mtp_extra)  # recompute: each layer keeps its input
    recomputed = mask_per_layer + tokens * max(moe_layer, dense_layer)  # ...and the one recomputed keeps all
    recomputed_mtp = mask_per_layer + tokens * moe_layer if depth else 0
    loss_fwd = (1 + depth) * kept + transient
    if one_process:
        # Without FSDP2 the moments differ by activations and the loss only. Without recompute the peak ends the
        # forward: every layer's activations and every loss's gradients. With it, the largest of: the forward's end
        # (every loss's gradients), an MTP layer's recompute (the next-token loss still keeps its gradients: its
        # backward runs after MTP's), a layer's recompute (every loss's gradients handed over). Under autocast the
        # forward's end still holds every cast weight; a recompute in the backward (outside autocast) casts its
        # own layer's only.
        if not recompute:
            candidates = {"forward_end": (state, gathered, loss_fwd, act_all)}
        else:
            recast = 2 * unit if path == "autocast" else gathered
            candidates = {"forward_end": (state, gathered, loss_fwd, inputs),
                          "backward_start": (state, recast, kept, inputs + recomputed_mtp),
                          "recompute": (state, recast, 0, inputs + recomputed)}
    else:
        # FSDP2, moment by moment (tests/test_memory_account.py measures the forward's end on two ranks). The
        # gradients are dropped at each step's start (zero_grad(set_to_none)), so until the backward a rank holds
        # its master weights and AdamW moments only (12 of the 16 B a parameter). The root unit (embedding, head,
        # final norm) stays gathered in bf16 from the forward to the end of the backward; its gradients (the head's
        # is the loss's, handed over) and their fp32 copy for the reduce-scatter come at the backward's end, when
        # the activations are gone. A layer unit: gathered in the forward (and the next one prefetched), in the
        # backward with its gradient in the compute dtype and in fp32.
        state_fwd = state * KEPT_BYTES_PER_PARAM / STATE_BYTES_PER_PARAM
        unit_bwd = max(2 * unit * b, unit * (2 * b + 4))
        head_grad = head_b * V * D  # the head's gradient once a loss has handed it over (MTP's adds into it)
        end = (state, root * (2 * b + 4) + unit_bwd, 0, always)  # the backward's end: every gradient, no activations
        if not recompute:
            candidates = {"forward_end": (state_fwd, root * b + 2 * unit * b, loss_fwd, act_all),
                          "backward_start": (state_fwd, root * b + unit_bwd, (1 + depth) * kept, act_all),
                          "backward_end": end}
        else:  # the moments of the one-process case, with the gradients made so far (the state at most)
            candidates = {"forward_end": (state_fwd, root * b + 2 * unit * b, loss_fwd, inputs),
                          "backward_start": (state_fwd, root * b + unit_bwd, kept + head_grad, inputs + recomputed_mtp),
                          "recompute": (state, root * b + unit_bwd, head_grad, inputs + recomputed),
                          "backward_end": end}
    cp_keys = row_keys  # context parallelism: the whole rows' keys and values of the layer that runs
    # expert parallelism: a MoE layer's backward (or recompute) holds one [N*K, D] more than one rank's path does, an
    # all-to-all's received rows beside those it sent (axk1/parallel/expert_parallel.py); 2 gloo ranks in fp32
    # measured the step's peak there, 1.3% over an account without it
    ep_rows = b * c.num_experts_per_tok * tokens * D if ep > 1 and moe_layers else 0.0
    for name in ("backward_start", "recompute"):
        if name in candidates:
            state_, gathered_, loss_, activations_ = candidates[name]
            candidates[name] = (state_, gathered_, loss_, activations_ + ep_rows)
    reserved = RESERVED_BYTES if accelerator else 0.0  # a CPU rank has no CUDA context (6 GB of a 0.4 GB run)
    return {name: StepMemory(state / 1e9, gathered / 1e9, loss / 1e9, (activations + cp_keys) / 1e9, reserved / 1e9)
            for name, (state, gathered, loss, activations) in candidates.items()}
