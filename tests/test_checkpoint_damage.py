"""Damaged checkpoints meet a resume: folders with a file missing, cut or rewritten (their CRC-32s), a train state
without its sampler's seed, an undecodable tensor file, and token shards changed since the checkpoint (the faults of
a save itself: test_train_faults.py)."""

import json
import os
import re
from pathlib import Path

import pytest

from axk1.checkpoint.dcp import step_dir
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.train_helpers import write_recipe


def test_damaged_checkpoint_folders_are_named_with_the_way_back(tmp_path):
    """The newest step folder truncated, copied from another step, or with a train state lacking the counters:
    each named, with what to move aside to resume from the step before (a traceback or a silent mismatch before)."""
    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 4"))
    Trainer(recipe).fit()
    ckpts = Path(recipe.checkpointing.dir)
    newest = step_dir(ckpts, 4)
    import shutil

    shutil.copytree(newest, step_dir(ckpts, 6))  # a copy under another step's name
    with pytest.raises(ValueError, match=r"train_state.json says step 4, not its folder's 6: the folder was copied"):
        Trainer(recipe, resume=True)
    shutil.rmtree(step_dir(ckpts, 6))
    state = newest / "train_state.json"
    good = state.read_text()
    state.write_text('{"run": null, "sampler": {"seed": 7}, "state": {"steps": 4}}')
    with pytest.raises(ValueError, match=r"does not hold the run's counters and sampler state.*move the step folder"):
        Trainer(recipe, resume=True)
    state.write_text('{"run": ')  # cut short
    with pytest.raises(ValueError, match=rf"not valid JSON.*damaged; move {re.escape(str(newest))} out of the "
                                         "checkpoints folder to resume from the step before it"):
        Trainer(recipe, resume=True)
    state.write_text(good)
    distcp = next(newest.glob("*.distcp"))
    os.truncate(distcp, distcp.stat().st_size // 2)
    with pytest.raises(ValueError, match=rf"truncated.*to resume from step 2, the one before it, move {re.escape(str(newest))} out"):
        Trainer(recipe, resume=True)
    shutil.move(newest, tmp_path / "aside")
    assert Trainer(recipe, resume=True).state.step == 2


@pytest.mark.parametrize("async_save", [False, True], ids=["sync", "async"])
def test_bytes_changed_inside_a_checkpoint_are_found_before_a_resume_reads_them(tmp_path, async_save):
    """Four bytes of the embedding's data overwritten in place (same size: the size check passes) made --resume
    train on from a NaN, or silently from other weights. Every save records its files' CRC-32 (async ones too), and
    the resume refuses the damaged file, naming it and the step to go back to; a checkpoint written before
    checksums were saved still loads."""
    import shutil

    from axk1.checkpoint.dcp_safe import read_metadata

    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 4",
                                      sections={"checkpointing": f"async = {str(async_save).lower()}"}))
    Trainer(recipe).fit()
    ckpts = Path(recipe.checkpointing.dir)
    newest = step_dir(ckpts, 4)
    state = json.loads((newest / "train_state.json").read_text())
    files = sorted(p.name for p in newest.iterdir() if p.name != "train_state.json")
    assert sorted(state["crc32"]) == files and ".metadata" in files  # every file the save wrote
    pristine = tmp_path / "pristine"
    shutil.copytree(newest, pristine)
    # the embedding's bytes, located through the checkpoint's own metadata
    item = next(v for k, v in read_metadata(newest).storage_data.items() if "embed_tokens" in k.fqn)
    with open(newest / item.relative_path, "r+b") as f:
        f.seek(item.offset + item.length // 2)
        f.write(b"\xff\xff\xff\x7f")  # a NaN in float32
    with pytest.raises(ValueError, match=rf"^{re.escape(str(newest / item.relative_path))}: corrupt or incomplete "
                                         r"checkpoint \(CRC-32 [0-9a-f]{8}, saved as [0-9a-f]{8}: its bytes changed "
                                         rf"after the save\).*to resume from step 2, the one before it, move "
                                         rf"{re.escape(str(newest))} out of the checkpoints folder$"):
        Trainer(recipe, resume=True)
    # a checkpoint from before checksums (no table): loads as it did
    shutil.rmtree(newest)
    shutil.copytree(pristine, newest)
    del state["crc32"]
    (newest / "train_state.json").write_text(json.dumps(state))
    assert Trainer(recipe, resume=True).state.step == 4


def test_a_damaged_sampler_state_or_an_undecodable_tensor_file_is_said_in_one_line(tmp_path):
    """A train state whose "sampler" was {} ended in a KeyError: 'seed' traceback; a zeroed block in a tensor file of a
    checkpoint without checksums (written before them) in a 1,300-character repr of a tuple of FrameSummary
    objects."""
    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 4"))
    Trainer(recipe).fit()
    newest = step_dir(Path(recipe.checkpointing.dir), 4)
    path = newest / "train_state.json"
    good = json.loads(path.read_text())
    path.write_text(json.dumps(good | {"sampler": {}}))
    with pytest.raises(ValueError, match=r"train_state.json does not hold the run's counters and sampler state "
                                         r"\(\"sampler\" with the data seed\): the file is damaged; move the step"):
        Trainer(recipe, resume=True)
    path.write_text(json.dumps({k: v for k, v in good.items() if k != "crc32"}))  # as checkpoints before checksums
    distcp = newest / "__0_0.distcp"
    with open(distcp, "r+b") as f:
        f.seek(200 * 4096)
        f.write(bytes(100 * 4096))
    with pytest.raises(ValueError) as e:
        Trainer(recipe, resume=True)
    said = str(e.value)
    assert re.fullmatch(rf"{re.escape(str(newest))}: corrupt or incomplete checkpoint \(a tensor file does not "
                        r"decode: RuntimeError: [^()]*\); use another step folder, or re-save it\. --resume takes the "
                        rf"newest step folder: to resume from step 2, the one before it, move {re.escape(str(newest))} "
                        "out of the checkpoints folder", said), said
    assert "FrameSummary" not in said and len(said) < 600


def test_a_resume_over_shards_changed_since_the_checkpoint_is_refused(tmp_path):
    """Shards re-made, or rewritten in place at the same size, between a run and its resume: the resume went on over
    other data without a word. A shard the manifest lists but that is gone is named."""
    from tests.synthetic_shards import write_synthetic_shards

    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 2"))
    Trainer(recipe).fit()
    shard = tmp_path / "tokens" / "web" / "d0" / "00000.bin"
    tokens = bytearray(shard.read_bytes())
    tokens[4:8] = (int.from_bytes(tokens[4:8], "little") % 500 + 3).to_bytes(4, "little")  # one token, same size
    shard.write_bytes(bytes(tokens))
    with pytest.raises(ValueError, match=r"token shards are not those the checkpoint was trained on.*shard #\d+ as "
                                         r"\[domain, bucket, tokens, documents, checksum\]: \['(web|code)', 'd0', "
                                         r"\d+, \d+, \d+\] then.*truncated, replaced or re-made"):
        Trainer(recipe, resume=True)
    write_synthetic_shards(tmp_path / "tokens", vocab_size=512, seed=1)  # re-made: other documents
    with pytest.raises(ValueError, match="token shards are not those the checkpoint was trained on"):
        Trainer(recipe, resume=True)
    write_synthetic_shards(tmp_path / "tokens", vocab_size=512)  # the run's data again
    assert Trainer(recipe, resume=True).state.step == 2
    (tmp_path / "tokens" / "code" / "d0" / "00000.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"manifest.json lists .*code/d0/00000.bin \(\+ \.idx\) but it is "
                                                r"missing: re-run the data pipeline"):
        Trainer(recipe, resume=True)
