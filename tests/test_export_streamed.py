"""`axk1 export` streams (axk1/checkpoint/export.py): the model is built on the meta device and every safetensors
shard's tensors are read from the checkpoint only when that shard is written, so exporting A.X K1 (2 TB of fp32
master weights) needs about one shard of memory, not the model. The folder it writes is the one a whole-model
export wrote: the same tensors, loaded by axk1 and by transformers."""

import copy
import json

import pytest
import torch
from safetensors.torch import load_file

import axk1
from axk1 import AXK1ForCausalLM, ModelConfig
from axk1.checkpoint import dcp as dcp_module
from axk1.checkpoint.dcp import load_checkpoint, save_checkpoint
from axk1.checkpoint.export import export_checkpoint
from axk1.checkpoint.mtp_order import EMBEDDING_FIRST, MTP_ORDER
from axk1.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint of one step, as the trainer writes it (the loss module holds the LM as `lm`), and its model."""
    root = tmp_path_factory.mktemp("ckpt")
    config = ModelConfig.from_preset("axk1-tiny")
    torch.manual_seed(0)
    holder = torch.nn.Module()
    holder.lm = AXK1ForCausalLM(config, with_mtp=True)
    optimizer = torch.optim.AdamW(holder.parameters())
    holder.lm(torch.tensor([[1, 2, 3]])).float().sum().backward()
    optimizer.step()
    with torch.no_grad():  # a bias the export must write as zeros
        for name, t in holder.named_buffers():
            if name.endswith("e_score_correction_bias"):
                t.fill_(0.5)
    step = save_checkpoint(root, 1, holder, optimizer, {"model_config": config.to_dict(), "mtp_depth": 1,
                                                        MTP_ORDER: EMBEDDING_FIRST})
    return step, holder.lm


def test_each_shard_reads_only_its_own_tensors_and_the_model_is_whole(trained, tmp_path, monkeypatch):
    step, model = trained
    reads = []
    real = dcp_module._load

    def counted(path, state, *args, **kwargs):
        reads.append(sorted(state["model"]))
        return real(path, state, *args, **kwargs)

    monkeypatch.setattr(dcp_module, "_load", counted)
    out = export_checkpoint(step, tmp_path / "out", max_shard_size="40KB", keep_mtp=True)
    shards = sorted(out.glob("model-*-of-*.safetensors"))
    assert len(shards) > 3 and (out / "mtp.safetensors").exists()
    everything = {f"lm.{k}" for k in model.state_dict() if not k.endswith("e_score_correction_bias")}
    read = [k for keys in reads for k in keys]
    # each tensor read once, stacked experts too; the embedding and head again for mtp.safetensors' copies of them
    # (vLLM reads them from the MTP layer): kept from the first shard, they would sit in memory the whole export
    again = ["lm.model.embed_tokens.weight", "lm.lm_head.weight"]
    assert set(read) == everything and sorted(read) == sorted([*everything, *again])
    assert len(reads) > 3 and max(map(len, reads)) < len(everything) / 2  # never the whole model at once

    # the MTP layer's copies of the embedding and head, which vLLM's DeepSeek MTP loader reads from that layer
    L, mtp = model.config.num_hidden_layers, load_file(out / "mtp.safetensors")
    assert torch.equal(mtp[f"model.layers.{L}.embed_tokens.weight"], model.model.embed_tokens.weight)
    assert torch.equal(mtp[f"model.layers.{L}.shared_head.head.weight"], model.lm_head.weight)
    loaded = axk1.load_model(out)
    want = model.state_dict()  # MTP included: --keep-mtp's mtp.safetensors loads with the rest
    for key, tensor in loaded.state_dict().items():
        if key.endswith("e_score_correction_bias"):
            assert not tensor.any(), key  # the release routes without the balancing bias
        else:
            torch.testing.assert_close(tensor, want[key], rtol=0, atol=0, msg=key)
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == {p.name for p in shards}
    spans = {}  # a layer's experts over several shards: read once all the same (above)
    for name, file in index["weight_map"].items():
        if ".experts." in name:
            spans.setdefault(name.split(".experts.")[0], set()).add(file)
    assert max(map(len, spans.values())) > 1


def test_the_streamed_export_loads_in_transformers_and_resumes_the_same_weights(trained, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    step, model = trained
    assert main(["export", str(step), str(tmp_path / "hf"), "--max-shard-size", "300KB", "--dtype", "bfloat16"]) == 0
    theirs = AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        ours = copy.deepcopy(model).to(torch.bfloat16).float()(ids)  # the same rounding as the export's
        torch.testing.assert_close(theirs.float()(ids).logits, ours, rtol=2e-2, atol=2e-2)
    holder = torch.nn.Module()  # the checkpoint itself is untouched: a resume reads the same weights
    holder.lm = AXK1ForCausalLM(model.config, with_mtp=True)
    load_checkpoint(step, holder, torch.optim.AdamW(holder.parameters()))
    torch.testing.assert_close(holder.lm.model.embed_tokens.weight, model.model.embed_tokens.weight)
    assert main(["export", str(step), str(tmp_path / "bad"), "--max-shard-size", "lots"]) == 2
    assert "cannot read shard size 'lots'" in capsys.readouterr().err


def test_export_writes_each_dtype_the_loader_reads(trained, tmp_path):
    """`axk1 export --dtype` offered float32 and bfloat16 only, though a float16 folder loads as every other does
    (axk1.config.DTYPES, the one table of dtype names)."""
    step, model = trained
    assert main(["export", str(step), str(tmp_path / "f16"), "--dtype", "float16"]) == 0
    assert json.loads((tmp_path / "f16" / "config.json").read_text())["dtype"] == "float16"
    loaded = axk1.load_model(tmp_path / "f16")
    assert loaded.lm_head.weight.dtype == torch.float16
    torch.testing.assert_close(loaded.model.embed_tokens.weight, model.model.embed_tokens.weight.half(), rtol=0, atol=0)


@pytest.mark.distributed
def test_export_under_torchrun_spreads_the_shards_and_writes_the_same_folder(trained, tmp_path, nproc=3):
    """Every rank writes its own run of the shards (the export of A.X K1 by one process reads and writes 2 TB);
    the folder is byte for byte the one process's, index and config included."""
    from tests.train_helpers import ranks_cli

    step, _ = trained
    one = export_checkpoint(step, tmp_path / "one", max_shard_size="40KB", keep_mtp=True)
    spy = tmp_path / "spy.py"  # records which rank wrote which file, then runs the CLI
    spy.write_text(SPY)
    ranks_cli("export", str(step), str(tmp_path / "many"), "--max-shard-size", "40KB", "--keep-mtp",
               nproc=nproc, script=spy)
    many = tmp_path / "many"
    assert sorted(p.name for p in many.iterdir() if p.suffix != ".log") == sorted(p.name for p in one.iterdir())
    for file in one.iterdir():
        assert (many / file.name).read_bytes() == file.read_bytes(), file.name
    writers = {}
    for log in many.glob("*.log"):
        for name in log.read_text().split():
            writers.setdefault(name, []).append(log.stem)
    shards = sorted(p.name for p in one.glob("model-*-of-*.safetensors"))
    assert sorted(n for n in writers if n.startswith("model-0")) == shards
    assert all(len(w) == 1 for w in writers.values())  # each file written once
    assert len({writers[s][0] for s in shards}) == nproc  # by every rank
    assert writers["config.json"] == writers["mtp.safetensors"] == ["rank0"]


SPY = """
import os, sys
from pathlib import Path
import axk1.checkpoint.hf as hf
from axk1.cli import main

real = hf.save_weights
def save_weights(tensors, file, metadata):
    with open(Path(file).parent / f"rank{os.environ['RANK']}.log", "a") as log:
        log.write(Path(file).name + "\\n")
    return real(tensors, file, metadata)
hf.save_weights = save_weights
real_config = hf.ModelConfig.save_pretrained
def save_config(self, path, *args, **kwargs):
    with open(Path(path) / f"rank{os.environ['RANK']}.log", "a") as log:
        log.write("config.json\\n")
    return real_config(self, path, *args, **kwargs)
hf.ModelConfig.save_pretrained = save_config
sys.exit(main())
"""


RANK1_SEES = """
import os, sys
from pathlib import Path
import axk1.checkpoint.export as export
from axk1.cli import main

if os.environ["RANK"] == "1":  # this rank's listing shows another step (a save appearing, a lagging cache)
    export.resolve_checkpoint = lambda path: Path(os.environ["OTHER_STEP"])
sys.exit(main())
"""


@pytest.mark.distributed
def test_under_torchrun_every_rank_exports_the_step_rank_0_chose(trained, tmp_path, monkeypatch):
    """Each rank listed the checkpoints folder on its own: one that listed another newest step wrote its shards
    from it, and the folder loaded as a model mixed from two steps (exit 0). Rank 0 chooses now, as --resume's
    listing does."""
    from tests.train_helpers import ranks_cli

    step, model = trained
    other = copy.deepcopy(model)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    holder = torch.nn.Module()
    holder.lm = other
    other_step = save_checkpoint(tmp_path / "other", 2, holder, None,
                                 {"model_config": model.config.to_dict(), "mtp_depth": 1, MTP_ORDER: EMBEDDING_FIRST})
    one = export_checkpoint(step, tmp_path / "one", max_shard_size="40KB")
    spy = tmp_path / "spy.py"
    spy.write_text(RANK1_SEES)
    monkeypatch.setenv("OTHER_STEP", str(other_step))
    ranks_cli("export", str(step.parent), str(tmp_path / "many"), "--max-shard-size", "40KB", script=spy)
    for file in one.iterdir():
        assert (tmp_path / "many" / file.name).read_bytes() == file.read_bytes(), file.name


RANK1_DISK_FULL = """
import errno, os, sys
import axk1.checkpoint.hf as hf
from axk1.cli import main

if os.environ["RANK"] == "1":
    def full(tensors, file, metadata):
        raise OSError(errno.ENOSPC, "No space left on device", str(file))
    hf.save_weights = full
sys.exit(main())
"""


@pytest.mark.distributed
def test_a_distributed_export_that_fails_part_way_does_not_look_whole(trained, tmp_path):
    """Rank 0 wrote config.json and the index while another rank was still writing its shards: a rank whose disk
    filled left a folder that looked like a model. They are written once every rank's shards are."""
    from tests.train_helpers import ranks_cli

    spy = tmp_path / "spy.py"
    spy.write_text(RANK1_DISK_FULL)
    err = ranks_cli("export", str(trained[0]), str(tmp_path / "out"), "--max-shard-size", "40KB", script=spy,
                    fails=True)
    assert "No space left on device" in err
    assert not (tmp_path / "out" / "config.json").exists()
    assert not (tmp_path / "out" / "model.safetensors.index.json").exists()


def test_a_failed_re_export_keeps_the_model_that_was_there(trained, tmp_path, monkeypatch):
    """A re-export into a model folder emptied it first: a disk that filled while the new shards were written left
    no model at all where a good one had been. The new one is written beside it and swapped in whole."""
    import errno

    import axk1.checkpoint.hf as hf

    step, _ = trained
    out = tmp_path / "model"
    export_checkpoint(step, out, dtype=torch.bfloat16)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real, calls = hf.save_weights, []

    def fills_up(tensors, file, metadata):
        calls.append(file)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(file))
        real(tensors, file, metadata)

    monkeypatch.setattr(hf, "save_weights", fills_up)
    with pytest.raises(OSError, match="the model that was there is unchanged"):
        export_checkpoint(step, out, max_shard_size="40KB")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging folder left taking the space
    monkeypatch.setattr(hf, "save_weights", real)
    export_checkpoint(step, out, max_shard_size="40KB")  # and a later export replaces it whole
    assert len(list(out.glob("model-*.safetensors"))) > 1 and "model.safetensors" not in {p.name for p in out.iterdir()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_what_a_killed_export_left_is_cleared_after_the_new_one(trained, tmp_path, monkeypatch):
    """A killed export leaves its staging folder (up to a whole model). Rank 0 deleted it before the export's first
    barrier, where the other ranks wait on the default group's timeout; it is renamed aside now and deleted once no
    rank waits (here: nothing is deleted before the new model is in place)."""
    import axk1.checkpoint.export as export_module

    step, _ = trained
    out = tmp_path / "model"
    stale = tmp_path / ".model.partial"
    stale.mkdir()
    (stale / "model-00001-of-00009.safetensors").write_bytes(b"cut")
    deleted_when = []
    real = export_module.discard
    monkeypatch.setattr(export_module, "discard",
                        lambda path: deleted_when.append((path is not None and path.name, out.exists())) or real(path))
    export_checkpoint(step, out)
    assert any(name and name.startswith(".model.partial-old-") and model_there for name, model_there in deleted_when)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"] and (out / "config.json").exists()


KILL_BETWEEN_RENAMES = """
import os, signal, sys
from pathlib import Path
from axk1.cli import main

real = Path.rename
def rename(self, target):  # SIGKILL right after the old model was moved aside: a real kill, only its moment chosen
    moved = real(self, target)
    if Path(target).name.endswith(".replaced"):
        os.kill(os.getpid(), signal.SIGKILL)
    return moved
Path.rename = rename
sys.exit(main(["export", *sys.argv[1:]]))
"""


def test_an_export_killed_between_its_renames_is_named_and_the_next_one_puts_the_model_back(trained, tmp_path,
                                                                                           monkeypatch, capsys):
    """Killed between its two renames, `axk1 export` left no model folder (the old one in .model.replaced, the new
    one in .model.partial): `axk1 generate model` said only "does not exist", and the next export deleted the old
    one unasked, so a next export that failed left nothing at all."""
    import errno
    import os
    import re
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import axk1.checkpoint.hf as hf
    from axk1.config import model_config_file

    step, _ = trained
    out = tmp_path / "model"
    export_checkpoint(step, out, dtype=torch.bfloat16)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    driver = tmp_path / "driver.py"
    driver.write_text(KILL_BETWEEN_RENAMES)
    killed = subprocess.run([sys.executable, str(driver), str(step), str(out)], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    replaced, partial = tmp_path / ".model.replaced", tmp_path / ".model.partial"
    assert not out.exists() and replaced.is_dir() and (partial / "config.json").is_file()
    with pytest.raises(FileNotFoundError, match=rf"{re.escape(str(out))} does not exist: .*the model that was there "
                                                rf"is in {re.escape(str(replaced))}, the new one in "
                                                rf"{re.escape(str(partial))}\. Run that command again"):
        model_config_file(out)  # what `axk1 generate` / `serve` / `eval` check first

    def full_disk(tensors, file, metadata):
        raise OSError(errno.ENOSPC, "No space left on device", str(file))

    monkeypatch.setattr(hf, "save_weights", full_disk)  # the next export fails too: the earlier model is back
    with pytest.raises(OSError, match="the model that was there is unchanged"):
        export_checkpoint(step, out)
    assert "put it back" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    monkeypatch.undo()
    export_checkpoint(step, out)
    # nothing hidden left but the lock file of the killed `axk1 export` (kept, as every run's: run_lock.py)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.axk1-run.lock", "driver.py", "model"]


@pytest.mark.parametrize("flag, seconds", [((), 1800.0), (("--collective-timeout-s", "7200"), 7200.0)])
def test_an_export_under_torchrun_waits_as_long_as_its_flag_says(monkeypatch, flag, seconds):
    """Every rank writes its share of the shards and the group waits for the slowest: with the collective timeout
    added for training, an export under torchrun got its 600 s default, with no way to change it."""
    import axk1.parallel.distributed as distributed
    from axk1.cli import main

    class Stop(Exception):
        pass

    def init(device, timeout_s=None):
        raise Stop(timeout_s)

    monkeypatch.setattr(distributed, "launched_with_torchrun", lambda: True)
    monkeypatch.setattr(distributed, "init_distributed", init)
    with pytest.raises(Stop) as stopped:
        main(["export", "ckpt", "out", *flag])
    assert stopped.value.args == (seconds,)
