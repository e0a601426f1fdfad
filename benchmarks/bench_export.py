"""`axk1 export`'s memory (axk1/checkpoint/export.py): the peak resident memory of exporting a training checkpoint
of a ~450M-parameter model (fp32) to safetensors shards of 100 MB, in a fresh process, its time, and the bytes it
asks of the checkpoint.

    .venv/bin/python benchmarks/bench_export.py [--dir /tmp/bench_export] [--ranks 2]

`--ranks N` times the same export as `torchrun --nproc-per-node N -m axk1 export` beside one process's (each rank
writes its own run of the shards; the folders are compared byte for byte), the whole command in both cases.

The checkpoint (a DCP step folder with the model, AdamW state and train state, as the trainer writes it) is made
once in --dir and kept for reruns, so another commit's export can be measured on the same files.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIG = dict(hidden_size=1024, intermediate_size=2816, moe_intermediate_size=512, num_hidden_layers=8,
              n_routed_experts=32, num_experts_per_tok=4, vocab_size=32768)

# The child's peak from VmHWM, its own address space's: getrusage's ru_maxrss keeps the parent's peak across the
# fork and exec (the parent holds the whole model while it makes the checkpoint).
CHILD = """
import re, sys, time
import axk1.checkpoint.dcp as dcp
from axk1.checkpoint.export import export_checkpoint
read = [0]
load = dcp._load
def counted(path, state, *args, **kwargs):  # the bytes each read asks of the checkpoint
    read[0] += sum(t.numel() * t.element_size() for t in state["model"].values() if hasattr(t, "numel"))
    return load(path, state, *args, **kwargs)
dcp._load = counted
t0 = time.perf_counter()
export_checkpoint(sys.argv[1], sys.argv[2], **({"max_shard_size": "100MB"} if sys.argv[3] == "1" else {}))
hwm = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
print(time.perf_counter() - t0, hwm / 1024, read[0] / 1e9)
"""


def make_checkpoint(folder: Path) -> Path:
    import torch

    from axk1 import AXK1ForCausalLM, ModelConfig
    from axk1.checkpoint.dcp import save_checkpoint

    step = folder / "step-000001"
    if step.exists():
        return step
    config = ModelConfig.from_preset("axk1-mini").replace(**CONFIG)
    holder = torch.nn.Module()
    holder.lm = AXK1ForCausalLM(config)
    optimizer = torch.optim.AdamW(holder.parameters())
    holder.lm(torch.tensor([[1, 2, 3]])).float().sum().backward()
    optimizer.step()
    return save_checkpoint(folder, 1, holder, optimizer, {"model_config": config.to_dict(), "mtp_depth": 0})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/bench_export")
    ap.add_argument("--shard-arg", default="1", help="0 for a commit whose export has no max_shard_size")
    ap.add_argument("--ranks", type=int, default=1, help="also time the export under torchrun with this many ranks")
    folder = Path(ap.parse_args().dir)
    args = ap.parse_args()
    step = make_checkpoint(folder)
    size = sum(p.stat().st_size for p in step.iterdir()) / 1e9
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, str(step), str(folder / "out"), args.shard_arg],
                         capture_output=True, text=True, check=True)
    seconds, peak_mb, read_gb = map(float, out.stdout.split())
    model_gb = sum(p.stat().st_size for p in (folder / "out").glob("*.safetensors")) / 1e9
    print(f"checkpoint {size:.2f} GB, model {model_gb:.2f} GB: export {seconds:.1f} s "
          f"(process {time.perf_counter() - t0:.1f} s), peak RSS {peak_mb:,.0f} MB, read {read_gb:.2f} GB")
    if args.ranks > 1:
        compare_ranks(step, folder, args.ranks)


def compare_ranks(step: Path, folder: Path, ranks: int) -> None:
    """The CLI's export in one process and under torchrun with `ranks` ranks: wall time of each command."""
    import os
    import socket

    (folder / "tmp").mkdir(exist_ok=True)  # TMPDIR: torchrun's agent leaves a torchelastic_* folder per launch
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "TMPDIR": str(folder / "tmp")}
    times = {}
    for n in (1, ranks):
        out = folder / f"out-{n}"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        launch = [sys.executable, "-m", "axk1"] if n == 1 else [
            sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n), "--master-addr", "127.0.0.1",
            "--master-port", str(port), "-m", "axk1"]
        t0 = time.perf_counter()
        subprocess.run([*launch, "export", str(step), str(out), "--max-shard-size", "100MB"], env=env, check=True,
                       capture_output=True)
        times[n] = time.perf_counter() - t0
    same = all((folder / f"out-{ranks}" / p.name).read_bytes() == p.read_bytes() for p in (folder / "out-1").iterdir())
    print(f"axk1 export, whole command: 1 process {times[1]:.1f} s, {ranks} ranks {times[ranks]:.1f} s "
          f"({times[1] / times[ranks]:.2f}x); folders identical: {same}")


if __name__ == "__main__":
    main()
