import torch

from axk1 import AXK1ForCausalLM
from axk1.parallel.compile import apply_compile
from axk1.train.loss import causal_lm_loss


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
