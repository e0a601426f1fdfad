"""The training device: [run] device "auto" and --device, the process group a GPU run starts (NCCL with gloo
beside it), and the device of every tensor the trainer hands to a collective.

Why not init_process_group("cuda:gloo") on this CPU-only build: it does mimic NCCL's device map (a CPU tensor then
raises "No backend type associated with device type cpu"), but so does every tensor of the model, which is a CPU
tensor here, so no trainer could pass. Instead a 2-rank gloo run marks the tensors that code makes on the host (a
factory such as torch.zeros or torch.tensor that names no device: torch's default device, the CPU) and records
every collective: under NCCL each host tensor in one would fail, except in `host_all_sum`, which sends its CPU
tensor to the group's gloo backend on purpose.
"""

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from axk1.cli import build_parser, recipe_overrides
from axk1.parallel import distributed
from axk1.device import resolve_device
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.gloo_ranks import run_ranks
from tests.train_helpers import write_recipe
from tests.collective_census import HostTensors, record_collectives


def test_auto_is_cuda_only_when_torch_sees_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="sees no GPU"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="not a device"):
        resolve_device("gpu0")


def test_device_flag_and_default(tmp_path, monkeypatch):
    path = write_recipe(tmp_path)
    path.write_text(path.read_text().replace('device = "cpu"', ""))  # no [run] device: "auto"
    assert load_recipe(path).run.device == ("cuda" if torch.cuda.is_available() else "cpu")
    parser = build_parser()
    for verb in ("train", "sft", "rl"):
        args, extra = parser.parse_known_args([verb, str(path), "--run.device", "cuda", "--device", "cpu"])
        # the flag comes last, so it wins over --run.device
        assert recipe_overrides(args, extra) == ["--run.device", "cuda", "--run.device", "cpu"]
    args, extra = parser.parse_known_args(["train", str(path), "--device", "cpu"])
    assert load_recipe(path, recipe_overrides(args, extra)).run.device == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # "auto" on a GPU box (nothing runs on it here)
    args, extra = parser.parse_known_args(["train", str(path), "--device", "auto"])
    assert load_recipe(path, recipe_overrides(args, extra)).run.device == "cuda"


def test_gpu_process_group_has_nccl_and_gloo(monkeypatch):
    calls = []
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda *a, **k: calls.append((a, k)))
    monkeypatch.setattr(dist, "new_group", lambda *a, **k: calls.append(("new_group", k)))
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(("set_device", d)))
    monkeypatch.setattr(distributed, "_checkpoint_group", None)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.init_distributed(torch.device("cuda"), 90) == torch.device("cuda", 1)
    # the launch's collective timeout, [run] collective_timeout_s (NCCL's and gloo's defaults otherwise); the
    # checkpoint group (gloo) made at once, with the same timeout
    assert calls == [("set_device", torch.device("cuda", 1)),
                     (("cpu:gloo,cuda:nccl",), {"device_id": torch.device("cuda", 1),
                                                "timeout": timedelta(seconds=90)}),
                     ("new_group", {"backend": "gloo", "timeout": timedelta(seconds=90)})]
    calls.clear()
    assert distributed.init_distributed(torch.device("cpu")) == torch.device("cpu")
    assert calls == [(("gloo",), {"timeout": timedelta(seconds=600)}),
                     ("new_group", {"backend": "gloo", "timeout": timedelta(seconds=600)})]


def _step_recording_collectives(rank: int, recipe: str, out: str) -> None:
    os.environ["WORLD_SIZE"] = "2"  # the trainer's torchrun check (run_ranks has started the group)
    calls: list[dict] = []
    host = HostTensors()
    record_collectives(host, calls)
    with host:  # from the start: the trainer makes some of its tensors in __init__
        trainer = Trainer(load_recipe(recipe))
        trainer.train_step(0)
    if rank == 0:
        Path(out).write_text(json.dumps(calls))


@pytest.mark.distributed
def test_collectives_get_device_tensors(tmp_path):
    recipe = write_recipe(tmp_path, extra='[parallelism]\ndp_shard = 2\nep = 2')
    out = tmp_path / "calls.json"
    run_ranks(_step_recording_collectives, 2, str(recipe), str(out))
    calls = json.loads(out.read_text())
    wrong = sorted({c["caller"] for c in calls if c["host"] and c["caller"] != "distributed.py:host_all_sum"})
    assert not wrong, f"host tensors in a device collective (NCCL would reject them) from {wrong}"
    callers = {c["caller"] for c in calls}
    # the check saw the real traffic: the trainer's, clipping's, balancing's, FSDP2's, and the host sums
    for caller in ("trainer.py:account", "fsdp.py:clip_grad_norm_tensor_", "balance.py:step",
                   "distributed.py:host_all_sum"):
        assert caller in callers, (caller, sorted(callers))
    ops = {c["op"] for c in calls}
    # FSDP2's gathers and reduce-scatters: torch 2.13 calls the *_single collectives, 2.11 (the H200 image) the
    # *_into_tensor / *_tensor ones
    assert "all_to_all_single" in ops and ops & {"all_gather_single", "all_gather_into_tensor"}, ops
    assert ops & {"reduce_scatter_single", "reduce_scatter_tensor"}, ops
    assert all(c["host"] for c in calls if c["caller"] == "distributed.py:host_all_sum")


@pytest.mark.gpu
def test_cuda_steps_follow_cpu(tmp_path):
    """The whole single-process step on a GPU (not yet run on one when written): same init, same batches."""
    rows = {}
    for device in ("cpu", "cuda"):
        (tmp_path / device).mkdir()
        path = write_recipe(tmp_path / device, extra="max_steps = 2")
        path.write_text(path.read_text().replace('device = "cpu"', f'device = "{device}"'))
        rows[device] = Trainer(load_recipe(path)).fit()
    got, want = rows["cuda"], rows["cpu"]
    assert got[0]["loss"] == pytest.approx(want[0]["loss"], rel=1e-4)
    assert got[0]["grad_norm"] == pytest.approx(want[0]["grad_norm"], rel=1e-3)
    assert got[1]["loss"] == pytest.approx(want[1]["loss"], rel=1e-2)  # after one Adam step: kernels' rounding
