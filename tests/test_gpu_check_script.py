"""benchmarks/gpu_check.py --smoke: the GPU check's own code on CPU (axk1-tiny), so the one script a lent GPU runs
does not fail on a typo. It trains (eager, and with compiled layers in the slow tier), launches the one-rank torchrun run with its
checkpoint and resume, trains transformers' model in micro-batches and decodes with both. Also what bounds the check
on its one GPU run: the unit tests gpu_check.sh selects, the stop on SIGTERM, the batch a smaller GPU holds."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _smoke(tmp_path, parts: str, *args: str) -> dict:
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--smoke", "--parts", parts,
                           "--json", str(out), "--set", "axk1.train.loss.CHUNK_TOKENS=64", "--model", "hidden_size=80",
                           *args],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.e2e
def test_gpu_check_smoke_runs_every_part_and_the_resume_follows(tmp_path):
    """Every part but `compiled`, which is `train` with [parallelism] compile (the same function) and costs a minute
    of CPU compiling: the slow test below runs it; tests/test_compile.py holds compiled layers to eager and counts
    their graphs with the check's own census (step_diagnostics.dynamo_census)."""
    pytest.importorskip("transformers")
    # 4 steps (the smoke run's 8 would do): two logged rows, the second steady; the torchrun run's checkpoint at 2
    result = _smoke(tmp_path, "train,fsdp,transformers,decode", "--steps", "4", "--fsdp-steps", "4")
    assert result["settings"] == {"axk1.train.loss.CHUNK_TOKENS": ["512", "64"]}
    # every part ran the --model shape (the init folder, the recipes and the torchrun run's own init agree on it, or
    # loading the init would fail); axk1-tiny's own hidden size is 64
    assert result["model"] == {"hidden_size": 80} and result["fsdp"]["memory_account_gb"]["state"] >= 0
    assert result["train"]["steps"] == 4 and result["train"]["tokens_per_s"] > 0
    assert result["train"]["loss_last"] < result["train"]["loss_first"]
    fsdp = result["fsdp"]
    assert fsdp["resumed_from"] == 2 and fsdp["resume_follows"], fsdp
    assert result["transformers"]["tokens_per_s"] > 0 and result["train_ratio"] > 0
    assert set(result["decode"]["tokens_per_s"]) == {"axk1", "axk1_cuda_graph", "transformers"}, result["decode"]
    assert result["decode"]["ratio_cuda_graph"] > 0 and "failed" not in result["decode"]
    profile = result["train"]["profile"]  # the breakdown the next GPU run reports (here: CPU op time, one step)
    assert profile["steps"] == 1 and 0 < profile["busy_ms_per_step"]
    assert set(profile["phases_ms_per_step"]) == {"head_loss", "optimizer"}
    assert 0 < profile["phases_ms_per_step"]["head_loss"] < profile["wall_ms_per_step"]
    assert sum(profile["by_kind_ms_per_step"].values()) == pytest.approx(profile["busy_ms_per_step"], rel=0.02)
    assert all(result[part]["part_wall_s"] > 0 for part in ("train", "fsdp", "transformers", "decode"))


@pytest.mark.slow
def test_gpu_check_smoke_compiled_part(tmp_path):
    compiled = _smoke(tmp_path, "compiled")["compiled"]  # the goal's figure: compiled layers, one graph a shape
    assert compiled["steps"] == 8 and compiled["loss_last"] < compiled["loss_first"]
    assert compiled["dynamo"]["graph_breaks"] == 0 and compiled["dynamo"]["unique_graphs"] >= 2, compiled["dynamo"]
    assert compiled["profile"]["steps"] == 1 and compiled["part_wall_s"] > 0


def _gpu_check_module(monkeypatch, name: str = "gpu_check"):
    import importlib.util

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # the script imports its neighbours, as when run
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
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


def _gpu_tests() -> list[str]:
    """gpu_check.sh's pytest selection, its GPU_TESTS line as bash reads it."""
    line = next((ln for ln in (REPO / "benchmarks" / "gpu_check.sh").read_text().splitlines()
                 if ln.startswith("GPU_TESTS=")), "GPU_TESTS=()")
    out = subprocess.run(["bash", "-c", 'eval "$1"; printf "%s\\n" "${GPU_TESTS[@]}"', "_", line],
                         capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_the_gpu_check_runs_exactly_the_tests_that_need_a_gpu():
    """On its one GPU run the check's unit-test step selected by -k words that matched file names ("device",
    "memory"): 2-rank gloo CPU runs (86 s, 57 s, ...) went first and the never-run CUDA tests came last, cut by its
    timeout. Now it selects the `gpu` mark, and this holds it to that: every test it selects skips without CUDA (so
    needs one), the two CUDA decode tests of test_generate.py are among them, and every test file that needs CUDA
    says so with the mark (no skipif of its own, which the selection would miss) and is in the selection."""
    selection = _gpu_tests()
    files = {a for a in selection if a.endswith(".py")}
    assert "-m" in selection and selection[selection.index("-m") + 1] == "gpu", selection
    for path in sorted((REPO / "tests").glob("test_*.py")):
        text, name = path.read_text(), str(path.relative_to(REPO))
        assert not re.search(r"skipif\(\s*not\s+torch\.cuda\.is_available\(\)", text), \
            f"{name} skips for want of CUDA by a skipif of its own: mark the test gpu (tests/conftest.py)"
        if re.search(r"mark\.gpu\b", text):
            assert name in files, f"{name} has tests marked gpu that gpu_check.sh's GPU_TESTS does not name"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # the same answer on a machine with a GPU
    proc = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", *selection],
                          capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    outcomes = dict(re.findall(r"^(tests/\S+::\S+) (PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)", proc.stdout, re.M))
    assert outcomes and set(outcomes.values()) == {"SKIPPED"}, proc.stdout[-3000:]
    decode = {t for t in outcomes if t.startswith("tests/test_generate.py::")}
    assert len(decode) == 2 and any("cuda_graph" in t for t in decode), sorted(outcomes)


def test_sigterm_stops_the_checks_training_at_once_without_a_checkpoint(tmp_path, monkeypatch):
    """gpu_check.sh's timeout sends SIGTERM. The trainer takes it as "stop after this step and save a checkpoint"
    (24 GB for the check's model), then returns as if done, and the check went on with its next parts: `timeout 100`
    returned after 161 s. In the check's training SIGTERM raises Terminated at once and nothing is saved, not even
    at the recipe's checkpoint interval (here 2 steps)."""
    from axk1.train.callbacks import Callback
    from axk1.train.recipe import load_recipe
    from axk1.train.trainer import Trainer
    from tests.train_helpers import write_recipe

    stop = _gpu_check_module(monkeypatch, "gpu_check_stop")

    class SignalAtStep3(Callback):
        def on_step_end(self, trainer, row):
            if row["step"] == 3:
                os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.chdir(tmp_path)
    trainer = stop.without_checkpoints(Trainer(load_recipe(write_recipe(tmp_path, extra="max_steps = 6"))))
    trainer.callbacks.insert(0, SignalAtStep3())
    before = signal.getsignal(signal.SIGTERM)
    try:
        stop.stop_on_sigterm()
        with pytest.raises(stop.Terminated, match="SIGTERM"):
            trainer.fit()
    finally:
        signal.signal(signal.SIGTERM, before)
    assert trainer.state.step == 3 and trainer.saved_step is None
    assert not list(trainer.ckpt_dir.glob("step-*"))


def _alive(pid: int) -> bool:
    try:
        state = next(ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith("State:"))
    except (OSError, StopIteration):
        return False
    return "Z" not in state.split()[1]  # a zombie has ended: only its parent's wait is missing


def test_the_check_kills_a_launch_whole_even_children_in_sessions_of_their_own(monkeypatch):
    """torchrun starts its workers each in a session of its own: neither timeout's signal to the check's process
    group nor its SIGKILL reaches them, and subprocess.run's kill on an exception reaches torchrun alone, so the
    worker trained on (and saved) after the check had stopped. kill_tree finds them by parent and kills them all."""
    kill_tree = _gpu_check_module(monkeypatch, "gpu_check_stop").kill_tree

    code = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], "
            "start_new_session=True); print(p.pid, flush=True); time.sleep(600)")
    launcher = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    worker = int(launcher.stdout.readline())
    try:
        assert _alive(worker) and os.getsid(worker) != os.getsid(launcher.pid)
        kill_tree(launcher.pid)
        launcher.wait(timeout=60)
        for _ in range(600):  # SIGKILL is delivered asynchronously: a guard against a hang, not a timing
            if not _alive(worker):
                break
            time.sleep(0.1)
        assert not _alive(worker)
    finally:
        for pid in (worker, launcher.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_the_check_runs_the_sequences_its_gpu_holds_by_the_trainers_account(tmp_path, monkeypatch):
    """The check's 8 x 4,096 step needs ~92.9 GB by the trainer's own account: an H100 80GB (the device tool's
    default kind, 81,559 MiB) ran out of memory in the `train` part. The check now runs as many sequences as the
    account puts within the planner's share of the GPU's memory, the account being the one the trainer's dry run
    gives the check's own recipe."""
    import types

    from axk1 import ModelConfig
    from axk1.train.recipe import load_recipe

    check = _gpu_check_module(monkeypatch)
    fit = _gpu_check_module(monkeypatch, "gpu_check_fit")
    args = types.SimpleNamespace(preset="axk1-gpu-small", vocab=163840, seq_len=4096, seqs=8, precision="bf16",
                                 device="cpu", model={})
    config = check.model_config(args)
    layers = ModelConfig.from_preset(args.preset).num_hidden_layers  # the preset's own (no init folder to read)
    (tmp_path / "r.toml").write_text(check.recipe_text(args, 10, "run", layers=layers))
    recipe = load_recipe(tmp_path / "r.toml")
    for seqs in (5, 8):
        assert fit.step_account_gb(config, seqs, 4096, "bf16") == pytest.approx(
            recipe.step_account(recipe.model.build_config(), 4096, seqs, world_size=1).total)
    h100, h200 = 81559 * 2**20, 143771 * 2**20  # nvidia-smi's MiB on the lent kinds (KINDS.md)
    n, record = fit.sequences_that_fit(config, 8, 4096, "bf16", h100)
    assert n == 5 and record["fits"] and record["sequences"] == 5 and record["asked"] == 8
    assert record["account_gb"] <= record["limit_gb"] < fit.step_account_gb(config, 6, 4096, "bf16")
    assert "running 5 sequences a step" in fit.fit_note(record, 4096) and "nvidia-h200" in fit.fit_note(record, 4096)
    n, record = fit.sequences_that_fit(config, 8, 4096, "bf16", h200)
    assert n == 8 and record["fits"] and fit.fit_note(record, 4096) is None
    n, record = fit.sequences_that_fit(config, 8, 4096, "bf16", 40 * 10**9)  # not even one: said, not hidden
    assert n == 1 and not record["fits"] and "run out of memory" in fit.fit_note(record, 4096)


def _processes_naming(text: str) -> list[int]:
    pids = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if text in Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace") and _alive(int(entry)):
                pids.append(int(entry))
        except OSError:
            pass
    return pids


@pytest.mark.e2e
def test_sigterm_during_the_torchrun_part_ends_the_check_with_its_figures_and_no_worker_left(tmp_path):
    """SIGTERM to the check's process group (what `timeout` sends) while the one-rank torchrun run trains: the check
    writes the JSON with that part stopped and its last logged step, runs no further part, exits non-zero, and
    leaves no worker behind (each sits in a session of its own, out of the group's reach)."""
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the check's work folder, where the worker logs its steps
    proc = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--smoke", "--parts",
                             "fsdp,decode", "--json", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, cwd=tmp_path, start_new_session=True)
    try:
        for _ in range(3000):  # until the worker has logged a step (a guard against a hang, not a timing)
            if any(p.stat().st_size for p in tmp_path.glob("tmp*/fsdp/metrics.jsonl")) or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        os.killpg(proc.pid, signal.SIGTERM)
        output = proc.communicate(timeout=300)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and "fsdp STOPPED (SIGTERM" in output, output[-3000:]
    result = json.loads(out.read_text())
    assert result["fsdp"]["stopped"].startswith("SIGTERM") and result["fsdp"]["last_row"]["step"] >= 1
    assert "decode" not in result
    for _ in range(600):
        if not _processes_naming(str(tmp_path)):
            break
        time.sleep(0.1)
    assert not _processes_naming(str(tmp_path))
