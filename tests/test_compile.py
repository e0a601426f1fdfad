import importlib.util
from pathlib import Path

import torch

from axk1 import AXK1ForCausalLM
from axk1.parallel.compile import apply_compile
from tests.lm_loss import causal_lm_loss


def test_compiled_layers_give_the_same_loss_and_gradients(tiny_config):
    torch.manual_seed(0)
    eager = AXK1ForCausalLM(tiny_config)
    compiled = AXK1ForCausalLM(tiny_config)
    compiled.load_state_dict(eager.state_dict())
    apply_compile(compiled)
    ids = torch.randint(0, tiny_config.vocab_size, (2, 16))
    losses = []
    for model in (eager, compiled):
        loss = causal_lm_loss(model, ids)
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1], atol=1e-5, rtol=1e-5)
    for (name, a), b in zip(eager.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-4, rtol=1e-4, msg=name)


def test_recipe_compile_flag_compiles_every_layer_and_keeps_bf16_experts_compiled(tmp_path):
    """[parallelism] compile = true: the trainer compiles each decoder layer (before FSDP2, after recompute); in a
    bf16 recipe the experts compile with their layer (they compute in bf16 though the weights are fp32 here)."""
    from axk1.train.recipe import load_recipe
    from axk1.train.trainer import Trainer
    from tests.train_helpers import write_recipe

    recipe = load_recipe(write_recipe(tmp_path, sections={"parallelism": 'compile = true\nprecision = "bf16"'}))
    model = Trainer(recipe).model
    layers = model.decoder_layers()
    assert layers and all(layer._compiled_call_impl is not None for layer in layers)
    assert all("forward" not in vars(layer.mlp.experts) for layer in layers if layer.is_moe)  # not disabled
    plain = Trainer(load_recipe(write_recipe(tmp_path / "plain"))).model
    assert all(layer._compiled_call_impl is None for layer in plain.decoder_layers())


def test_a_bf16_moe_layer_trains_as_one_compiled_graph(tiny_config):
    """[parallelism] compile in a bf16 run compiles each MoE layer whole, forward and the backward dynamo traces
    with it, as the GPU check's census counts it (benchmarks/step_diagnostics.py::dynamo_census). The experts' SwiGLU
    backward used to write into views with `out=`, which dynamo cannot trace: 4 breaks a MoE layer, 9 graphs for a
    compiled training step of axk1-tiny instead of 2 (docs/gpu.md). The compiled backward (plain expressions) must
    give the eager one's (in place)."""
    from torch._dynamo.utils import counters

    script = Path(__file__).parents[1] / "benchmarks" / "step_diagnostics.py"
    spec = importlib.util.spec_from_file_location("step_diagnostics", script)
    diagnostics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(diagnostics)
    counters.clear()
    torch.manual_seed(0)
    model = AXK1ForCausalLM(tiny_config).train()
    layer = next(layer for layer in model.decoder_layers() if layer.is_moe)
    ids = torch.randint(0, tiny_config.vocab_size, (2, 16))
    _, (cos, sin, mask) = model.hidden_states(ids)
    x = torch.randn(2, 16, tiny_config.hidden_size)
    compiled = torch.compile(layer, backend="aot_eager")
    results = []
    for run in (layer, compiled):
        layer.zero_grad()
        x_in = x.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = run(x_in, cos.detach(), sin.detach(), mask)
        out.float().square().sum().backward()
        results.append((out.detach(), x_in.grad, layer.mlp.experts.gate_up_proj.grad.clone(),
                        layer.mlp.experts.down_proj.grad.clone(), layer.mlp.gate.weight.grad.clone()))
    for name, a, b in zip(("output", "input grad", "gate_up grad", "down grad", "router grad"), *results):
        # bf16 products, summed in another order where compiled (the routing weights' gradient is a bf16 row-wise
        # dot product): measured 0 to 0.26% of each tensor's norm; 1% is bf16's rounding, a wrong formula is not
        error = float((b.float() - a.float()).norm() / a.float().norm())
        assert error < 1e-2, (name, error)
    census = diagnostics.dynamo_census()
    assert census["graph_breaks"] == 0 and census["unique_graphs"] == 1, census


def test_compile_options_reach_every_layer(tiny_config, monkeypatch):
    """COMPILE_OPTIONS (what the GPU check's --set tries, e.g. a compile mode) go to each layer's torch.compile: with
    the eager backend the layers are captured by dynamo and nothing goes through inductor."""
    from torch._dynamo.utils import counters

    import axk1.parallel.compile as compile_module

    monkeypatch.setattr(compile_module, "COMPILE_OPTIONS", {"backend": "eager"})
    torch._dynamo.reset()
    counters.clear()
    model = apply_compile(AXK1ForCausalLM(tiny_config))
    with torch.no_grad():
        model(torch.randint(0, tiny_config.vocab_size, (1, 8)))
    assert counters["stats"]["unique_graphs"] >= 2 and not counters["inductor"], dict(counters["inductor"])


def _fp32_compiled_expert_parallel_step(rank):
    import axk1.parallel.compile as compile_module
    from torch.distributed.device_mesh import init_device_mesh

    from axk1 import ModelConfig
    from axk1.parallel.expert_parallel import apply_expert_parallel

    compile_module.COMPILE_OPTIONS = {"backend": "aot_eager"}  # dynamo and fake tensors: what fails, quickly
    torch.manual_seed(0)
    config = ModelConfig.from_preset("axk1-tiny")
    model = AXK1ForCausalLM(config)
    apply_compile(model)  # build_model's order: compile, then expert parallelism replaces the experts
    apply_expert_parallel(model, init_device_mesh("cpu", (2,), mesh_dim_names=("ep",))["ep"])
    model(torch.randint(0, config.vocab_size, (1, 8))).float().sum().backward()


def test_an_fp32_compiled_run_with_expert_parallelism_keeps_its_experts_eager():
    """apply_compile keeps fp32 experts out of the compiled layer (dynamo has no fp32 rule for _grouped_mm), on the
    experts module; expert parallelism then replaced that module with one that was not kept out, and the first
    forward of an fp32 recipe with compile = true and ep > 1 failed ("Expected inputs of BF16 type")."""
    from tests.gloo_ranks import run_ranks

    run_ranks(_fp32_compiled_expert_parallel_step, 2)


def test_compiled_layers_over_flex_attention_compile_nothing_after_the_first_step(tiny_config, monkeypatch):
    """The accelerator's path (FlexAttention's compiled kernel inside compiled layers) on CPU, forward only (torch
    has no CPU flex backward), dynamo alone (the eager backend: what guards and recompiles is dynamo's). The kernel
    was made lazily in the first attention call, inside the first compiled layer, whose graph dynamo then guarded on
    the global's being None and compiled again at the second step (a probe's census: 4 graphs for 3). Now the mask
    takes it before the layers (attention_mask.flex_attention_kernel): batches of other document layouts reuse the
    first step's graphs, one per layer shape (dense, MoE, the MTP layer's shorter rows)."""
    from torch._dynamo.utils import counters

    import axk1.parallel.compile as compile_module
    from axk1.model import attention_mask

    monkeypatch.setattr(attention_mask, "FLEX_DEVICES", {"cpu"})
    monkeypatch.setattr(attention_mask, "EAGER_FLEX_DEVICES", set())  # the compiled kernel, as on an accelerator
    monkeypatch.setattr(attention_mask, "_compiled_flex_attention", None)  # made afresh, as in a new process
    monkeypatch.setattr(compile_module, "COMPILE_OPTIONS", {"backend": "eager"})
    torch._dynamo.reset()
    counters.clear()
    torch.manual_seed(0)
    model = apply_compile(AXK1ForCausalLM(tiny_config, with_mtp=True).eval(), bf16=True)  # experts compiled too
    g = torch.Generator().manual_seed(0)
    graphs = []
    for cuts in ([40], [10, 90], [70, 100, 120]):  # every step's rows pack documents differently
        docs = torch.zeros(2, 128, dtype=torch.long)
        for cut in cuts:
            docs[:, cut:] += 1
        ids = torch.randint(3, tiny_config.vocab_size, (2, 128), generator=g)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            h, rope = model.hidden_states(ids, docs)
            model.mtp_hidden_states(h, ids, rope)
        assert rope[2].use_flex and rope[2]._block is not None
        graphs.append(counters["stats"]["unique_graphs"])
    assert graphs[0] == graphs[-1] == 3 and sum(counters["graph_break"].values()) == 0, (graphs, counters["graph_break"])
