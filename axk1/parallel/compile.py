"""torch.compile applied per decoder layer, as torchtitan does: each layer is compiled once and reused, so compile
time does not grow with depth, and the model code stays plain PyTorch.

`torch._grouped_mm` has no compile support for fp32 (its fake-tensor rule wants bf16), so where the experts would
run in fp32 they stay eager: the layer compiles around them (attention, norms, router, shared expert).
"""

from __future__ import annotations

import torch

from axk1.model import AXK1ForCausalLM

# torch.compile's options for each layer beyond `dynamic` (e.g. {"mode": "max-autotune-no-cudagraphs"}); empty: its
# defaults. A setting to try on a GPU (benchmarks/gpu_check.py --set), not a tuned value.
COMPILE_OPTIONS: dict = {}


def apply_compile(model: AXK1ForCausalLM, dynamic: bool | None = None, bf16: bool = False) -> AXK1ForCausalLM:
    """Compile every decoder layer (and MTP layer) in place; returns the model. `bf16`: the experts will compute in
    bf16 (a bf16 recipe: FSDP2 gathers bf16 weights, or one process casts them) though the weights are fp32 now."""
    layers = model.decoder_layers()
    for layer in layers:
        if layer.is_moe and not bf16 and layer.mlp.experts.gate_up_proj.dtype != torch.bfloat16:
            experts = layer.mlp.experts
            experts.forward = torch.compiler.disable(experts.forward, recursive=True)
        layer.compile(dynamic=dynamic, **COMPILE_OPTIONS)
    return model
