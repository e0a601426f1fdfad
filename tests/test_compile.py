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
