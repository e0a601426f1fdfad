"""Accelerators and the FLOP budget C = GPUs x seconds x achieved FLOP/s.

Peaks are the vendors' dense (no 2:4 sparsity: the datasheets' starred figures halved) tensor-core figures per
GPU, from the public datasheets: NVIDIA A100 (SXM4 80 GB and 40 GB), H100 SXM5, PCIe and NVL, H800 SXM5 (H100
compute, NVLink cut to 400 GB/s) and PCIe (H100 PCIe compute), H200 SXM and NVL, GH200 Grace Hopper (its Hopper
GPU, 96 GB HBM3 or 144 GB HBM3e), HGX B200, GB200 NVL72 (per Blackwell GPU), L40S, V100 SXM2, GeForce RTX 4090 (Ada Lovelace architecture whitepaper, FP32-accumulate rates: the
GeForce parts run FP16-accumulate at twice that, which training does not use); AMD Instinct MI300X. H20 has no
public datasheet: its figures are the ones NVIDIA gave its partners (148 dense FP16/BF16 TFLOP/s, 96 GB HBM3 at
4.0 TB/s, NVLink 900 GB/s), as server vendors list them.
Interconnect is the per-GPU scale-up bandwidth (NVLink / Infinity Fabric, bidirectional; for a PCIe card without
NVLink, its PCIe x16 link) and the usual scale-out NIC per GPU (0 where the part has no usual one).

A GPU not in the table: `--gpu NAME --gpu-memory GB --peak-tflops TF` (memory_gb only, for the dry run's check: a
name ending in -<N>GB, e.g. H100-94GB: SXM compute with 94 GB, which is not the NVL part: H100-NVL has its own row).

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
import re
from dataclasses import dataclass, replace

SECONDS_PER_DAY = 86_400
DEFAULT_MFU = {"bf16": 0.40, "fp8": 0.20}
PRECISIONS = ("bf16", "fp8")


@dataclass(frozen=True)
class GPU:
    name: str
    bf16_tflops: float | None  # dense 16-bit peak (fp16's where half == "fp16"); None: unknown, --peak-tflops
    fp8_tflops: float | None  # dense peak; None where the chip has no FP8 tensor cores
    memory_gb: float  # HBM (or GDDR) per GPU (10^9 bytes)
    hbm_tb_s: float  # 0: unknown
    scale_up_gb_s: float  # NVLink / Infinity Fabric per GPU (a PCIe card: its link); 0: unknown
    scale_out_gbit_s: float  # InfiniBand / RoCE NIC per GPU
    source: str
    half: str = "bf16"  # the 16-bit format of bf16_tflops: "fp16" on a chip without bf16 tensor cores (V100)

    def peak_tflops(self, precision: str) -> float:
        if precision == "bf16":
            if self.bf16_tflops is None:
                raise ValueError(f"no datasheet peak for {self.name} (not one of {', '.join(GPUS)}): give "
                                 "--peak-tflops (its dense bf16 tensor TFLOP/s per GPU)")
            return self.bf16_tflops
        if self.fp8_tflops is None:
            raise ValueError(f"{self.name} has no FP8 tensor cores" + (" in the table" if self.bf16_tflops is None
                             else "") + ": use --precision bf16" + (", or give its fp8 --peak-tflops"
                                                                   if self.bf16_tflops is None else ""))
        return self.fp8_tflops


GPUS: dict[str, GPU] = {g.name: g for g in [
    GPU("A100", 312.0, None, 80, 2.04, 600, 200, "NVIDIA A100 datasheet (SXM4 80GB)"),
    GPU("H100", 989.4, 1978.9, 80, 3.35, 900, 400, "NVIDIA H100 datasheet (SXM5)"),
    GPU("H800", 989.4, 1978.9, 80, 3.35, 400, 400, "H100 SXM5 compute, NVLink 400 GB/s (DeepSeek-V3 report)"),
    GPU("H200", 989.4, 1978.9, 141, 4.8, 900, 400, "NVIDIA H200 datasheet (SXM)"),
    GPU("B200", 2250.0, 4500.0, 180, 7.7, 1800, 400, "NVIDIA HGX B200 datasheet (per GPU)"),
    GPU("GB200", 2500.0, 5000.0, 186, 8.0, 1800, 800, "NVIDIA GB200 NVL72 datasheet (per Blackwell GPU)"),
    GPU("MI300X", 1307.4, 2614.9, 192, 5.3, 896, 400, "AMD Instinct MI300X datasheet"),
    GPU("A100-40GB", 312.0, None, 40, 1.555, 600, 200, "NVIDIA A100 datasheet (SXM4 40GB)"),
    GPU("H100-PCIE", 756.5, 1513.0, 80, 2.0, 600, 0, "NVIDIA H100 datasheet (PCIe; NVLink bridge 600 GB/s)"),
    # a device named "NVIDIA H100 NVL" or "NVIDIA H100 PCIe" holds "H100" too: gpu_for_device_name takes the name
    # that matches most of the device's words, so these rows (and not the SXM one's 989) give their MFU's denominator
    GPU("H100-NVL", 835.5, 1670.5, 94, 3.9, 600, 0, "NVIDIA H100 datasheet (NVL; NVLink bridge 600 GB/s)"),
    # the same for "NVIDIA H200 NVL" (not H200's 989) and "NVIDIA H800 PCIe" (not H800's): their datasheets'
    # starred (2:4 sparse) BF16 figures, 1,671 and 1,513 TFLOP/s, halved
    GPU("H200-NVL", 835.5, 1670.5, 141, 4.8, 900, 0, "NVIDIA H200 datasheet (NVL, up to 600 W; NVLink bridge "
        "900 GB/s)"),
    GPU("H800-PCIE", 756.5, 1513.0, 80, 2.0, 400, 0, "NVIDIA H800 PCIe datasheet (H100 PCIe compute; NVLink bridge "
        "400 GB/s)"),
    GPU("H20", 148.0, 296.0, 96, 4.0, 900, 0, "NVIDIA H20 figures as given to partners (no public datasheet)"),
    # GH200 Grace Hopper: the superchip's GPU is a Hopper H100/H200-class die at the SXM part's clocks; NVIDIA's
    # GH200 datasheet gives 3,958 FP8 and 1,979 BF16 TFLOP/s with sparsity (the same as H100 SXM), halved here, and
    # 96 GB HBM3 at 4 TB/s or 144 GB HBM3e at 4.9 TB/s. NVLink 4 (18 links, 900 GB/s) to other GPUs; NVLink-C2C to
    # its own Grace CPU is not scale-up. The driver names the parts "NVIDIA GH200 480GB" (480 GB: the Grace CPU's
    # LPDDR5X, not the GPU's memory) and "NVIDIA GH200 144G HBM3e"
    GPU("GH200", 989.4, 1978.9, 96, 4.0, 900, 400, "NVIDIA GH200 Grace Hopper Superchip datasheet (96 GB HBM3)"),
    GPU("GH200-144GB", 989.4, 1978.9, 144, 4.9, 900, 400, "NVIDIA GH200 Grace Hopper Superchip datasheet (144 GB "
        "HBM3e)"),
    GPU("L40S", 362.05, 733.0, 48, 0.864, 64, 0, "NVIDIA L40S datasheet (PCIe Gen4 x16, no NVLink)"),
    # Volta has fp16 tensor cores and no bf16 ones: its 16-bit peak is fp16's (the planner says so in plan.md)
    GPU("V100", 125.0, None, 32, 0.9, 300, 0, "NVIDIA V100 datasheet (SXM2 32GB; fp16 tensor peak, no bf16)",
        half="fp16"),
    GPU("RTX4090", 165.2, 330.3, 24, 1.008, 64, 0, "NVIDIA Ada Lovelace architecture whitepaper (GeForce RTX 4090, "
        "FP32 accumulate; PCIe Gen4 x16, no NVLink)"),
]}
ALIASES = {"A100-80GB": "A100", "A100-SXM": "A100", "A100-SXM4-80GB": "A100", "A100-SXM4-40GB": "A100-40GB",
           "H100-SXM": "H100", "H100-SXM5": "H100", "H100-80GB": "H100", "H200-SXM": "H200",
           "HGX-B200": "B200", "GB200-NVL72": "GB200", "MI300": "MI300X", "L40S-48GB": "L40S",
           "V100-SXM2": "V100", "V100-32GB": "V100", "RTX-4090": "RTX4090", "GEFORCE-RTX-4090": "RTX4090",
           "4090": "RTX4090", "A100-PCIE-40GB": "A100-40GB",
           # the driver's names (see the GH200 rows): 480GB is the CPU's memory, HBM3e the 144 GB part
           "GH200-480GB": "GH200", "GH200-HBM3E": "GH200-144GB"}
OVERRIDES_HELP = ("for another GPU give its name with --gpu-memory GB (its memory) and --peak-tflops TF (its dense "
                  "peak at --precision)")


def _key(name: str) -> str:
    key = name.strip().upper().replace("_", "-").replace(" ", "-")
    return ALIASES.get(key, key)


def _memory_suffix(key: str) -> tuple[str, float] | None:
    """"H100-94GB" -> ("H100", 94.0): a part's name with its memory, for a variant the table does not list."""
    base, sep, size = key.rpartition("-")
    if not (sep and base and size.endswith("GB")):
        return None
    try:
        memory = float(size[:-2])
    except ValueError:
        return None
    return (ALIASES.get(base, base), memory) if memory > 0 and math.isfinite(memory) else None


def unknown_gpu_error(name: str) -> ValueError:
    return ValueError(f"unknown GPU {name!r}; known GPUs: {', '.join(GPUS)} (a known name with -<N>GB, e.g. "
                      f"H100-94GB, takes that memory); {OVERRIDES_HELP}")


def get_gpu(name: str) -> GPU:
    """A table entry by name or alias; NAME-<N>GB is that part with N GB (an unknown NAME: a GPU known only by its
    memory, which is all `axk1 train --dry-run` reads; the planner also needs --peak-tflops for it). The name the
    driver gives a device ("NVIDIA H100 80GB HBM3", as nvidia-smi shows it) names its entry too."""
    key = _key(name)
    if key in GPUS:
        return GPUS[key]
    parsed = _memory_suffix(key)
    if parsed is not None and parsed[0] in GPUS:
        return with_overrides(GPUS[parsed[0]], memory_gb=parsed[1])
    # before the memory-only part below: "NVIDIA A100-SXM4-40GB" is the table's A100-40GB, not an unknown
    # "NVIDIA-A100-SXM4" with 40 GB
    device = gpu_for_device_name(name)
    if device is not None:  # with the memory its name ends in, as for NAME-<N>GB ("NVIDIA H100 94GB"), unless
        # that is a name of the part itself ("NVIDIA GH200 480GB": an alias of GH200, 480 GB the CPU's memory)
        if parsed is None or _key(f"{device.name}-{parsed[1]:g}GB") == device.name:
            return device
        return with_overrides(device, memory_gb=parsed[1])
    if parsed is None:
        raise unknown_gpu_error(name)
    return with_overrides(parsed[0], memory_gb=parsed[1])


def _words(name: str) -> frozenset[str]:
    return frozenset(re.findall(r"[A-Z0-9]+", name.upper()))


def gpu_for_device_name(name: str) -> GPU | None:
    """The table entry of a device by the name torch.cuda.get_device_name (or nvidia-smi) gives it, None for a
    part not in the table (the trainer's MFU is then unknown). An entry matches when each word of its name, or of
    one of its aliases, is a word of the device's ("NVIDIA A100-SXM4-40GB" holds A100-SXM4-40GB's, an alias of
    A100-40GB); the name with the most words wins, so "NVIDIA H100 PCIe" is H100-PCIE and not H100 (SXM). Whole
    words, not substrings: "H20" is no part of "NVIDIA H200", nor "B200" of "NVIDIA GB200", nor "MI300" (MI300X)
    of "AMD Instinct MI300A". Two entries matched by as many words is a name the table cannot tell: None."""
    words = _words(name)
    names = [(key, GPUS[key]) for key in GPUS] + [(alias, GPUS[key]) for alias, key in ALIASES.items()]
    found: dict[int, set[str]] = {}  # words matched -> the entries matched by that many
    for key, gpu in names:
        needed = _words(key)
        if needed <= words:
            found.setdefault(len(needed), set()).add(gpu.name)
    if not found:
        return None
    best = found[max(found)]
    return GPUS[next(iter(best))] if len(best) == 1 else None


def with_overrides(gpu: str | GPU, memory_gb: float | None = None, peak_tflops: float | None = None,
                   precision: str = "bf16") -> GPU:
    """`gpu` (a table entry, or the name of a part not in it) with --gpu-memory and --peak-tflops applied. A new
    memory renames it NAME-<N>GB, which get_gpu reads back (the plan's dry-run command names it so)."""
    _positive("--gpu-memory", memory_gb)
    _positive("--peak-tflops", peak_tflops)
    if isinstance(gpu, str):
        try:
            gpu = get_gpu(gpu)
        except ValueError:
            if memory_gb is None:  # a name alone says nothing of the part
                raise unknown_gpu_error(gpu) from None
            gpu = GPU(f"{_key(gpu)}-{memory_gb:g}GB", None, None, float(memory_gb), 0.0, 0.0, 0.0,
                      "not in the table: --gpu-memory and --peak-tflops")
    if memory_gb is not None and memory_gb != gpu.memory_gb:
        base = _memory_suffix(gpu.name)
        name = f"{base[0] if base else gpu.name}-{memory_gb:g}GB"
        gpu = replace(gpu, name=name, memory_gb=float(memory_gb), source=f"{gpu.source}; memory from --gpu-memory")
    if peak_tflops is not None:
        field = "fp8_tflops" if precision == "fp8" else "bf16_tflops"
        gpu = replace(gpu, **{field: float(peak_tflops)}, source=f"{gpu.source}; {precision} peak from --peak-tflops")
    return gpu


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
    def peak_name(self) -> str:
        """The format whose peak the MFU is of: fp16 for a 16-bit plan on a chip without bf16 (V100)."""
        return self.gpu.half if self.precision == "bf16" else self.precision

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
