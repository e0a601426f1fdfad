"""Whether the model a recipe describes can be held by its device, estimated on the meta device before anything is
allocated.

A recipe's `[model] overrides = { n_routed_experts = 1000000000 }` built a model of 64B parameters and ended in the
allocator's RuntimeError traceback ("tried to allocate 256000000000 bytes"), after minutes of swapping where memory
overcommits. The estimate is a lower bound, so that no run that fits is refused: the weights and buffers alone (no
gradients, optimizer state or activations), as built (fp32), spread evenly over the launch's ranks.
"""

from __future__ import annotations

import os
from itertools import chain

import torch

from axk1.params import count_text


def device_memory(device: torch.device) -> int | None:
    """Bytes of memory of `device` (a GPU's, or the machine's for the CPU); None where it is not known."""
    if device.type == "cpu":
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            return None
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_properties(device).total_memory
    return None


def check_model_fits(model: torch.nn.Module, device: torch.device, ranks: int, settings: str) -> None:
    """Refuses a model (built on the meta device) whose weights alone, spread over `ranks`, exceed the memory of
    `device`; `settings` names where its size was set (the recipe's [model] preset and overrides)."""
    tensors = list(chain(model.parameters(), model.buffers()))
    need = sum(t.numel() * t.element_size() for t in tensors) // max(ranks, 1)
    have = device_memory(device)
    if have is not None and need > have:
        params = sum(p.numel() for p in model.parameters())
        raise ValueError(f"{settings} makes a model of {count_text(params)} parameters whose weights alone take "
                         f"{need / 1e9:,.1f} GB per rank, more than the {have / 1e9:,.1f} GB of memory of {device}: "
                         "lower the size settings there (n_routed_experts, num_hidden_layers, hidden_size, "
                         "vocab_size, ...)")
