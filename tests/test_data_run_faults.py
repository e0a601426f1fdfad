"""`axk1 data run` when something outside it goes wrong mid-run: a pool worker killed (the run waited for ever,
holding its folder's lock), a file added to a source while the extract tasks ran (mixed in, and other files never
read, the accounting balanced all the same), `axk1 data stats` on a folder whose run is unfinished (a gzip error
that blamed the input, or `kept 0`), and a file-size limit (said to be a full disk, naming no file)."""

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from axk1.data.stats import corpus_stats, iter_records
from tests.data_helpers import data_run, write_docs

REPO = str(Path(__file__).resolve().parents[1])


def write_pipeline(root, tasks, workers, start_method="fork"):
    toml = root / "p.toml"
    toml.write_text(f'[run]\noutput_dir = "out"\ntasks = {tasks}\nworkers = {workers}\nstart_method = '
                    f'"{start_method}"\nstages = ["extract"]\n[[sources]]\ntype = "jsonl"\npath = "docs"\n'
                    'filter = false\n[filters.quality]\nword_tokenizer = "regex"\n')
    return toml


# `axk1 data run ARGS` (run.start_method "fork", so that the patch reaches the pool's workers) whose task 0 writes its
# worker's pid to PIDFILE and then waits: the test kills that worker while it holds its task.
_DRIVER = textwrap.dedent("""
    import os, sys, time
    from axk1.data import sources
    real = sources.SourceReader.run
    def run(self, data=None, rank=0, world_size=1):
        if rank == 0:
            open(sys.argv[1], "w").write(str(os.getpid()))
            time.sleep(600)
        yield from real(self, data, rank, world_size)
    sources.SourceReader.run = run
    from axk1.cli import main
    sys.exit(main(["data", "run", *sys.argv[2:]]))
""")


def test_a_killed_pool_worker_stops_the_run_naming_it_and_a_relaunch_finishes(tmp_path):
    """datatrove's pool put a new worker in the killed one's place and waited for ever for its task's result: the
    log stopped at "3/4 tasks completed", the lock held, a relaunch refused."""
    write_docs(tmp_path / "docs", n=4)
    toml = write_pipeline(tmp_path, tasks=4, workers=2)
    pidfile = tmp_path / "worker.pid"
    err = tmp_path / "driver.err"
    with open(err, "w") as stderr:
        driver = subprocess.Popen([sys.executable, "-c", _DRIVER, str(pidfile), str(toml)], cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=stderr, env=dict(os.environ, PYTHONPATH=REPO))
        try:
            deadline = time.monotonic() + 120  # bounds a failure only
            while not (pidfile.exists() and pidfile.read_text()) and driver.poll() is None \
                    and time.monotonic() < deadline:
                time.sleep(0.1)
            worker = int(pidfile.read_text())
            assert worker != driver.pid  # a pool's worker, not the launch
            os.kill(worker, signal.SIGKILL)
            code = driver.wait(timeout=120)  # the old executor never returned
        finally:
            if driver.poll() is None:
                driver.kill()
                driver.wait()
    said = err.read_text()
    assert code == 2, said[-3000:]
    assert (f"a worker process (pid {worker}) of the pipeline's stage 'extract' was killed by SIGKILL (perhaps the "
            "out-of-memory killer") in said, said[-3000:]
    assert "Run the same command again: it skips the finished tasks and runs the rest" in said
    assert data_run(toml) == 0  # the lock was given up; the task the worker held is run now
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["inputs"] == 4


def test_a_file_added_while_the_tasks_run_is_not_read_and_no_other_is_passed_over(tmp_path, monkeypatch, capsys):
    """Each task listed the sources as it started and took positions rank::world_size: a file added after task 0
    began (sorting second) was read by task 1 in place of the files it moved along, which no task read."""
    from axk1.data import sources

    write_docs(tmp_path / "docs", n=4)  # f0..f3: task 0 reads f0 and f2, task 1 f1 and f3
    toml = write_pipeline(tmp_path, tasks=2, workers=1)
    real = sources.SourceReader.run

    def run(self, data=None, rank=0, world_size=1):
        if rank == 0:  # as another process might, while the run goes on
            (tmp_path / "docs" / "f0a.jsonl").write_text(json.dumps({"id": "new", "text": "an added file"}) + "\n")
        yield from real(self, data, rank, world_size)

    monkeypatch.setattr(sources.SourceReader, "run", run)
    monkeypatch.chdir(tmp_path)
    assert data_run(toml) == 0
    out = tmp_path / "out"
    read = sorted(r["metadata"]["path"] for folder in ("clean", "excluded", "failed")
                  for r in iter_records(out / folder))
    assert read == ["f0.jsonl", "f1.jsonl", "f2.jsonl", "f3.jsonl"]  # each once, as the launch listed them
    assert "changed while this run read them: docs: 1 added (f0a.jsonl)" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"1 added \(f0a\.jsonl\)"):  # a relaunch is refused as ever
        data_run(toml)


def test_a_listing_the_launch_cannot_make_does_not_leave_an_earlier_ones_for_the_tasks(tmp_path):
    """A cluster launch from a host that does not see the sources records no listing: the tasks must not share out
    the files an earlier launch recorded (they walk the sources themselves)."""
    from axk1.data.config import config_from_dict
    from axk1.data.launch_listing import launch_files
    from axk1.data.run_folder import INPUTS_FILE, check_inputs

    write_docs(tmp_path / "docs", n=2)
    raw = {"run": {"output_dir": str(tmp_path / "out"), "stages": ["extract"]},
           "sources": [{"type": "jsonl", "path": str(tmp_path / "docs"), "name": "docs"}]}
    check_inputs(config_from_dict(raw), force=False)
    listing = str(tmp_path / "out" / INPUTS_FILE)
    cfg = config_from_dict(raw)
    assert [p.name for _, p in launch_files(listing, cfg.sources, [])] == ["f0.jsonl", "f1.jsonl"]
    raw["sources"][0]["path"] = str(tmp_path / "elsewhere")  # not here: a cluster node's path
    cfg = config_from_dict(raw)
    check_inputs(cfg, force=False)
    found = [(0, tmp_path / "elsewhere" / "x.jsonl")]
    assert launch_files(listing, cfg.sources, found) == found


def test_stats_on_an_unfinished_run_says_so_instead_of_counting_its_partial_outputs(tmp_path, monkeypatch):
    """A launch killed mid-stage left cut gzip shards (stats blamed the input: "recompress it whole") or none (it
    printed kept 0, balanced false)."""
    write_docs(tmp_path / "docs", n=4)
    toml = write_pipeline(tmp_path, tasks=2, workers=1)
    monkeypatch.chdir(tmp_path)
    assert data_run(toml) == 0
    out = tmp_path / "out"
    assert corpus_stats(out)["accounting"]["balanced"]
    (out / "logs" / "extract" / "completions" / "00001").unlink()  # task 1 as a kill left it: no marker
    shard = next((out / "clean").glob("00001*"))
    shard.write_bytes(shard.read_bytes()[:20])  # and its shard cut short
    with pytest.raises(ValueError, match=r"^the run in .*out is unfinished: 1 of 2 tasks of stage 'extract' done .*"
                                         r"Run the same `axk1 data run` again to finish it"):
        corpus_stats(out)


def test_a_file_size_limit_is_named_with_its_file_not_as_a_full_disk(tmp_path):
    """EFBIG (`ulimit -f`) was said as "free space, or --run.output_dir on a larger disk", naming no file."""
    docs = tmp_path / "docs"
    docs.mkdir()
    rows = [json.dumps({"id": str(i), "text": os.urandom(600).hex()}) for i in range(200)]  # ~240 kB, incompressible
    (docs / "big.jsonl").write_text("\n".join(rows) + "\n")
    toml = write_pipeline(tmp_path, tasks=1, workers=1)
    limit, hard = 100_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    done = subprocess.run([sys.executable, "-m", "axk1", "data", "run", str(toml)], cwd=tmp_path, text=True,
                          capture_output=True, timeout=300, env=dict(os.environ, PYTHONPATH=REPO),
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard)))
    assert done.returncode == 2, done.stderr[-3000:]
    line = done.stderr.strip().splitlines()[-1]
    assert (f"the pipeline's stage 'extract' failed writing {tmp_path / 'out' / 'clean'}/00000.jsonl.gz: it reached "
            "the file-size limit (ulimit -f: 100,000 bytes a file, or a per-file quota of the file system). Raise "
            "the limit (`ulimit -f unlimited` in the job script)") in line, line
    assert "free space" not in line
