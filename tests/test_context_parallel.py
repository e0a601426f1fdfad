"""Context parallelism (axk1/parallel/context_parallel.py): 2 gloo ranks, each holding half of every row's tokens
and gathering the MLA latents of the other half, give the loss and gradients of one process over the whole rows,
with documents that cross the shard boundary (docs/gpu.md)."""

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from axk1 import AXK1ForCausalLM, ModelConfig
from axk1.parallel.context_parallel import apply_context_parallel, shard_sequence
from axk1.train.loss import IGNORE_INDEX, next_token_labels
from tests.gloo_ranks import run_ranks

pytestmark = pytest.mark.distributed


def _batch(config):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, config.vocab_size, (2, 64), generator=g)
    # row 0: document 1 runs from token 20 to 49, across the boundary at 32; row 1: one boundary inside shard 0
    docs = torch.tensor([[0] * 20 + [1] * 30 + [2] * 14, [0] * 40 + [1] * 24])
    return ids, docs, next_token_labels(ids, docs)


def _model():
    torch.manual_seed(0)
    config = ModelConfig.from_preset("axk1-tiny")
    model = AXK1ForCausalLM(config).train()
    with torch.no_grad():  # larger weights than the init so attention is far from uniform
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(3)
    return model


def _loss(model, h_BTD, labels_BT, n_labels):
    logits = model.lm_head(model.model.norm(h_BTD)).float()
    return F.cross_entropy(logits.flatten(0, 1), labels_BT.flatten(), ignore_index=IGNORE_INDEX,
                           reduction="sum") / n_labels


def _cp_rank(rank: int, out: str) -> None:
    model = _model()
    assert apply_context_parallel(model, dist.group.WORLD) == model.config.num_hidden_layers
    ids, docs, labels = _batch(model.config)
    shard = shard_sequence(ids, docs, labels, rank, 2)
    h, _ = model.hidden_states(shard.input_ids_Bt, None, shard.position_ids_Bt, shard.mask)
    loss = _loss(model, h, shard.labels_Bt, int((labels != IGNORE_INDEX).sum()))
    loss.backward()
    total = loss.detach().clone()
    dist.all_reduce(total)
    grads = {n: p.grad.contiguous() for n, p in model.named_parameters() if p.grad is not None}
    for g in grads.values():
        dist.all_reduce(g)  # each rank's gradient is its tokens' part of the whole loss's
    if rank == 0:
        save_file({"loss": total.reshape(1), **grads}, out)


def test_two_context_parallel_ranks_give_one_process_loss_and_gradients(tmp_path):
    out = tmp_path / "cp.safetensors"
    run_ranks(_cp_rank, 2, str(out))
    got = load_file(out)
    model = _model()
    ids, docs, labels = _batch(model.config)
    h, _ = model.hidden_states(ids, docs)
    loss = _loss(model, h, labels, int((labels != IGNORE_INDEX).sum()))
    loss.backward()
    torch.testing.assert_close(got["loss"][0], loss.detach(), rtol=1e-5, atol=1e-6)
    names = [n for n, p in model.named_parameters() if p.grad is not None]
    assert set(names) == set(got) - {"loss"}
    for n, p in model.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(got[n], p.grad, rtol=1e-4, atol=1e-6, msg=n)


def test_the_trainer_under_context_parallelism_follows_one_process(tmp_path):
    """`torchrun --nproc-per-node 2 -m axk1 train` with cp = 2 (FSDP2 over the two cp ranks, every row split in
    halves) follows the one-process run of the same recipe, held-out validation included (each cp rank measures its
    half of the validation rows); and the recipe refuses MTP under cp."""
    from axk1 import save_pretrained
    from axk1.json_text import read_metrics_rows
    from axk1.train.recipe import load_recipe
    from axk1.train.trainer import Trainer
    from tests.train_helpers import ranks_train, write_recipe

    torch.manual_seed(0)
    save_pretrained(AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny")), tmp_path / "init")

    def recipe(folder, parallelism):
        folder.mkdir()
        path = write_recipe(folder, extra="max_steps = 4\n" + parallelism,  # 6 rows: micro-batches of 4 and 2
                            sections={"validation": "held_out = 0.1\nevery_steps = 2\nsequences = 6"})
        text = path.read_text().replace("mtp_depth = 1", f'mtp_depth = 0\ninit_from = "{tmp_path / "init"}"', 1)
        path.write_text(text)
        return path

    Trainer(load_recipe(recipe(tmp_path / "one", ""))).fit()
    ranks_train(recipe(tmp_path / "cp", "[parallelism]\ncp = 2"))
    want = read_metrics_rows(tmp_path / "one" / "run" / "metrics.jsonl")
    got = read_metrics_rows(tmp_path / "cp" / "run" / "metrics.jsonl")
    assert len(got) == len(want) == 4
    for key in ("loss", "grad_norm"):
        assert [r[key] for r in got[:3]] == pytest.approx([r[key] for r in want[:3]], rel=1e-5), key
        assert got[3][key] == pytest.approx(want[3][key], rel=3e-2 if key == "grad_norm" else 2e-3), key
    assert got[0]["loss/web"] == pytest.approx(want[0]["loss/web"], rel=1e-5)  # per-domain sums over cp ranks
    assert [r["domains"] for r in got] == [r["domains"] for r in want]  # a row counts once in its cp group
    validated = [(g, w) for g, w in zip(got, want) if "val_loss" in w]
    assert [w["step"] for _, w in validated] == [2, 4] and all("val_loss" in g for g, _ in validated)
    for g, w in validated:
        for key in [k for k in w if k.startswith("val_loss")]:  # the whole and per domain
            assert g[key] == pytest.approx(w[key], rel=2e-3), key

    with pytest.raises(ValueError, match="context parallelism runs without MTP"):
        load_recipe(write_recipe(tmp_path / "mtp", extra="[parallelism]\ncp = 2"))
