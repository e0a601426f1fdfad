"""`torchrun --nproc-per-node 2 -m axk1.cli train` with FSDP2 + expert parallelism (gloo, CPU), stopped after
2 steps and resumed from its sharded checkpoint, follows the single-process run of the same recipe."""

import os
import socket
import subprocess
import sys

import pytest

from axk1.checkpoint.dcp import list_steps
from axk1.train.metrics import read_jsonl
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.test_train_loop import write_recipe


def _recipe(folder, extra):
    path = write_recipe(folder, extra=extra)
    return path
    return path


def test_torchrun_fsdp_ep_matches_single_process(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    Trainer(load_recipe(_recipe(one, "max_steps = 4"))).fit()
    recipe = _recipe(two, "[parallelism]\ndp_shard = 2\nep = 2")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(port), "-m", "axk1.cli", "train", str(recipe)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # 2 steps, then resume the sharded (FSDP2 + EP) checkpoint for 2 more
    for extra in (["--max-steps", "2"], ["--max-steps", "4", "--resume"]):
        proc = subprocess.run(cmd + extra, capture_output=True, text=True, timeout=150, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
    want = [r["loss"] for r in read_jsonl(one / "run" / "metrics.jsonl")]
    got = [r["loss"] for r in read_jsonl(two / "run" / "metrics.jsonl")]
    assert len(got) == len(want) == 4
    # Steps 1-2 agree to float rounding. Later steps drift by ~4e-4 relative: see the note in the report (the
    # gradient after the first update differs by ~1e-5 relative between the two runs; not yet explained).
    assert got[:2] == pytest.approx(want[:2], rel=1e-6)
    assert got == pytest.approx(want, rel=2e-3)
    assert list_steps(two / "run" / "checkpoints") == [2, 4]
