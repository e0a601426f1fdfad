"""Auxiliary-loss-free MoE load balancing (DeepSeek-V3): after each optimizer step, every MoE layer's router bias
moves by γ·sign(mean load − load), so under-used experts get picked more often and over-used ones less.

Loads are the tokens each expert received over the step's micro-batches (accumulated by `accumulate_loads`),
summed over data-parallel ranks when a process group is up. They are kept on `device` (the trainer's: where the
counts are made, with no copy per micro-batch, and where NCCL can reduce them; CPU by default). The bias
(`Router.e_score_correction_bias`) is an fp32 buffer: it is checkpointed with the model and no optimizer ever sees
it. MoE layers inside MTP count too.

Legend: L MoE layers, E routed experts.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from axk1.model.moe import MoE


def moe_layers(model: nn.Module) -> list[tuple[str, MoE]]:
    """Every MoE block, main stack then MTP, by module name."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, MoE)]


class LoadBalancer:
    def __init__(self, model: nn.Module, rate: float, enabled: bool = True, group: dist.ProcessGroup | None = None,
                 device: torch.device | str | None = None):
        self.layers = moe_layers(model)
        self.rate, self.enabled, self.group = rate, enabled, group
        E = self.layers[0][1].gate.n_experts if self.layers else 0
        self.loads_LE = torch.zeros(len(self.layers), E, dtype=torch.float64, device=device)
        self.last_loads_LE = self.loads_LE.clone()

    def accumulate_loads(self) -> None:
        """Call after each micro-batch forward: adds the layers' `tokens_per_expert` (set in training mode)."""
        for i, (_, moe) in enumerate(self.layers):
            self.loads_LE[i] += moe.tokens_per_expert.to(self.loads_LE)

    @torch.no_grad()
    def step(self) -> dict[str, float]:
        """Moves the biases (if enabled), returns per-layer max/mean load, and resets the counts."""
        if not self.layers:
            return {}
        loads_LE = self.loads_LE
        if self.group is not None or (dist.is_available() and dist.is_initialized()):
            dist.all_reduce(loads_LE, group=self.group)
        mean_L1 = loads_LE.mean(dim=1, keepdim=True)
        if self.enabled and self.rate > 0:
            delta_LE = self.rate * torch.sign(mean_L1 - loads_LE)
            for i, (_, moe) in enumerate(self.layers):
                bias_E = moe.gate.e_score_correction_bias
                bias_E.add_(delta_LE[i].to(device=bias_E.device, dtype=bias_E.dtype))
        ratio_L = (loads_LE.max(dim=1).values / mean_L1[:, 0].clamp(min=1e-9)).tolist()  # one read, not one per layer
        stats = {f"load_max_over_mean/{name}": ratio_L[i] for i, (name, _) in enumerate(self.layers)}
        self.last_loads_LE = loads_LE  # summed over ranks: what RL's expert-drift metric reads
        self.loads_LE = torch.zeros_like(loads_LE)
        return stats
