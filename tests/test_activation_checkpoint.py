"""Activation checkpointing recomputes each layer in the backward pass: same loss and gradients, fewer saved
activations, unchanged parameter names."""

import pytest
import torch

from axk1.config import ModelConfig
from axk1.model import AXK1ForCausalLM
from axk1.parallel.activation_checkpoint import apply_activation_checkpointing, normalize_mode
from axk1.train.loss import training_loss


def _loss_and_grads(full: bool) -> tuple[float, dict[str, torch.Tensor], int, list[str], int]:
    torch.manual_seed(0)
    model = AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny"), with_mtp=True)
    wrapped = apply_activation_checkpointing(model, "full" if full else "none")
    ids = torch.randint(0, model.config.vocab_size, (2, 48), generator=torch.Generator().manual_seed(1))
    saved = []  # bytes of the tensors autograd keeps for the backward pass
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel() * t.element_size()) or t,
                                                  lambda t: t):
        loss = training_loss(model, ids, None, 0.3).total
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return float(loss.detach()), grads, sum(saved), [n for n, _ in model.named_parameters()], wrapped


def test_full_recompute_gives_the_same_loss_and_gradients_with_less_saved():
    loss0, grads0, saved0, names0, wrapped0 = _loss_and_grads(False)
    loss1, grads1, saved1, names1, wrapped1 = _loss_and_grads(True)
    assert (wrapped0, wrapped1) == (0, 4)  # three decoder layers and the MTP layer
    assert names0 == names1
    assert loss0 == loss1
    assert grads0.keys() == grads1.keys()
    for name in grads0:
        torch.testing.assert_close(grads1[name], grads0[name], rtol=1e-5, atol=1e-6, msg=name)
    assert saved1 < 0.5 * saved0, (saved0, saved1)


def test_modes():
    assert normalize_mode(True) == "full" and normalize_mode(False) == "none"
    with pytest.raises(ValueError, match="activation_checkpointing = 'selective' unknown"):
        normalize_mode("selective")
