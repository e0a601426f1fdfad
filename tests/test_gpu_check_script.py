"""benchmarks/gpu_check.py --smoke: the GPU check's own code on CPU (axk1-tiny), so the one script a lent GPU runs
does not fail on a typo. It trains (eager, and with compiled layers in the slow tier), launches the one-rank torchrun run with its
checkpoint and resume, trains transformers' model in micro-batches and decodes with both."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _smoke(tmp_path, parts: str) -> dict:
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--smoke", "--parts", parts,
                           "--json", str(out), "--set", "axk1.train.loss.CHUNK_TOKENS=64", "--model", "hidden_size=80"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.e2e
def test_gpu_check_smoke_runs_every_part_and_the_resume_follows(tmp_path):
    """Every part but `compiled`, which is `train` with [parallelism] compile (the same function) and costs a minute
    of CPU compiling: the slow test below runs it; tests/test_compile.py holds compiled layers to eager and counts
    their graphs with the check's own census (step_diagnostics.dynamo_census)."""
    pytest.importorskip("transformers")
    result = _smoke(tmp_path, "train,fsdp,transformers,decode")
    assert result["settings"] == {"axk1.train.loss.CHUNK_TOKENS": ["512", "64"]}
    # every part ran the --model shape (the init folder, the recipes and the torchrun run's own init agree on it, or
    # loading the init would fail); axk1-tiny's own hidden size is 64
    assert result["model"] == {"hidden_size": 80} and result["fsdp"]["memory_account_gb"]["state"] >= 0
    assert result["train"]["steps"] == 8 and result["train"]["tokens_per_s"] > 0
    assert result["train"]["loss_last"] < result["train"]["loss_first"]
    fsdp = result["fsdp"]
    assert fsdp["resumed_from"] == 3 and fsdp["resume_follows"], fsdp
    assert result["transformers"]["tokens_per_s"] > 0 and result["train_ratio"] > 0
    assert set(result["decode"]["tokens_per_s"]) == {"axk1", "axk1_cuda_graph", "transformers"}, result["decode"]
    assert result["decode"]["ratio_cuda_graph"] > 0 and "failed" not in result["decode"]
    profile = result["train"]["profile"]  # the breakdown the next GPU run reports (here: CPU op time)
    assert profile["steps"] == 3 and 0 < profile["busy_ms_per_step"]
    assert set(profile["phases_ms_per_step"]) == {"head_loss", "optimizer"}
    assert 0 < profile["phases_ms_per_step"]["head_loss"] < profile["wall_ms_per_step"]
    assert sum(profile["by_kind_ms_per_step"].values()) == pytest.approx(profile["busy_ms_per_step"], rel=0.02)
    assert all(result[part]["part_wall_s"] > 0 for part in ("train", "fsdp", "transformers", "decode"))


@pytest.mark.slow
def test_gpu_check_smoke_compiled_part(tmp_path):
    compiled = _smoke(tmp_path, "compiled")["compiled"]  # the goal's figure: compiled layers, one graph a shape
    assert compiled["steps"] == 8 and compiled["loss_last"] < compiled["loss_first"]
    assert compiled["dynamo"]["graph_breaks"] == 0 and compiled["dynamo"]["unique_graphs"] >= 2, compiled["dynamo"]
    assert compiled["profile"]["steps"] == 3 and compiled["part_wall_s"] > 0


def _gpu_check_module(monkeypatch):
    import importlib.util

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # the script imports its neighbour step_diagnostics, as when run
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_settings_name_what_is_wrong(monkeypatch):
    """--set refuses a module that does not import, a name the module lacks and a value that is not a literal, and
    --model a name that is not a model field the check lets you set and a value that is not a literal, before
    anything runs (one launch of the script shows main() checks them first; the rest call its two readers)."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--smoke", "--model", "hidden=8"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "not a model field" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    check = _gpu_check_module(monkeypatch)
    for bad, says in (("axk1.nowhere.X=1", "No module named"), ("axk1.train.loss.NO_SUCH=1", "has no 'NO_SUCH'"),
                      ("axk1.train.loss.CHUNK_TOKENS=big", "a Python literal")):
        with pytest.raises(SystemExit, match=says):
            check.apply_settings([bad])
    for bad, says in (("vocab_size=8", "the check sets"), ("hidden=8", "not a model field"),
                      ("hidden_size=wide", "a Python literal")):
        with pytest.raises(SystemExit, match=says):
            check.model_overrides([bad])
