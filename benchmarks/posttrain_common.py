"""Shared by benchmarks/bench_posttrain.py's parts: the hyper-parameters both sides use, the model folder and data
they start from, a step clock, the profiler summary and the machine's name."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import axk1  # noqa: E402
from axk1.text.tokenizer_file import write_tokenizer_files  # noqa: E402
from axk1.posttrain.tasks import generate_tasks, to_chat, write_jsonl  # noqa: E402
from serve_helpers import train_tokenizer  # noqa: E402

LR, BETAS, EPS, WD, CLIP, SEED = 1e-4, (0.9, 0.95), 1e-8, 0.1, 1.0, 1234
GSPO_CLIP = (3e-3, 4e-3)  # axk1's default GSPO clip range, given to TRL as epsilon / epsilon_high


def quiet_hf() -> None:
    import logging

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    for name in ("transformers", "trl", "accelerate", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)
    hf_logging.disable_progress_bar()
    import warnings

    import datasets

    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message="torch.distributed is disabled")  # DCP's single-process save


# ---- shared inputs ----
def make_model_folder(path: Path, preset: str, vocab: int) -> axk1.ModelConfig:
    """The model both sides start from: the preset with its vocabulary trimmed and no MTP head, and a byte-level
    BPE + chat template written the way tests/serve_helpers.py does."""
    config = axk1.ModelConfig.from_preset(preset).replace(vocab_size=vocab, num_nextn_predict_layers=0)
    torch.manual_seed(0)
    axk1.save_pretrained(axk1.AXK1ForCausalLM(config), path)
    write_tokenizer_files(path, train_tokenizer(vocab).to_str(), model_max_length=config.max_position_embeddings)
    return config


def write_chat_rows(path: Path, n: int) -> None:
    """Think-mode chat rows from axk1's generated verified tasks (math and code, English and Korean), as the demo's
    SFT data: user prompt, assistant reasoning_content + answer."""
    write_jsonl(path, [to_chat(t, "think") for t in generate_tasks(n, seed=0)])


def write_tasks(path: Path, n: int) -> None:
    """RL tasks: generated verified math tasks (the integer answer is checked), both languages."""
    write_jsonl(path, generate_tasks(n, seed=1, kinds=("math",)))


class StepClock:
    """perf_counter at the end of every optimizer step."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def tick(self) -> None:
        self.ends.append(time.perf_counter())




def top_ops(fn, n: int = 8) -> dict:
    """fn() under torch.profiler: wall time (inflated by the profiler) and the n ops with the most self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t = time.perf_counter()
        fn()
        wall = time.perf_counter() - t
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) / 1e6
    return {"wall_s": round(wall, 3), "self_cpu_s": round(total, 3), "ops": sum(e.count for e in events),
            "top": [[e.key, round(e.self_cpu_time_total / 1e6, 3), e.count] for e in events[:n]]}




def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()

