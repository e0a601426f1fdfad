"""What a training step keeps, measured: the census that holds the memory account
(axk1/train/memory.py) to the model as it runs (tests/test_memory_account.py, benchmarks/bench_memory.py). It runs
one forward of the training objective under saved-tensor hooks, attributes each saved tensor to the decoder layer
that saved it, and counts the storages the graph still holds at the end, each once, weights excluded. The growth
between two batch lengths is the bytes per token (what does not scale with tokens, such as cast weights, cancels).
`step_peak` measures a whole step of a one-process trainer instead, with torch's MemTracker.
"""

from __future__ import annotations

import contextlib
import weakref

import torch

from axk1.model import AXK1ForCausalLM
from axk1.train.loss import Objective


class _Kept:
    """A saved tensor as the graph holds it, with the decoder layer that saved it."""
    __slots__ = ("t", "layer", "__weakref__")

    def __init__(self, t: torch.Tensor, layer: int | None) -> None:
        self.t, self.layer = t, layer


def attention_kernel_storages(loss: torch.Tensor) -> set[int]:
    """Storages the fused attention kernel saved (its own account term: FlexAttention keeps other tensors on a GPU
    than CPU's kernel, which also keeps the dense mask)."""
    out, todo, seen = set(), [loss.grad_fn], set()
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if "Attention" in node.name():
            for name in dir(node):
                if name.startswith("_saved_") and isinstance(value := getattr(node, name), torch.Tensor):
                    out.add(value.untyped_storage().data_ptr())
        todo.extend(f for f, _ in node.next_functions)
    return out


def saved_bytes_per_layer(model: AXK1ForCausalLM, path: str, B: int, T: int, kernel_too: bool = False) -> list[float]:
    """Bytes autograd keeps for each decoder layer's backward after one forward of the training objective: unique
    storages, parameters and (unless `kernel_too`) the attention kernel's excluded. On the model's device."""
    device = next(model.parameters()).device
    layer_of: list[int] = []  # the decoder layer running now (hooks return None: nothing replaced)

    def enter(i: int) -> None:
        layer_of.append(i)

    def leave() -> None:
        layer_of.pop()

    hooks = [h for i, layer in enumerate(model.model.layers) for h in (
        layer.register_forward_pre_hook(lambda m, a, i=i: enter(i)),
        layer.register_forward_hook(lambda m, a, o: leave()))]
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept: list[weakref.ref] = []  # in saving order; what the graph still holds at the end (a dropped node frees its own)

    def pack(t: torch.Tensor) -> _Kept:
        box = _Kept(t, layer_of[-1] if layer_of else None)
        kept.append(weakref.ref(box))
        return box

    g = torch.Generator().manual_seed(T)
    ids = torch.randint(0, model.config.vocab_size, (B, T), generator=g).to(device)
    docs = (torch.arange(T) >= T // 3).long().expand(B, T).to(device)  # two documents a row: a real document mask
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if path == "autocast" else contextlib.nullcontext()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda box: box.t), autocast:
            out = Objective(model)(ids, docs, 0.3, None)
    finally:
        for h in hooks:
            h.remove()
    kernel = set() if kernel_too else attention_kernel_storages(out.total)
    per_layer = [0.0] * len(model.model.layers)
    counted: set[int] = set()
    for box in filter(None, (ref() for ref in kept)):
        ptr = box.t.untyped_storage().data_ptr()
        if box.layer is not None and ptr not in params | kernel | counted:
            counted.add(ptr)
            per_layer[box.layer] += box.t.untyped_storage().nbytes()
    return per_layer


def bytes_per_token(model: AXK1ForCausalLM, path: str, B: int = 2, lengths: tuple[int, int] = (48, 96),
                    kernel_too: bool = False) -> list[float]:
    """Each decoder layer's saved bytes per token: the growth of `saved_bytes_per_layer` between two lengths."""
    T1, T2 = lengths
    short = saved_bytes_per_layer(model, path, B, T1, kernel_too)
    long = saved_bytes_per_layer(model, path, B, T2, kernel_too)
    return [(b - a) / (B * (T2 - T1)) for a, b in zip(short, long)]


def step_peak(trainer) -> dict[str, float]:
    """Peak bytes by category (Parameter, Gradient, Optstate, Activation, Temp, Other, Total) of one step of a
    one-process `Trainer` on CPU, after a first step has created the optimizer state (torch's MemTracker)."""
    from torch.distributed._tools.mem_tracker import MemTracker

    trainer.train_step(trainer.state.step)
    tracker = MemTracker()
    tracker.track_external(trainer.objective, trainer.optimizer)
    with tracker:
        trainer.train_step(trainer.state.step)
    return tracker.get_tracker_snapshot("peak")[torch.device("cpu")]
