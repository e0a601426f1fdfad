"""Where each shard's held-out block lies: drawn from the shard's own content, so another [data] seed, another
manifest order or a run started from an export of the first holds out the same documents (drawn from the seed and
the shard's place, a second run under seed 8 was validated on 13 of 13 documents per shard that seed 7 had trained
on); a run resumed from a checkpoint written before keeps its old blocks."""

import json

from axk1.cli import main
from axk1.train.data import load_shards, split_validation
from tests.train_helpers import write_recipe


def _held_out_documents(shards, seed, by="shard"):
    """{(domain, bucket): the held-out documents' token tuples}."""
    _, held = split_validation(shards, 0.1, seed, by)
    out = {}
    for s in held:
        base = int(s.offsets[0])
        docs = [tuple(s.tokens[int(a) - base:int(b) - base]) for a, b in zip(s.offsets[:-1], s.offsets[1:])]
        out.setdefault((s.domain, s.bucket), set()).update(docs)
    return out


def test_the_same_documents_are_held_out_whatever_the_seed_or_the_manifests_order(tmp_path):
    write_recipe(tmp_path)
    _, shards = load_shards(tmp_path / "tokens" / "manifest.json")
    first = _held_out_documents(shards, 7)
    assert first and all(first.values())
    assert _held_out_documents(shards, 8) == first
    assert _held_out_documents(list(reversed(shards)), 7) == first
    # the rule before: another seed moved the blocks onto documents the first run trained on
    assert _held_out_documents(shards, 8, "seed") != _held_out_documents(shards, 7, "seed")


def test_a_run_resumed_from_a_checkpoint_without_the_rule_keeps_its_blocks_by_seed(tmp_path, capsys, monkeypatch):
    import axk1.train.trainer as trainer

    path = write_recipe(tmp_path, steps_tokens=8 * 32 * 4, sections={"validation": "held_out = 0.1"})
    monkeypatch.setattr(trainer, "HELD_OUT_BY", "seed")  # a run of the code before: blocks placed by seed ...
    assert main(["train", str(path), "--max-steps", "2"]) == 0
    monkeypatch.undo()
    state_file = tmp_path / "run" / "checkpoints" / "step-000002" / "train_state.json"
    state = json.loads(state_file.read_text())
    del state["run"]["validation.held_out_by"]  # ... and its checkpoint without the rule, as that code wrote it
    state_file.write_text(json.dumps(state))
    # resumed by seed, its training views are the checkpoint's (by shard, the sampler refuses other shards)
    assert main(["train", str(path), "--resume", "--max-steps", "4"]) == 0
    resumed = json.loads((tmp_path / "run" / "checkpoints" / "step-000004" / "train_state.json").read_text())
    assert resumed["run"]["validation.held_out_by"] == "seed"
    assert main(["train", str(path), "--out", str(tmp_path / "new"), "--max-steps", "2"]) == 0  # a new run: by shard
    new = json.loads((tmp_path / "new" / "checkpoints" / "step-000002" / "train_state.json").read_text())
    assert new["run"]["validation.held_out_by"] == "shard"


def test_a_run_started_from_an_export_draws_other_rows_than_the_run_it_came_from(tmp_path):
    """Stage 2 alone from stage 1's export, same [data] seed, restarted at step 0: every row whose domain both runs
    share re-read stage 1's window at the same step and row. The init_from folder's checksum is now part of every
    row's seed, and a resume keeps the run's own (its checkpoint's), whatever the folder holds by then."""
    import torch

    from axk1 import ModelConfig, save_pretrained
    from axk1.model import AXK1ForCausalLM
    from axk1.train.data import StageSampler
    from axk1.train.init_from_salt import init_from_salt
    from axk1.train.recipe import load_recipe

    recipe = load_recipe(write_recipe(tmp_path))
    _, shards = load_shards(tmp_path / "tokens" / "manifest.json")
    torch.manual_seed(5)
    save_pretrained(AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny"), with_mtp=False), tmp_path / "parent")
    salt = init_from_salt(tmp_path / "parent")
    assert salt and init_from_salt(None) == () and init_from_salt(tmp_path / "nowhere") == ()
    first, child = StageSampler(recipe, shards), StageSampler(recipe, shards, salt=salt)
    rows = [(step, r) for step in range(4) for r in range(8)]
    same = sum(first.batch(step, range(r, r + 1)).ids_BT.equal(child.batch(step, range(r, r + 1)).ids_BT)
               for step, r in rows)
    assert same <= 2, same  # chance alone, of 32 rows over 2 small domains
    # resumed: the checkpoint's salt, and a checkpoint written before salts had none
    resumed = StageSampler(recipe, shards, salt=(123,))
    resumed.load_state_dict(child.state_dict())
    assert resumed.batch(3).ids_BT.equal(child.batch(3).ids_BT)
    old_state = {k: v for k, v in child.state_dict().items() if k != "salt"}
    resumed.load_state_dict(old_state)
    assert resumed.batch(3).ids_BT.equal(first.batch(3).ids_BT)
    # a folder with other weights (an export of another step) gives another salt
    torch.manual_seed(6)
    save_pretrained(AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny"), with_mtp=False), tmp_path / "other")
    assert init_from_salt(tmp_path / "other") != salt


def test_two_exports_of_one_architecture_give_other_salts_past_a_long_header(tmp_path):
    """A large model's safetensors header (the tensors' names and offsets) runs past the first 64 KiB and is the same
    in every export of its architecture: stage 1's and stage 2's exports gave one salt, so a stage-3 run from stage
    2's export re-drew stage 2's rows. The tensors themselves are read too."""
    import torch
    from safetensors.torch import save_file

    from axk1.train.init_from_salt import init_from_salt

    long_header = {"note": "x" * 100_000}  # as the names of thousands of tensors would make it
    for name, value in (("stage1", 1.0), ("stage2", 2.0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text('{"hidden_size": 8}')
        save_file({"w": torch.full((64,), value)}, tmp_path / name / "model.safetensors", metadata=long_header)
    a, b = ((tmp_path / name / "model.safetensors").read_bytes() for name in ("stage1", "stage2"))
    assert len(a) == len(b) and a[:1 << 16] == b[:1 << 16]  # the case: alike in size and in their first 64 KiB
    assert init_from_salt(tmp_path / "stage1") != init_from_salt(tmp_path / "stage2")
    # a cut file (its header's length promising more than it holds) still gives a salt, no traceback
    (tmp_path / "stage2" / "model.safetensors").write_bytes(b[:100])
    assert init_from_salt(tmp_path / "stage2")
