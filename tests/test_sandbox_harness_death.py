"""A harness that dies or stops in the middle of a run leaves no process of it behind, even without namespaces
(where a fork bomb's processes would otherwise go to init and spin on): the supervisor has a parent-death signal
and a wall clock of its own, both ending in its usual sweep (sandbox_child.main). A dead harness leaves no run
folder either: after its sweep the supervisor removes it."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sandbox_helpers import kill_named, processes_named, run_below, run_folder

REPO = Path(__file__).resolve().parents[1]
SPINNING = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
# argv: how the supervisor starts ("zygote": the fork server; "popen": the harness starts it itself), wall_s, and
# "fallback" (no namespaces, as where the kernel refuses them) or "namespaces" (where the kernel allows them)
HARNESS = """
import sys
from axk1.eval import sandbox_boot
from axk1.eval.sandbox import Limits, run_python
if sys.argv[1] == "popen":
    sandbox_boot._bundle["failures"] = 3  # as after three failed starts of the fork server
run_python(%r, limits=Limits(wall_s=float(sys.argv[2]), cpu_s=5, memory_mb=256, nproc=16), guard=False,
           namespaces=None if sys.argv[3] == "namespaces" else False)
""" % SPINNING


def _harness(tmp_path, how: str, wall_s: float, forks: int, isolation: str) -> tuple[subprocess.Popen, str]:
    """A harness process running the spinning bomb, once the run has `forks` processes: (it, the run's name)."""
    err = open(tmp_path / "harness.err", "wb")
    harness = subprocess.Popen([sys.executable, "-c", HARNESS, how, str(wall_s), isolation], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=err, env={**os.environ, "PYTHONPATH": str(REPO)})
    err.close()
    deadline = time.monotonic() + 60  # an interpreter start and the first imports, on a busy machine
    while harness.poll() is None and time.monotonic() < deadline:
        name = run_below(harness.pid)
        if name and len(processes_named(name)) >= forks:
            return harness, name
        time.sleep(0.01)
    harness.kill()
    harness.wait()
    pytest.fail(f"the harness never started its run: {(tmp_path / 'harness.err').read_text()[-2000:]}")


def _gone(name: str, within: float) -> list[int]:
    """The run's processes left after waiting up to `within` seconds for them to go."""
    deadline = time.monotonic() + within
    while processes_named(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    return processes_named(name)


@pytest.mark.parametrize("how,isolation", [("zygote", "fallback"), ("popen", "fallback"), ("zygote", "namespaces")])
def test_a_killed_harness_takes_its_runs_fork_bomb_with_it(tmp_path, how, isolation):
    # supervisor, judge, runner and the bomb's forks: the program is running when the harness dies
    harness, name = _harness(tmp_path, how, wall_s=60, forks=6, isolation=isolation)
    try:
        harness.kill()  # as SIGKILL, the OOM killer or a SIGTERM with Python's default disposition would
        harness.wait()
        assert _gone(name, within=10) == [], "the run's processes outlived their harness"
        assert not os.path.exists(run_folder(name)), "the dead harness's run folder stayed"
    finally:
        harness.kill()
        kill_named(name)
        shutil.rmtree(run_folder(name), ignore_errors=True)


@pytest.mark.parametrize("isolation", ["fallback", "namespaces"])
def test_a_stopped_harness_still_gets_its_run_ended_by_the_supervisors_own_clock(tmp_path, isolation):
    # Stopped as soon as the run exists, well before its own 2 s run out: it never sends its SIGTERM.
    harness, name = _harness(tmp_path, "zygote", wall_s=2, forks=1, isolation=isolation)
    try:
        harness.send_signal(signal.SIGSTOP)
        assert processes_named(name), "the run ended before the harness was stopped"
        assert _gone(name, within=20) == [], "a stopped harness left its run running"
    finally:
        harness.kill()
        harness.wait()
        kill_named(name)
        shutil.rmtree(run_folder(name), ignore_errors=True)  # the harness, killed stopped, never removed it
