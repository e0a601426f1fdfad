"""Whether the model a recipe describes can be held by its device, counted from its config before anything is
built or allocated.

A recipe's `[model] overrides = { n_routed_experts = 1000000000 }` built a model of 64B parameters and ended in the
allocator's RuntimeError traceback ("tried to allocate 256000000000 bytes"), after minutes of swapping where memory
overcommits. The estimate is a lower bound, so that no run that fits is refused: the weights and buffers alone (no
gradients, optimizer state or activations), as built (fp32), spread evenly over the launch's ranks. It is counted in
closed form (axk1/flops.py), not from a meta-device model: building `num_hidden_layers = 200000` layers even on the
meta device took minutes and gigabytes before any check could run.
"""

from __future__ import annotations

import os
import torch

from axk1.config import ModelConfig
from axk1.flops import parameter_counts
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


def check_model_fits(config: ModelConfig, with_mtp: bool, device: torch.device, ranks: int, settings: str) -> None:
    """Refuses a model of `config` (with its MTP modules if `with_mtp`) whose fp32 weights alone, spread over
    `ranks`, exceed the memory of `device`; `settings` names where its size was set (the recipe's [model] preset and
    overrides)."""
    counts = parameter_counts(config)
    params = counts.total + (counts.mtp if with_mtp else 0)
    need = params * torch.finfo(torch.float32).bits // 8 // max(ranks, 1)
    have = device_memory(device)
    if have is not None and need > have:
        raise ValueError(f"{settings} makes a model of {count_text(params)} parameters whose weights alone take "
                         f"{need / 1e9:,.1f} GB per rank, more than the {have / 1e9:,.1f} GB of memory of {device}: "
                         "lower the size settings there (n_routed_experts, num_hidden_layers, hidden_size, "
                         "vocab_size, ...)")
