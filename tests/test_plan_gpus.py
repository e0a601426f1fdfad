"""The GPU table's common parts, memory variants, and --gpu-memory / --peak-tflops for a part it lacks (a user's
finding: A100-40GB, L40S, V100 and RTX 4090 were "unknown GPU", and no option gave a GPU's memory)."""

import argparse
import json

import pytest
import torch

from axk1 import hardware
from axk1.plan.cli import add_plan_parser
from axk1.plan.planner import make_plan


@pytest.mark.parametrize("name, canonical, bf16, memory", [
    ("A100-40GB", "A100-40GB", 312.0, 40), ("a100 40gb", "A100-40GB", 312.0, 40), ("A100-80GB", "A100", 312.0, 80),
    ("L40S", "L40S", 362.05, 48), ("V100", "V100", 125.0, 32), ("RTX 4090", "RTX4090", 165.2, 24),
    ("H100 PCIe", "H100-PCIE", 756.5, 80), ("H100 NVL", "H100-NVL", 835.5, 94), ("H20", "H20", 148.0, 96),
    ("H200 NVL", "H200-NVL", 835.5, 141), ("H800 PCIe", "H800-PCIE", 756.5, 80),
    # Grace Hopper: an H100-class GPU with its own memory; 480 GB in its driver name is the Grace CPU's, not the GPU's
    ("GH200", "GH200", 989.4, 96), ("GH200 480GB", "GH200", 989.4, 96), ("GH200-144GB", "GH200-144GB", 989.4, 144),
])
def test_common_parts_resolve_with_datasheet_figures(name, canonical, bf16, memory):
    gpu = hardware.get_gpu(name)
    assert (gpu.name, gpu.bf16_tflops, gpu.memory_gb) == (canonical, bf16, memory)
    assert gpu.scale_up_gb_s > 0 and gpu.source


def test_v100_has_no_bf16_and_the_plan_says_so():
    gpu = hardware.get_gpu("V100")
    assert gpu.half == "fp16" and gpu.fp8_tflops is None
    plan = make_plan("V100", 8, 1)
    assert plan.budget.peak_name == "fp16" and plan.budget.achieved_tflops == pytest.approx(0.4 * 125)
    assert any("no bf16 tensor cores" in w and "--tflops" in w for w in plan.warnings)
    assert "125 fp16 / no fp8" in dict((a, v) for a, v, _ in plan.assumptions())["GPU"]
    with pytest.raises(ValueError, match="no FP8"):
        hardware.make_budget("V100", 8, 1, precision="fp8")


def test_memory_variant_by_name_or_option_round_trips():
    nvl = hardware.get_gpu("H100-94GB")  # H100 compute, 94 GB
    assert (nvl.name, nvl.memory_gb, nvl.bf16_tflops) == ("H100-94GB", 94, 989.4)
    assert hardware.with_overrides("H100", memory_gb=94) == nvl
    assert hardware.get_gpu("V100-16GB").memory_gb == 16 and hardware.get_gpu("V100-16GB").half == "fp16"
    assert hardware.with_overrides("H100", memory_gb=80) is hardware.GPUS["H100"]  # nothing changed, nothing renamed
    assert hardware.with_overrides("H100", peak_tflops=700, precision="fp8").fp8_tflops == 700


def test_unknown_gpu_lists_names_and_options():
    with pytest.raises(ValueError, match="unknown GPU 'TPUv5'; known GPUs: A100, .*L40S.*--gpu-memory.*--peak-tflops"):
        hardware.with_overrides("TPUv5")
    chip = hardware.with_overrides("TPUv5", memory_gb=95)
    assert chip.name == "TPUV5-95GB" and hardware.get_gpu(chip.name).memory_gb == 95  # the dry run reads it back
    with pytest.raises(ValueError, match="no datasheet peak for TPUV5-95GB .*give --peak-tflops"):
        hardware.make_budget(chip, 8, 1)
    budget = hardware.make_budget(hardware.with_overrides("TPUv5", 95, 459), 8, 1, mfu=0.5)
    assert budget.achieved_tflops == pytest.approx(229.5)
    for bad in (0, -1, float("inf")):
        with pytest.raises(ValueError, match="--gpu-memory must be a positive"):
            hardware.with_overrides("H100", memory_gb=bad)


def test_cli_plans_a_gpu_the_table_lacks(capsys):
    parser = argparse.ArgumentParser(prog="axk1")
    add_plan_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["plan", "--gpu", "MyChip", "--gpu-memory", "48", "--peak-tflops", "200", "--gpus", "8",
                              "--days", "1", "--json"])
    assert args.func(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["budget"]["gpu"] == "MYCHIP-48GB"
    assert doc["budget"]["achieved_tflops_per_gpu"] == pytest.approx(80)
    assert doc["plan"]["memory_gb"] <= 48


@pytest.mark.parametrize("device_name, tflops", [
    ("NVIDIA H200", 989.4), ("NVIDIA H20", 148.0), ("NVIDIA GeForce RTX 4090", 165.2),
    # the names torch reports for the H100's three forms: SXM (the device tool's H100), NVL (was given SXM's 989),
    # PCIe
    ("NVIDIA H100 80GB HBM3", 989.4), ("NVIDIA H100 NVL", 835.5), ("NVIDIA H100 PCIe", 756.5),
    ("NVIDIA A100-SXM4-40GB", 312.0), ("NVIDIA GB200", 2500.0), ("NVIDIA L40S", 362.05),
    # the PCIe forms of H200 and H800 (both were given the SXM part's 989 through "H200" / "H800" in their names)
    ("NVIDIA H200 NVL", 835.5), ("NVIDIA H800 PCIe", 756.5), ("NVIDIA H800", 989.4),
    # Grace Hopper's GPU, both memories (the 96 GB part had no entry: its MFU was not shown)
    ("NVIDIA GH200 480GB", 989.4), ("NVIDIA GH200 144G HBM3e", 989.4),
])
def test_trainer_mfu_denominator_takes_the_longest_matching_name(monkeypatch, device_name, tflops):
    from axk1.train import metrics

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: device_name)
    assert metrics.peak_flops(torch.device("cuda"), "bf16") == pytest.approx(tflops * 1e12)


# the names torch.cuda.get_device_name gives (nvidia-smi's too); None: no table entry, the MFU is then unknown
DEVICE_NAMES = [
    ("NVIDIA H100 80GB HBM3", "H100"), ("NVIDIA H100 PCIe", "H100-PCIE"), ("NVIDIA H100 NVL", "H100-NVL"),
    ("NVIDIA H200", "H200"), ("NVIDIA H200 NVL", "H200-NVL"), ("NVIDIA H20", "H20"), ("NVIDIA H800 PCIe", "H800-PCIE"),
    # the 40 GB A100 was matched as the 80 GB one (the table's A100-40GB never was): the same peak, half the memory
    ("NVIDIA A100-SXM4-40GB", "A100-40GB"), ("NVIDIA A100-PCIE-40GB", "A100-40GB"),
    ("NVIDIA A100-SXM4-80GB", "A100"), ("NVIDIA A100 80GB PCIe", "A100"),
    ("NVIDIA GeForce RTX 4090", "RTX4090"), ("NVIDIA L40S", "L40S"), ("NVIDIA B200", "B200"),
    ("NVIDIA GB200", "GB200"), ("AMD Instinct MI300X", "MI300X"), ("Tesla V100-SXM2-32GB", "V100"),
    # Grace Hopper: GH200, not GB200 nor H200 (whole words); the 96 GB part's name holds the CPU's 480 GB
    ("NVIDIA GH200 480GB", "GH200"), ("NVIDIA GH200 144G HBM3e", "GH200-144GB"),
    # parts the table lacks, though a table name is part of theirs: whole words only
    ("NVIDIA L40", None), ("AMD Instinct MI300A", None), ("NVIDIA A10", None), ("Tesla T4", None),
    ("Tesla P100-PCIE-16GB", None),
]


@pytest.mark.parametrize("device_name, entry", DEVICE_NAMES)
def test_a_device_name_maps_to_its_table_entry(device_name, entry):
    gpu = hardware.gpu_for_device_name(device_name)
    assert (gpu.name if gpu else None) == entry


@pytest.mark.parametrize("device_name, entry", DEVICE_NAMES)
def test_the_trainer_and_the_planner_find_the_same_entry(monkeypatch, device_name, entry):
    from axk1.train import metrics

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: device_name)
    peak = metrics.peak_flops(torch.device("cuda"), "bf16")
    if entry is None:
        assert peak == 0.0  # MFU not shown, as for any part the table lacks
        try:  # the planner: unknown, or ("...-16GB") a part known only by its memory, with no peak
            planned = hardware.get_gpu(device_name)
        except ValueError as e:
            assert "unknown GPU" in str(e)
        else:
            assert planned.bf16_tflops is None and planned.name not in hardware.GPUS
    else:
        assert hardware.get_gpu(device_name) == hardware.GPUS[entry]
        assert peak == pytest.approx(hardware.GPUS[entry].bf16_tflops * 1e12)


def test_a_device_name_ending_in_its_memory_plans_that_memory():
    gpu = hardware.get_gpu("NVIDIA H100 94GB")
    assert (gpu.name, gpu.memory_gb, gpu.bf16_tflops) == ("H100-94GB", 94.0, 989.4)
