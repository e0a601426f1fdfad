"""`axk1 data run` SIGKILLed alone (the OOM killer picks one process): the helper processes of datatrove's local
executor end with it, and a relaunch takes over its folder's lock and finishes the run. The kill is real; only its
moment is chosen (once the executor's pool is up)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.test_data_run_folder import data_run, write_docs

# `axk1 data run ARGS` that prints the pids of its children once the local executor's pool is up, then SIGKILLs
# itself (its children are left to the kernel, as after the OOM killer).
_DRIVER = textwrap.dedent("""
    import os, signal, sys
    import multiprocess.context as context
    real = context.BaseContext.Pool
    def Pool(self, *args, **kwargs):
        pool = real(self, *args, **kwargs)
        me = str(os.getpid())
        kids = [p for p in os.listdir("/proc") if p.isdigit() and _ppid(p) == me]
        print("children", *kids, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    def _ppid(pid):
        try:
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]
        except OSError:
            return ""
    context.BaseContext.Pool = Pool
    from axk1.cli import main
    sys.exit(main(["data", "run", *sys.argv[1:]]))
""")


def _running(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie nobody reaped has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_the_executors_processes_end_with_a_killed_launch_and_a_relaunch_finishes(tmp_path):
    """Killing the main process left datatrove's Manager server (forked from it) asleep for ever, holding the old
    run's log open."""
    write_docs(tmp_path / "docs", n=4)
    toml = tmp_path / "p.toml"  # the default start method (forkserver), two workers: a pool and a Manager
    toml.write_text('[run]\noutput_dir = "out"\ntasks = 4\nworkers = 2\nstages = ["extract"]\n[[sources]]\n'
                    'type = "jsonl"\npath = "docs"\nfilter = false\n[filters.quality]\nword_tokenizer = "regex"\n')
    repo = str(Path(__file__).resolve().parents[1])
    out, err = tmp_path / "driver.out", tmp_path / "driver.err"  # files: a pipe would wait for every orphan
    with open(out, "w") as stdout, open(err, "w") as stderr:
        code = subprocess.run([sys.executable, "-c", _DRIVER, str(toml)], stdout=stdout, stderr=stderr, timeout=300,
                              env=dict(os.environ, PYTHONPATH=repo)).returncode
    assert code == -signal.SIGKILL, err.read_text()[-3000:]
    children = [int(p) for line in out.read_text().splitlines() if line.startswith("children")
                for p in line.split()[1:]]
    assert children, out.read_text()  # the Manager at least
    try:
        deadline = time.monotonic() + 30  # they end at once; the limit only bounds a failure
        while any(map(_running, children)) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [p for p in children if _running(p)]
        assert not left, [Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ")[:200] for p in left]
    finally:
        for pid in children:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
    assert data_run(toml) == 0  # the killed launch's lock is taken over; the tasks it left are run
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["inputs"] == 4
