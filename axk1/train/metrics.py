"""Training metrics: the MFU's peak (its FLOPs per token are axk1.flops'), the JSONL log, and the end-of-run plots."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

from axk1.atomic_file import atomic_writer
from axk1.hardware import gpu_for_device_name
from axk1.json_text import read_metrics_rows, strict_json


_MEASURED: dict[int, float] = {}  # thread count -> FLOP/s, measured once a process (see measure_matmul_peak)


def measure_matmul_peak(seconds: float = 0.6, n: int = 1024, trials: int = 6) -> float:
    """This machine's fp32 matrix-multiply rate in FLOP/s at torch's current thread count (the MFU denominator on
    CPU): the best of `trials` windows over `seconds`, measured once a process and thread count (a second run in the
    process, as the demo's four stages are, reads the figure the first measured; a figure an earlier call left stays
    the answer). On a shared machine a window that catches other work reads low and inflates MFU: the old 0.5 s in
    0.1 s windows recorded an MFU of 1.21, and two identical runs differed ~4x. Windows of 0.1 s each hold a few
    1024^3 products, so one with the cores free decides (0.6 s of every core in all, which each run in a process
    paid before); a figure against it is still indicative only (the model's matmuls are not this one)."""
    threads = torch.get_num_threads()
    if threads in _MEASURED:
        return _MEASURED[threads]
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = 0.0
    for _ in range(trials):
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / trials:
            a @ b
            reps += 1
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start))
    _MEASURED[threads] = best
    return best


def peak_source(device: torch.device, peak_tflops: float = 0.0) -> str:
    """What peak_flops divides by, as the metrics rows name it (`peak_source`): "recipe" ([logging] peak_tflops),
    "measured" (CPU: this machine's fp32 matmul rate, indicative only) or "datasheet" (a GPU's dense bf16 peak)."""
    return "recipe" if peak_tflops > 0 else "measured" if device.type == "cpu" else "datasheet"


def peak_flops(device: torch.device, precision: str, peak_tflops: float = 0.0) -> float:
    """The MFU denominator per device: the recipe's `[logging] peak_tflops` if set; on CPU the measured fp32
    matmul rate; on a GPU the datasheet's dense peak for bf16 (axk1.hardware) when the name is known, else
    0 (MFU not shown)."""
    if peak_tflops > 0:
        return peak_tflops * 1e12
    if device.type == "cpu":
        return measure_matmul_peak()
    if device.type == "cuda" and precision == "bf16":
        gpu = gpu_for_device_name(torch.cuda.get_device_name(device))
        return gpu.bf16_tflops * 1e12 if gpu is not None and gpu.bf16_tflops else 0.0
    return 0.0


class JsonlLog:
    """Append-only metrics file; on resume, rows past the checkpoint's step are dropped (they will be redone)."""

    def __init__(self, path: str | Path, resume_step: int | None = None) -> None:
        self.path = Path(path) if path else None
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()  # the run that wrote the checkpoint made it empty at its start
        if resume_step is None:
            self.path.write_text("")
        elif self.path.exists():  # a run killed while writing a row left it torn: a row past the checkpoint
            rows = [r for r in read_metrics_rows(self.path, torn_tail=True) if r.get("step", 0) <= resume_step]
            # written aside, then renamed over: a kill or a full disk during the rewrite keeps the old rows
            with atomic_writer(self.path) as f:
                f.write("".join(strict_json(r) + "\n" for r in rows))  # an older file's NaN: strict now
        if resume_step is not None and resume_step > 0 and new:
            # a resume in a new --out that holds only copied checkpoints: the file began at the resumed step
            # without a word, as if the run had lost its history (a file without rows yet is this run's: the
            # steps before logged none)
            print(f"note: {self.path.name} starts at step {resume_step + 1}: the steps before are in the run that "
                  "wrote the checkpoint", file=sys.stderr, flush=True)

    def write(self, row: dict[str, Any]) -> None:
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(strict_json(row) + "\n")


class TensorBoardLog:
    """The same rows as TensorBoard scalars (every numeric field, tagged by its name); on resume, events past the
    checkpoint's step are purged, as the JSONL rows are."""

    def __init__(self, path: str | Path, resume_step: int | None = None) -> None:
        self.writer = None
        if path:
            from torch.utils.tensorboard import SummaryWriter

            # an unwritable folder failed in tensorboard's writer thread: its ~25-line traceback, then the error
            # with the file as bytes (b'...') and no word on what to do
            _check_writable(Path(path))
            _quiet_writer_threads()
            try:
                self.writer = SummaryWriter(str(path), purge_step=None if resume_step is None else resume_step + 1)
            except OSError as e:
                raise _unwritable(Path(path), e) from None

    def write(self, row: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for key, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "step":
                self.writer.add_scalar(key, value, row["step"])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _check_writable(folder: Path) -> None:
    """Makes `folder` and writes a file in it, which is what the writer will do (permissions alone do not say it:
    a read-only file system, a full disk)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".axk1-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise _unwritable(folder, e) from None


def _unwritable(folder: Path, e: OSError) -> OSError:
    error = OSError(f"the TensorBoard folder {folder} cannot be written ({e.strerror or e}): make it writable (free "
                    "space there if the disk is full), or set [logging] tensorboard to another folder, or to \"\" "
                    "for no TensorBoard log")
    error.errno = e.errno
    return error


def _quiet_writer_threads() -> None:
    """A write that fails in tensorboard's writer thread (a full disk) is raised again where the run writes next,
    where MetricsWriter says it in a line; the thread printed its own traceback first, through threading's hook.
    Now that hook passes over a tensorboard thread's OSError (anything else, and every other thread's, still
    prints)."""
    if getattr(threading.excepthook, "axk1_quiet_tensorboard", False):
        return
    previous = threading.excepthook

    def hook(args) -> None:
        if not (type(args.thread).__module__.startswith("tensorboard.") and issubclass(args.exc_type, OSError)):
            previous(args)

    hook.axk1_quiet_tensorboard = True
    threading.excepthook = hook


def plot_run(rows: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """loss.png (per stage), loss_by_domain.png and expert_load.png (max/mean load per MoE layer) from the JSONL
    rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    rows = [r for r in rows if "loss" in r]
    if not rows:
        return []
    written = []
    fig, ax = plt.subplots(figsize=(7, 4))
    for stage in dict.fromkeys(r["stage"] for r in rows):
        sel = [r for r in rows if r["stage"] == stage]
        ax.plot([r["step"] for r in sel], [r["loss"] for r in sel], label=stage)
    val = [r for r in rows if "val_loss" in r]
    if val:  # held-out documents (axk1/train/validation.py): the gap to the training curve is memorisation
        ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "k.--", label="validation (held out)")
    ax.set_xlabel("step"), ax.set_ylabel("next-token loss (nats)"), ax.legend()
    ax.set_title("training and validation loss" if val else "training loss")
    fig.tight_layout(), fig.savefig(out_dir / "loss.png", dpi=100), plt.close(fig)
    written.append(out_dir / "loss.png")
    domains = sorted({k.split("/", 1)[1] for r in rows for k in r if k.startswith("loss/")})
    if domains:
        fig, ax = plt.subplots(figsize=(7, 4))
        for d in domains:
            sel = [r for r in rows if f"loss/{d}" in r]
            ax.plot([r["step"] for r in sel], [r[f"loss/{d}"] for r in sel], label=d, marker=".", markersize=3)
        ax.set_xlabel("step"), ax.set_ylabel("next-token loss (nats)"), ax.legend(fontsize=8)
        ax.set_title("training loss per domain")
        fig.tight_layout(), fig.savefig(out_dir / "loss_by_domain.png", dpi=100), plt.close(fig)
        written.append(out_dir / "loss_by_domain.png")
    keys = sorted(k for k in rows[-1] if k.startswith("load_max_over_mean/"))
    if keys:
        fig, ax = plt.subplots(figsize=(7, 4))
        for k in keys:
            ax.plot([r["step"] for r in rows if k in r], [r[k] for r in rows if k in r], label=k.split("/", 1)[1])
        ax.set_xlabel("step"), ax.set_ylabel("max / mean expert load"), ax.legend(fontsize=7)
        fig.tight_layout(), fig.savefig(out_dir / "expert_load.png", dpi=100), plt.close(fig)
        written.append(out_dir / "expert_load.png")
    return written
