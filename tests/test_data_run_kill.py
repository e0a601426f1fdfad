"""`axk1 data run` SIGKILLed alone (the OOM killer picks one process): the helper processes of datatrove's local
executor end with it (its pool's workers too, mid-task: they are the forkserver's children, not its own), and a
relaunch takes over its folder's lock and finishes the run. The kill is real; only its moment is chosen (once the
executor's pool is up, or once every worker holds a task)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.data_helpers import data_run, write_docs

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


# Put first on PYTHONPATH, so that every interpreter of the run loads it, the forkserver included (a patch made in the
# launcher does not reach workers the forkserver forks): a task's reader records its worker's pid in AXK1_TEST_HOLD
# and waits there until the file `go` appears.
_HOLD_TASKS = textwrap.dedent("""
    import os, time
    from axk1.data import sources
    real = sources.SourceReader.run
    def run(self, data=None, rank=0, world_size=1):
        hold = os.environ["AXK1_TEST_HOLD"]
        open(os.path.join(hold, str(os.getpid())), "w").close()
        while not os.path.exists(os.path.join(hold, "go")):
            time.sleep(0.05)
        yield from real(self, data, rank, world_size)
    sources.SourceReader.run = run
""")


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _written(out: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}


def _wait_ended(pids, bound_s: float = 30) -> list[int]:
    """The pids still running once they all ended or `bound_s` passed (the bound only limits a failure)."""
    deadline = time.monotonic() + bound_s
    while any(map(_running, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if _running(p)]


def test_pool_workers_mid_task_end_with_a_killed_launch_and_write_nothing_after_it(tmp_path):
    """Under the forkserver the workers outlived a SIGKILLed launch by the rest of their task, writing shards and
    completion markers after its lock was gone (beside a relaunch, had there been one)."""
    write_docs(tmp_path / "docs", n=2)
    toml = tmp_path / "p.toml"  # the default start method (forkserver)
    toml.write_text('[run]\noutput_dir = "out"\ntasks = 2\nworkers = 2\nstages = ["extract"]\n[[sources]]\n'
                    'type = "jsonl"\npath = "docs"\nfilter = false\n[filters.quality]\nword_tokenizer = "regex"\n')
    hooks, hold = tmp_path / "hooks", tmp_path / "hold"
    hooks.mkdir()
    hold.mkdir()
    (hooks / "sitecustomize.py").write_text(_HOLD_TASKS)
    repo = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=f"{hooks}{os.pathsep}{repo}", AXK1_TEST_HOLD=str(hold))
    launch = "import sys; from axk1.cli import main; sys.exit(main(['data', 'run', sys.argv[1]]))"
    workers: list[int] = []
    with open(tmp_path / "launch.err", "w") as stderr:
        launcher = subprocess.Popen([sys.executable, "-c", launch, str(toml)], cwd=tmp_path,
                                    stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        try:
            deadline = time.monotonic() + 120  # bounds a failure only
            while len(list(hold.iterdir())) < 2 and launcher.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            workers = [int(p.name) for p in hold.iterdir()]
            assert len(workers) == 2, (tmp_path / "launch.err").read_text()[-3000:]
            servers = {_ppid(w) for w in workers}
            assert launcher.pid not in servers  # the forkserver's children, as in a real run
            os.kill(launcher.pid, signal.SIGKILL)
            assert launcher.wait(timeout=60) == -signal.SIGKILL
            # the forkserver ends once the launch and the workers (which hold its pipe's write end) have
            assert not _wait_ended(servers), f"workers still running: {[w for w in workers if _running(w)]}"
            before = _written(tmp_path / "out")
            (hold / "go").touch()  # a worker still alive now would finish its task
            left = _wait_ended(workers)
            assert not left, [Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ")[:200] for p in left]
            assert _written(tmp_path / "out") == before
            assert not list((tmp_path / "out").rglob("completions/*"))
        finally:
            for pid in [launcher.pid, *workers]:
                if _running(pid):
                    os.kill(pid, signal.SIGKILL)
            launcher.wait()
