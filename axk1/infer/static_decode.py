"""The decode step with static shapes, captured once as a CUDA graph and replayed every step.

An eager decode step on a GPU is bound by kernel launches, not by the GPU: the H200 check decoded 32 rows of the 2B
model at 36 ms a step, where reading the weights takes about 1 ms (docs/gpu.md, "Decoding"). A CUDA graph replays a
step's hundreds of kernels with one launch, but only a step that has the same shapes and tensor addresses every
time and reads nothing back to the host. So this step:

- attends over all S cache slots every step, the slots not yet written masked by the bias (-inf), instead of over
  the slots filled so far (a shape that grows every step);
- writes each row's new latent at a slot given as a device tensor, not a Python int;
- reads its inputs from buffers it owns, copied into before each replay, and returns the same logits buffer;
- runs a MoE layer's experts on the device only (`device_only_experts`: grouped matmuls in bf16, else the gathered
  batched matmul, as CUDA's `_grouped_mm` fallback for other dtypes reads its offsets on the host).

On CPU nothing is captured: the same static step runs as it is (what the tests compare with the growing one).

Legend: B rows, S cache slots, W vocabulary.
"""

from __future__ import annotations

import torch

from axk1.model import LatentDecoder, LatentKVCache
from axk1.model.latent_decode import device_only_experts


class StaticDecodeStep:
    """`step(ids_B1, positions_B1, slot)` → logits [B, 1, W] of one new token per row written at cache slot `slot`
    (an int, the same for every row, as `generate` decodes), equal to `LatentDecoder(model)(..., slot, bias[..., :slot
    + 1])`. `bias_B11S`: the additive mask (0 / -inf, the cache's dtype) of every slot, whatever has been written;
    slots after `slot` are masked here. `first_slot`: the first step's slot (capture writes scratch latents there,
    which that step overwrites). `capture`: record a CUDA graph (default: on CUDA)."""

    def __init__(self, model, cache: LatentKVCache, bias_B11S: torch.Tensor, first_slot: int,
                 capture: bool | None = None) -> None:
        device = bias_B11S.device
        capture = device.type == "cuda" if capture is None else capture
        if capture and device.type != "cuda":
            raise ValueError(f"a CUDA graph needs the model on a CUDA device, not {device}")
        experts = device_only_experts(model.lm_head.weight.dtype) if capture else None
        self.decoder = LatentDecoder(model, experts=experts)
        self.cache = cache
        B, S = bias_B11S.shape[0], bias_B11S.shape[-1]
        self.base_bias_B11S = bias_B11S
        self.slots_S = torch.arange(S, device=device)
        self.ids_B1 = torch.zeros(B, 1, dtype=torch.long, device=device)
        self.positions_B1 = torch.zeros(B, 1, dtype=torch.long, device=device)
        self.slot_B = torch.full((B,), first_slot, dtype=torch.long, device=device)
        self.bias_B11S = bias_B11S.clone()
        self.graph: torch.cuda.CUDAGraph | None = None
        self.logits_B1W: torch.Tensor | None = None
        if capture:
            self._capture()

    def _run(self) -> torch.Tensor:
        return self.decoder(self.ids_B1, self.positions_B1, self.cache, self.slot_B, self.bias_B11S)

    def _capture(self) -> None:
        # Warm up on a side stream first (allocator pools, cuBLAS workspaces), as CUDA graph capture requires.
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                self._run()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.logits_B1W = self._run()

    def __call__(self, ids_B1: torch.Tensor, positions_B1: torch.Tensor, slot: int) -> torch.Tensor:
        """The logits buffer is overwritten by the next call: read it (sample) before stepping again."""
        self.ids_B1.copy_(ids_B1)
        self.positions_B1.copy_(positions_B1)
        self.slot_B.fill_(slot)
        self.bias_B11S.copy_(self.base_bias_B11S).masked_fill_(self.slots_S > slot, float("-inf"))
        if self.graph is None:
            return self._run()
        self.graph.replay()
        return self.logits_B1W
