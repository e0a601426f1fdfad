"""What `axk1 eval` leaves in its -o folder: the end-of-run files replaced as one set or not at all
(axk1/eval/result_set.py), one run at a time (the folder's run lock), and errors that name the file or folder.
Against the scripted OpenAI-compatible server of tests/eval_fake_server.py."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import axk1.eval.result_set as result_set
from axk1.checkpoint.run_lock import FolderInUse
from tests.eval_fake_server import aime_file, fake_server, run_eval_cli

SET = ("samples.jsonl", "config.json", "results.json", "report.md", "scores.png")


@pytest.fixture
def server():
    with fake_server() as found:
        yield found


def _shown(out: Path) -> dict:
    """What each name of the set reads as in `out` now (None: missing, or a link leading nowhere)."""
    return {name: (out / name).read_bytes() if (out / name).exists() else None for name in SET}


def _n_of(out: Path) -> tuple:
    """-n as each of the set's files says it: config, results, the report's "problems × samples", sample count."""
    results = json.loads((out / "results.json").read_text())["tasks"]["aime25"]["metrics"]["n_samples"]
    report = "3 × 2" in (out / "report.md").read_text() and 2 or 1
    samples = len((out / "samples.jsonl").read_text().splitlines()) // 3
    return json.loads((out / "config.json").read_text())["n"], results, report, samples


def test_a_rerun_cut_while_writing_its_results_leaves_the_previous_set_whole(server, tmp_path, monkeypatch):
    """config.json and results.json were replaced one at a time before the report: a run stopped while the report
    was drawn (matplotlib takes seconds) left config and results of -n 1 beside the report of -n 2."""
    base, _ = server
    out = tmp_path / "run"
    argv = ("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl"), "-o", str(out))
    assert run_eval_cli(*argv, "-n", "2") == 0
    assert _n_of(out) == (2, 2, 2, 2)
    before = _shown(out)

    def cut(folder, results):
        raise KeyboardInterrupt  # SIGINT (or SIGTERM, raised as Terminated) while the report is written

    monkeypatch.setattr("axk1.eval.report.write_report", cut)
    with pytest.raises(KeyboardInterrupt):
        run_eval_cli(*argv, "-n", "1")
    assert _shown(out) == before
    monkeypatch.undo()
    assert run_eval_cli(*argv, "-n", "1") == 0  # and the next run replaces the whole set
    assert _n_of(out) == (1, 1, 1, 1)


def test_a_full_disk_while_writing_the_results_names_the_folder_and_keeps_the_previous_set(server, tmp_path,
                                                                                          monkeypatch):
    """A full disk left results, config and samples of the new run without its report, and said only
    "[Errno 28] No space left on device"."""
    base, _ = server
    out = tmp_path / "run"
    argv = ("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl"), "-o", str(out))
    assert run_eval_cli(*argv, "-n", "2") == 0
    before = _shown(out)

    def full(rows, path, *args, **kwargs):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr("axk1.eval.report.bar_chart", full)
    with pytest.raises(OSError, match=rf"cannot write this run's results into {out}: No space left on device "
                                      r"\(writing scores.png\)\. The previous results there are unchanged"):
        run_eval_cli(*argv, "-n", "1")
    assert _shown(out) == before
    assert not (out / result_set.STAGING).exists()


def _write_set(content: str, files: tuple[str, ...]):
    def write(folder: Path) -> None:
        for name in files:
            (folder / name).write_text(f"{content} {name}")
    return write


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_renames_waits_for_the_last_one(tmp_path, monkeypatch, sig):
    """Ctrl-C or SIGTERM (the CLI's Terminated) arriving as the first file is renamed into place: every name is
    renamed before it is delivered, so the folder shows the whole new set; the old set's extra plot is gone."""
    from axk1.cli_exit import Terminated, sigterm_raises

    out = tmp_path / "run"
    out.mkdir()
    for name in SET:
        (out / name).write_text(f"old {name}")
    new_files = ("samples.jsonl", "config.json", "results.json", "report.md", "passkey.png")
    real_replace, renamed = os.replace, []

    def replace(src, dst):
        if not renamed:
            os.kill(os.getpid(), sig)  # delivered at once were it not held
        real_replace(src, dst)
        renamed.append(Path(dst).name)

    monkeypatch.setattr(os, "replace", replace)
    with sigterm_raises(), pytest.raises(KeyboardInterrupt if sig == signal.SIGINT else Terminated):
        result_set.publish(out, _write_set("new", new_files))
    assert renamed == sorted(new_files)
    assert {p.name: p.read_text() for p in out.iterdir()} == {n: f"new {n}" for n in new_files}


HOLDER = textwrap.dedent("""
    import sys
    from axk1.checkpoint.run_lock import RunLock
    lock = RunLock(sys.argv[1], flag="-o", job="evaluation")
    print("held", flush=True)
    sys.stdin.read()
""")


def test_a_second_run_into_a_folder_in_use_is_refused_before_asking_anything(server, tmp_path):
    """Two evaluations into one -o both asked the server for every sample, and the one ending last overwrote the
    other's results without a word."""
    base, handler = server
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).parent.parent)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(FolderInUse, match=rf"{out} is in use by another evaluation \(process {holder.pid} on "
                                              r".*Wait for it to end \(or stop it\), or give this run another -o"):
            run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl"), "-o", str(out))
        assert handler.calls == 0
        assert sorted(p.name for p in out.iterdir()) == [".axk1-run.lock"]
    finally:
        holder.communicate("")
    assert run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl"), "-o",
                        str(out)) == 0  # the holder gone, the folder is free


def test_an_output_path_that_is_a_file_is_named_as_one(server, tmp_path):
    base, handler = server
    afile = tmp_path / "afile"
    afile.write_text("mine")
    with pytest.raises(PermissionError, match=rf"-o {afile}: cannot write there: it is a file, not a folder"):
        run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl"), "-o", str(afile))
    assert afile.read_text() == "mine" and handler.calls == 0


def test_a_blank_aime_problem_is_refused_with_its_file_and_line(server, tmp_path):
    """A row whose problem was "" or spaces was sent to the model as it stood, and graded wrong."""
    base, handler = server
    data = tmp_path / "a.jsonl"
    data.write_text('{"id": "p0", "problem": "Find x.", "answer": "70"}\n{"id": "p1", "problem": "   ", "answer": "1"}\n')
    with pytest.raises(ValueError, match=rf"{data}:2: the problem is blank"):
        run_eval_cli("--model", f"openai:{base}", "--aime-data", str(data), "-o", str(tmp_path / "run"))
    assert handler.calls == 0


def test_a_null_reply_is_no_answer_with_a_reason(server, tmp_path):
    base, handler = server
    handler.route = staticmethod(lambda prompt: (200, {"choices": [{"message": {"content": None},
                                                                    "finish_reason": "stop"}]}, 0))
    out = tmp_path / "run"
    run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl", n=1), "-o", str(out))
    record = json.loads((out / "samples.jsonl").read_text())
    assert record["status"] == "no_answer" and "the reply was empty" in record["detail"]


def test_a_livecodebench_file_that_is_not_utf8_is_named_with_its_line(tmp_path):
    """The decoder's own words reached the user: "'utf-8' codec can't decode byte 0xe9 in position 511", with no
    file or line."""
    from axk1.eval.tasks.lcb_data import _read_rows
    from tests.lcb_helpers import lcb_row

    tests = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    good = json.dumps(lcb_row("abc001_a", "2025-03-01T00:00:00", "atcoder", "easy", "Add.", tests, tests))
    path = tmp_path / "test.jsonl"
    path.write_bytes((good + "\n" + good.replace("Add.", "Caf\xe9.") + "\n").encode("latin-1"))
    offset = len(good) + 1 + good.index("Add.") + 3
    with pytest.raises(ValueError, match=rf"{path}:2: not UTF-8 text \(byte {offset} of the file is 0xe9\)"):
        list(_read_rows(path))
