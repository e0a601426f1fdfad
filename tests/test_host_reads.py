"""Reads of device values in a training step (docs/gpu.md, "Host syncs left in a step").

On an accelerator every read of a tensor's value on the host (`.item()`, `int(t)`, `nonzero`) waits for all the
kernels queued before it, and the GPU idles while the host launches the next ones. On the CPU a read is free, so the
CPU paths read where it helps; here the loss and the expert counts are switched to the accelerators' paths, and a
whole trainer step (MTP and the balance loss on) is run under a dispatch mode that sees every read, with the Python
stack that made it. The forward and backward of a micro-batch must read nothing: what the trainer needs (the token
ids' range, the label counts that weight micro-batches and scale the loss) it takes from the host batch before the
copy. The step's one read of its losses and gradient norm (`account`'s `.tolist()`) and the balancer's read are
checked on a GPU by `benchmarks/gpu_check.py`'s census; a `.tolist()` of a CPU tensor does not dispatch.
"""

import torch

from axk1.model import moe as moe_module
from axk1.train import loss as loss_module
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.device_reads import DeviceReads
from tests.train_helpers import write_recipe

def _accelerator_paths(monkeypatch):
    monkeypatch.setattr(loss_module, "sync_free_loss", lambda device: True)
    counts = moe_module.expert_counts
    monkeypatch.setattr(moe_module, "expert_counts", lambda idx_NK, n, sync_free=None: counts(idx_NK, n, True))


def test_a_training_step_reads_no_device_value_in_its_forward_and_backward(tmp_path, monkeypatch):
    _accelerator_paths(monkeypatch)
    monkeypatch.chdir(tmp_path)
    trainer = Trainer(load_recipe(write_recipe(tmp_path, sections={"moe": "seq_aux_loss_alpha = 1e-4"})))
    trainer.train_step(0)
    with DeviceReads() as reads:
        trainer.train_step(1)
    hot = [stack for stack in reads.stacks if any(name.endswith((":training_loss", ":backward")) for name in stack)]
    assert not hot, "reads of device values in a micro-batch's forward or backward:\n" + "\n".join(
        " > ".join(stack) for stack in hot[:5])
    # the census saw the step's reads: the host batch's ids checked and labels counted, once per micro-batch (2)
    host = [stack for stack in reads.stacks if "loss.py:host_counts" in stack]
    assert any("transformer.py:check_token_ids" in stack for stack in host), reads.stacks
    assert sum("loss.py:<genexpr>" in stack for stack in host) == 2  # one MTP depth, two micro-batches


def test_without_host_counts_the_objective_checks_and_counts_itself(tmp_path, monkeypatch):
    """The objective called without counts (tools, tests) still rejects bad ids and counts labels on the device."""
    import pytest

    from axk1.config import ModelConfig
    from axk1.model import AXK1ForCausalLM

    model = AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny"))
    ids = torch.randint(0, 512, (2, 16))
    objective = loss_module.Objective(model)
    with_counts = objective(ids, None, 0.3, None, None,
                            loss_module.host_counts(model.config, ids, None, loss_module.next_token_labels(ids), 1))
    without = objective(ids, None, 0.3)
    torch.testing.assert_close(with_counts.total, without.total)
    torch.testing.assert_close(with_counts.mtp, without.mtp)
    ids[1, 3] = 512
    with pytest.raises(ValueError, match="token id 512 is out of range"):
        objective(ids, None, 0.3)
    with pytest.raises(ValueError, match="token id 512 is out of range"):
        loss_module.host_counts(model.config, ids, None, loss_module.next_token_labels(ids), 1)
