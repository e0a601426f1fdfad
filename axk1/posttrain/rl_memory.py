"""Memory per GPU of an RL update, for `axk1 rl RECIPE --dry-run --world-size N` (docs/posttraining.md, "At scale").

An RL optimizer step is the pretraining step's forward and backward (axk1/train/memory.py: sharded state, gathered
units, each layer's saved activations, per recompute policy) over a micro-batch of prompt + completion rows, with
three differences this module accounts for:

* the loss: the completion log-probability head (axk1/posttrain/logprobs.py) instead of the chunked cross-entropy.
  It keeps the final hidden state of every completion token for its backward, and the backward, which runs while
  every layer's activations are still held, allocates an fp32 copy of the head (none when the head already is fp32),
  its fp32 gradient and that gradient cast to the head's dtype, an fp32 gradient of the hidden states, and one
  chunk's fp32 logits, their gradient and its hidden states in fp32. At A.X K1's vocabulary a head copy is 4.7 GB.
* no MTP (RL trains the next-token policy).
* the frozen KL reference (`[rl] beta` > 0): a second model sharded as the policy is, fp32 weights only (4 B a
  parameter over the shard group); its forward runs without gradients before the update.

Without `[rl] server_url` a launch of more than one rank also holds a whole replica of the model on the main rank
for rollouts (axk1/posttrain/rl.py); `replica_bytes` is its weights.
"""

from __future__ import annotations

import dataclasses

from axk1.config import ModelConfig, config_dtype
from axk1.params import count_parameters
from axk1.posttrain.logprobs import CHUNK
from axk1.train.memory import StepMemory, compute_path, step_moments


def logprob_head_bytes(c: ModelConfig, tokens: int, path: str) -> float:
    """Bytes the log-probability head holds at its backward's peak for `tokens` completion tokens on one rank.
    `path`: `compute_path` of axk1/train/memory.py (bf16: the head gathered in bf16; autocast and fp32: an fp32 head)."""
    V, D = c.vocab_size, c.hidden_size
    head_b = 2 if path == "bf16" else 4   # the head weight as the forward sees it
    r = 2 if path == "bf16" else 4        # the final hidden states' dtype
    C = min(CHUNK, tokens)
    saved = tokens * (r * D + 4 + 8)      # h [N, D], log-sum-exp [N] fp32, targets [N] int64
    copies = 0 if head_b == 4 else 4 * V * D + head_b * V * D  # the fp32 copy of the head; the gradient cast back
    backward = copies + 4 * V * D + 4 * tokens * D + 2 * 4 * C * V + 4 * C * D  # fp32 d(head), d(h), a chunk's work
    return saved + backward


def rl_step_memory(c: ModelConfig, *, dp_shard: int, ep: int, seq_len: int, micro_batch: int, recompute: bool,
                   precision: str, one_process: bool, completion_tokens: int, kl_reference: bool,
                   accelerator: bool = True) -> StepMemory:
    """GB per GPU of one RL optimizer step: the pretraining account's moments at `seq_len` (prompt + completion)
    without MTP, the log-probability head's peak over `completion_tokens` (a micro-batch's) at the moment it runs,
    plus the KL reference's sharded weights when there is one; the largest moment."""
    moments = step_moments(c, dp_shard=dp_shard, ep=ep, seq_len=seq_len, micro_batch=micro_batch,
                           recompute=recompute, precision=precision, mtp_depth=0, one_process=one_process,
                           accelerator=accelerator)
    # The head's backward is the backward's first op, with every activation and the forward's gathered weights
    # still held: its peak is the loss of the forward's end. Later moments hold what it hands over (the head's
    # gradient, d(hidden)), as pretraining's loss does; the backward's end none. (Its peak had been added to
    # whichever moment was largest: at the backward's end, 12 GB over the true peak at A.X K1's 4K rows.)
    head = logprob_head_bytes(c, completion_tokens, compute_path(precision, one_process)) / 1e9
    moments["forward_end"] = dataclasses.replace(moments["forward_end"], loss=head)
    reference = 4 * count_parameters(c)["total"] / dp_shard / 1e9 if kl_reference else 0.0
    return max((dataclasses.replace(m, state=m.state + reference) for m in moments.values()), key=lambda m: m.total)


def replica_bytes(c: ModelConfig) -> float:
    """The whole model as the main rank loads it for rollouts (in the folder's dtype, float32 when it names none,
    read as the loader reads it: "torch.bfloat16" is bfloat16)."""
    return config_dtype(c).itemsize * count_parameters(c)["total"]
