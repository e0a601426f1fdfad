"""bf16 training's dtypes (docs/gpu.md, "Precision"), checked on CPU: under FSDP2 a MixedPrecisionPolicy gathers
weights in bf16 for compute and reduces gradients in fp32 over fp32 master weights and optimizer state; the routers
are gathered and run in fp32; the experts' grouped matmuls run in bf16. In one process autocast does the same
job, with the router kept in fp32 inside it and the experts cast explicitly (autocast does not cover
`_grouped_mm`)."""

import json
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from axk1.model.moe import Router
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.gloo_ranks import run_ranks
from tests.train_helpers import write_recipe


def _record_step(trainer: Trainer) -> dict:
    """One training step with every tensor class's dtype recorded."""
    seen = {"router_weight": set(), "router_scores": set(), "grouped_mm": set(), "attention_weight": set(),
            "layer_output": set()}
    real_mm = torch._grouped_mm

    def grouped_mm(a, b, *args, **kwargs):
        seen["grouped_mm"].add(f"{a.dtype}x{b.dtype}")
        return real_mm(a, b, *args, **kwargs)

    hooks = []
    for m in trainer.model.modules():
        if isinstance(m, Router):
            def on_router(mod, args, out):
                seen["router_weight"].add(str(mod.weight.dtype))
                seen["router_scores"].add(str(out[2].dtype))

            hooks.append(m.register_forward_hook(on_router))
    layer = trainer.model.model.layers[1]
    hooks.append(layer.self_attn.o_proj.register_forward_pre_hook(
        lambda mod, args: seen["attention_weight"].add(str(mod.weight.dtype))))
    def on_layer(mod, args, out):
        seen["layer_output"].add(str((out[0] if isinstance(out, tuple) else out).dtype))

    hooks.append(layer.register_forward_hook(on_layer))
    torch._grouped_mm = grouped_mm
    try:
        row = trainer.train_step(0)
    finally:
        torch._grouped_mm = real_mm
        for h in hooks:
            h.remove()
    local = lambda t: t.to_local() if hasattr(t, "to_local") else t  # noqa: E731
    params = list(trainer.model.parameters())
    state = [s for p in params for k, s in trainer.optimizer.state[p].items() if k != "step"]
    out = {k: sorted(v) for k, v in seen.items()}
    out.update(master=sorted({str(local(p).dtype) for p in params}),
               grads=sorted({str(local(p.grad).dtype) for p in params if p.grad is not None}),
               optimizer_state=sorted({str(local(s).dtype) for s in state}),
               bias=sorted({str(m.e_score_correction_bias.dtype) for m in trainer.model.modules() if isinstance(m, Router)}),
               loss=row["loss"])
    return out


def _check_bf16(d: dict) -> None:
    assert d["master"] == d["grads"] == d["optimizer_state"] == d["bias"] == ["torch.float32"], d
    assert d["router_weight"] == d["router_scores"] == ["torch.float32"], d
    assert d["grouped_mm"] == ["torch.bfloat16xtorch.bfloat16"], d
    assert torch.isfinite(torch.tensor(d["loss"]))


def test_bf16_in_one_process_autocast_keeps_the_router_fp32_and_runs_experts_in_bf16(tmp_path):
    trainer = Trainer(load_recipe(write_recipe(tmp_path, extra='[parallelism]\nprecision = "bf16"')))
    d = _record_step(trainer)
    _check_bf16(d)
    assert d["attention_weight"] == ["torch.float32"]  # autocast casts per op; the module keeps fp32 weights


def test_the_router_stays_fp32_under_autocast():
    router = Router(__import__("axk1").ModelConfig.from_preset("axk1-tiny"))
    torch.nn.init.normal_(router.weight)
    x = torch.randn(5, router.weight.shape[1])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert F.linear(x, router.weight).dtype == torch.bfloat16  # what autocast does to a plain linear
        weights, idx, scores = router(x)
    assert scores.dtype == torch.float32
    torch.testing.assert_close(scores, F.linear(x, router.weight).sigmoid(), rtol=0, atol=0)


def _fsdp_bf16_rank(rank: int, recipe: str, out: str) -> None:
    os.environ["WORLD_SIZE"] = "2"  # the trainer's torchrun check (run_ranks has started the group)
    d = _record_step(Trainer(load_recipe(recipe)))
    if rank == 0:
        Path(out).write_text(json.dumps(d))


@pytest.mark.distributed
def test_bf16_under_fsdp2_gathers_bf16_weights_reduces_fp32_and_routes_in_fp32(tmp_path):
    recipe = write_recipe(tmp_path, extra='[parallelism]\nprecision = "bf16"\ndp_shard = 2\nep = 2')
    out = tmp_path / "dtypes.json"
    run_ranks(_fsdp_bf16_rank, 2, str(recipe), str(out))
    d = json.loads(out.read_text())
    _check_bf16(d)
    assert d["attention_weight"] == ["torch.bfloat16"] and d["layer_output"] == ["torch.bfloat16"], d


def test_the_experts_gather_their_input_in_bf16_and_sum_its_gradient_per_token_in_fp32():
    """Under autocast the residual stream is fp32 and the experts compute in bf16: the [M, D] gather of their input
    (M = tokens x K) is now made in bf16, not fp32 then cast, and its gradient too, half the bytes both ways; each
    token's K gradients are summed in fp32 over a permutation (no index_add: deterministic), not in a bf16 index_add.
    The combine keeps its fp32 sum. Outputs and gradients are the plain per-expert loop's (fp32 gather) within bf16's
    rounding."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from axk1 import ModelConfig
    from axk1.model.moe import MoE

    config = ModelConfig.from_preset("axk1-tiny")
    torch.manual_seed(0)
    moe = MoE(config)
    for p in moe.parameters():
        torch.nn.init.normal_(p, std=0.05)
    N, D, K = 96, config.hidden_size, config.num_experts_per_tok

    class Census(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if isinstance(out, torch.Tensor) and tuple(out.shape) == (N * K, D):
                self.ops.append((str(func.overloadpacket.__name__), out.dtype))
            return out

    results = []
    for use_grouped_mm in (False, True):
        moe.use_grouped_mm = use_grouped_mm
        moe.zero_grad()
        x = torch.randn(1, N, D, generator=torch.Generator().manual_seed(1), requires_grad=True)
        forward, backward = Census(), Census()
        with forward, torch.autocast("cpu", dtype=torch.bfloat16):
            y = moe(x)
        with backward:
            y.backward(torch.randn(y.shape, generator=torch.Generator().manual_seed(2)))
        results.append((y.detach(), x.grad, moe.experts.gate_up_proj.grad, moe.experts.down_proj.grad,
                        moe.gate.weight.grad))
    assert y.dtype == x.grad.dtype == torch.float32
    assert ("index_select", torch.bfloat16) in forward.ops and ("index_select", torch.float32) not in forward.ops
    # the fp32 [M, D] tensors left: the combine's (its sum in fp32, forward; its gradient read back, backward)
    assert {op for op, dtype in forward.ops if dtype == torch.float32} == {"_to_copy"}, forward.ops
    assert {op for op, dtype in backward.ops if dtype == torch.float32} == {"index_select"}, backward.ops
    assert not any(op.startswith("index_add") for op, _ in backward.ops), backward.ops
    for name, a, b in zip(("output", "input grad", "gate_up grad", "down grad", "router grad"), *results):
        error = float((b.float() - a.float()).norm() / a.float().norm())
        assert error < 1e-2, (name, error)  # bf16 products summed in another order; a wrong formula is not
