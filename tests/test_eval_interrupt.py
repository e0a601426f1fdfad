"""`axk1 eval` stopped (Ctrl-C, SIGTERM) while graded programs run ends within seconds, with its usual exit code and
a line saying what was kept for the rerun: no queued program starts, the ones running are stopped as their wall
clock would stop them, and no run process or run folder is left (sandbox.run_parallel). It used to start every
queued program first, each up to its whole --test-timeout."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.eval_fake_server import fake_server
from tests.lcb_helpers import lcb_row
from tests.sandbox_helpers import kill_named, processes_named, run_folder, runs_below

REPO = Path(__file__).resolve().parents[1]
SLEEPER = {"choices": [{"message": {"role": "assistant", "content": "```python\nimport time\ntime.sleep(100)\n```"},
                        "finish_reason": "stop"}]}
TEST_TIMEOUT_S = 60  # each program's limit: the old harness could not end before it, the new one ends at once


def _lcb_data(path: Path, n: int) -> str:
    case = lambda i, o: {"input": i, "output": o, "testtype": "stdin"}  # noqa: E731
    rows = [lcb_row(f"abc{400 + i}_a", "2025-03-01T12:00:00", "atcoder", "easy", "Given A and B, print A+B.",
                    [case("1 2\n", "3\n")], [case("2 2\n", "4\n")]) for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize("sig,code,said", [(signal.SIGINT, 130, "interrupted"),
                                           (signal.SIGTERM, 143, "stopped by SIGTERM")])
def test_a_stopped_eval_stops_its_graded_programs_at_once(tmp_path, sig, code, said):
    out = tmp_path / "out"
    with fake_server() as (url, handler):
        handler.route = staticmethod(lambda prompt: (200, SLEEPER, 0))
        proc = subprocess.Popen(
            [sys.executable, "-m", "axk1.cli", "eval", "--model", f"openai:{url}", "--tasks", "lcb", "--lcb-data",
             _lcb_data(tmp_path / "lcb.jsonl", 6), "-o", str(out), "--max-tokens", "64", "--workers", "2",
             "--test-timeout", str(TEST_TIMEOUT_S)],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        names: list[str] = []
        try:
            deadline = time.monotonic() + 60  # an interpreter start and the first imports, on a busy machine
            while len(names) < 2 and proc.poll() is None and time.monotonic() < deadline:
                names = runs_below(proc.pid)  # both workers' programs sleeping
                time.sleep(0.02)
            assert len(names) == 2, f"the eval never ran two programs at once: {proc.communicate()[1][-2000:]}"
            proc.send_signal(sig)
            try:
                _, err = proc.communicate(timeout=TEST_TIMEOUT_S / 3)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the eval was still running {TEST_TIMEOUT_S / 3:g} s after {sig.name}")
        finally:
            proc.kill()
            proc.wait()
            for name in names:
                kill_named(name)
    assert proc.returncode == code, err[-2000:]
    assert f"axk1 eval: {said} (6 completion(s) kept in {out / 'completions.jsonl'}: run the same command again" \
        in err, err[-2000:]
    assert "Traceback" not in err
    for name in names:
        assert processes_named(name) == [], "a stopped run's processes outlived the eval"
        assert not os.path.exists(run_folder(name)), "a stopped run's folder stayed"
