"""Activation checkpointing ("recompute"), applied from outside the model like compile and FSDP2.

"full": each decoder layer (the MTP module's included) keeps only its input for the backward pass and recomputes
its activations there - ~one extra forward of compute for activation memory of one hidden state per layer, what
the memory account assumes with recompute on (axk1/train/memory.py). Uses the composable
`checkpoint` API, which leaves parameter names alone (checkpoints and exports are unchanged) and composes with
`fully_shard` when applied first.
"""

from __future__ import annotations

from torch import nn
from torch.distributed._composable import checkpoint

MODES = ("none", "full")


def normalize_mode(mode: str | bool) -> str:
    """The recipe's value: "none" | "full", or the planner's boolean (true = full)."""
    if isinstance(mode, bool):
        return "full" if mode else "none"
    if mode not in MODES:
        raise ValueError(f"[parallelism] activation_checkpointing = {mode!r} unknown; use \"none\" or \"full\" "
                         "(or true / false)")
    return mode


def apply_activation_checkpointing(lm: nn.Module, mode: str | bool) -> int:
    """Checkpoints every decoder layer of an AXK1ForCausalLM in place; returns how many were wrapped."""
    if normalize_mode(mode) == "none":
        return 0
    layers = lm.decoder_layers()
    for layer in layers:
        checkpoint(layer)
    return len(layers)
