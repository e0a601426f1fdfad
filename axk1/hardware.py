"""Accelerators and the FLOP budget C = GPUs x seconds x achieved FLOP/s.

Peaks are the vendors' dense (no 2:4 sparsity) tensor-core figures per GPU, from the public datasheets:
NVIDIA A100 (SXM4 80 GB), H100 SXM5, H800 SXM5 (H100 compute, NVLink cut to 400 GB/s), H200 SXM, HGX B200,
GB200 NVL72 (per Blackwell GPU); AMD Instinct MI300X. Interconnect is the per-GPU scale-up bandwidth
(NVLink / Infinity Fabric, bidirectional) and the usual scale-out NIC per GPU.

Default utilisation (MFU, model FLOPs / dense peak of the chosen precision):
* bf16 0.40. With 1,024 H200 for 73 days this gives 1024 x 73 x 86400 s x 989 TFLOP/s x 0.40 = 2.555e24,
  the A.X K1 report's budget of 2.548e24 (docs/training.md, "Budget") within 0.3%; so 40% of the
  bf16 peak is the planning assumption that report used (our reconstruction; the report gives only C).
* fp8 0.20 of the fp8 peak: the same ~396 TFLOP/s on Hopper. Achieved figures for comparison: A.X K1
  301.72 TFLOP/s on H200 with FP8 (15% of fp8 peak, 31% of bf16); Megatron-Core ~350 TFLOP/s for
  DeepSeek-V3 on H100 with FP8 (docs/training.md, "Throughput"); PyTorch-native fine-grained MoE ~20% of bf16.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SECONDS_PER_DAY = 86_400
DEFAULT_MFU = {"bf16": 0.40, "fp8": 0.20}
PRECISIONS = ("bf16", "fp8")


@dataclass(frozen=True)
class GPU:
    name: str
    bf16_tflops: float  # dense peak
    fp8_tflops: float | None  # dense peak; None where the chip has no FP8 tensor cores
    memory_gb: float  # HBM per GPU (10^9 bytes)
    hbm_tb_s: float
    scale_up_gb_s: float  # NVLink / Infinity Fabric per GPU
    scale_out_gbit_s: float  # InfiniBand / RoCE NIC per GPU
    source: str

    def peak_tflops(self, precision: str) -> float:
        if precision == "bf16":
            return self.bf16_tflops
        if self.fp8_tflops is None:
            raise ValueError(f"{self.name} has no FP8 tensor cores: use --precision bf16")
        return self.fp8_tflops


GPUS: dict[str, GPU] = {g.name: g for g in [
    GPU("A100", 312.0, None, 80, 2.04, 600, 200, "NVIDIA A100 datasheet (SXM4 80GB)"),
    GPU("H100", 989.4, 1978.9, 80, 3.35, 900, 400, "NVIDIA H100 datasheet (SXM5)"),
    GPU("H800", 989.4, 1978.9, 80, 3.35, 400, 400, "H100 SXM5 compute, NVLink 400 GB/s (DeepSeek-V3 report)"),
    GPU("H200", 989.4, 1978.9, 141, 4.8, 900, 400, "NVIDIA H200 datasheet (SXM)"),
    GPU("B200", 2250.0, 4500.0, 180, 7.7, 1800, 400, "NVIDIA HGX B200 datasheet (per GPU)"),
    GPU("GB200", 2500.0, 5000.0, 186, 8.0, 1800, 800, "NVIDIA GB200 NVL72 datasheet (per Blackwell GPU)"),
    GPU("MI300X", 1307.4, 2614.9, 192, 5.3, 896, 400, "AMD Instinct MI300X datasheet"),
]}
ALIASES = {"A100-80GB": "A100", "A100-SXM": "A100", "H100-SXM": "H100", "H100-SXM5": "H100", "H200-SXM": "H200",
           "HGX-B200": "B200", "GB200-NVL72": "GB200", "MI300": "MI300X"}


def get_gpu(name: str) -> GPU:
    key = name.strip().upper().replace("_", "-").replace(" ", "-")
    key = ALIASES.get(key, key)
    if key not in GPUS:
        raise ValueError(f"unknown GPU {name!r}; known GPUs: {', '.join(GPUS)}")
    return GPUS[key]


MAX_FLOPS = 1e32  # a budget past this is a typo (the largest runs so far: ~5e25)


@dataclass(frozen=True)
class Budget:
    gpu: GPU
    gpus: int
    days: float
    precision: str
    achieved_tflops: float  # per GPU, model FLOPs
    mfu: float  # achieved / dense peak of `precision`
    downtime: float = 0.0  # share of the wall-clock time lost to failures, restarts and evaluation

    @property
    def gpu_seconds(self) -> float:
        """GPU-seconds of training (wall-clock time less the downtime)."""
        return self.gpus * self.days * SECONDS_PER_DAY * (1 - self.downtime)

    @property
    def flops(self) -> float:
        return self.gpu_seconds * self.achieved_tflops * 1e12

    @property
    def gpu_hours(self) -> float:
        return self.gpu_seconds / 3600


def _positive(name: str, value: float | None) -> None:
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite number, got {value}")


def make_budget(gpu: str | GPU, gpus: int, days: float, precision: str = "bf16", mfu: float | None = None,
                tflops: float | None = None, downtime: float = 0.0) -> Budget:
    """The FLOP budget; give at most one of `mfu` (of the precision's dense peak) or `tflops` (achieved per GPU).
    `downtime` is the share of the days lost (0 by default: the default MFU reproduces A.X K1's budget from its
    wall-clock days, so it already absorbs that run's losses)."""
    if not (0 <= downtime < 1):
        raise ValueError(f"--downtime must be a share of the time in [0, 1), got {downtime}")
    spec = gpu if isinstance(gpu, GPU) else get_gpu(gpu)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus <= 0:
        raise ValueError(f"--gpus must be a positive integer, got {gpus!r}")
    _positive("--days", days)
    _positive("--mfu", mfu)
    _positive("--tflops", tflops)
    if mfu is not None and tflops is not None:
        raise ValueError("give --mfu or --tflops, not both")
    peak = spec.peak_tflops(precision)
    if tflops is not None:
        mfu = tflops / peak
    mfu = DEFAULT_MFU[precision] if mfu is None else mfu
    if mfu >= 1:
        raise ValueError(f"utilisation {mfu:.2f} is not below the {spec.name} {precision} peak of {peak:.0f} TFLOP/s "
                         "(no run reaches 100%; large runs reach 0.3-0.5): lower --mfu / --tflops")
    budget = Budget(spec, gpus, float(days), precision, mfu * peak, mfu, downtime)
    if not budget.flops < MAX_FLOPS:  # 1e300 days passed as finite, and planned "inf FLOPs" and "infT tokens"
        raise ValueError(f"--gpus {gpus} x --days {days:g} is {budget.flops:.3g} FLOPs, past any plan's reach "
                         f"({MAX_FLOPS:.0e}; A.X K1 used 2.5e24): give the budget you have")
    return budget
