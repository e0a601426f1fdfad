"""`torchrun --nproc-per-node 2 -m axk1 sft` with FSDP2 + expert parallelism (gloo, CPU) gives the single-process
run's losses: SFT is the pretraining trainer with a chat batch source, so its data-parallel split, masking and
token-weighted loss must not depend on the launch."""

import json
import os
import socket
import subprocess
import sys

import pytest

from axk1.posttrain.sft import parse_sft_recipe, run_sft
from axk1.train.metrics import read_jsonl
from tests.serve_helpers import ROOT, make_model_folder


def _rows(n: int) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"What is {i} plus {i % 7}?"},
                          {"role": "assistant", "content": f"{i + i % 7}", "reasoning_content": f"{i}+{i % 7}"}]}
            for i in range(n)]


def _recipe(folder, data, out, parallel: str = "") -> str:
    text = f"""
[model]
init_from = "{folder}"
mtp_depth = 0
[sft]
data = ["{data}"]
mode = "think"
seq_len = 64
[optimizer]
lr = 3e-3
[schedule]
kind = "constant"
[batch]
global_sequences = 4
micro_batch = 1
[checkpointing]
interval_steps = 100
[logging]
every_steps = 1
progress = false
[run]
out_dir = "{out}"
max_steps = 3
{parallel}
"""
    return text


def test_torchrun_sft_fsdp_ep_matches_single_process(tmp_path):
    folder = make_model_folder(tmp_path / "base")
    data = tmp_path / "chat.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in _rows(40)) + "\n")
    import tomllib

    one = run_sft(parse_sft_recipe(tomllib.loads(_recipe(folder, data, tmp_path / "one")), tmp_path))["rows"]
    recipe = tmp_path / "two.toml"
    recipe.write_text(_recipe(folder, data, tmp_path / "two", "[parallelism]\ndp_shard = 2\nep = 2"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(port), "-m", "axk1", "sft", str(recipe)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = read_jsonl(tmp_path / "two" / "metrics.jsonl")
    assert len(two) == len(one) == 3
    # same token-weighted loss over the same packed rows; gradients summed in another order (float noise)
    assert [r["loss"] for r in two] == pytest.approx([r["loss"] for r in one], rel=1e-5)
    assert [r["grad_norm"] for r in two] == pytest.approx([r["grad_norm"] for r in one], rel=1e-4)
    assert (tmp_path / "two" / "model" / "config.json").exists()  # rank 0 exported the trained model
