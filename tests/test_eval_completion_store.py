"""completions.jsonl after a kill or a full disk: a last line cut short, a fragment in the middle. `axk1 eval` run
again in the folder must keep every completion it gets readable, against a scripted OpenAI-compatible server."""

import json

import pytest

from axk1.eval.backends import Completion, Request, Sampling
from axk1.eval.completion_store import CompletionStore
from tests.eval_fake_server import aime_file, fake_server, run_eval_cli, sample_records


@pytest.fixture
def server():
    with fake_server() as found:
        yield found


def _readable(path) -> int:
    n = 0
    for line in path.read_text().splitlines():
        try:
            json.loads(line)
            n += 1
        except ValueError:
            pass
    return n


def test_a_torn_last_line_does_not_swallow_the_next_completion(server, tmp_path, capsys):
    """The rerun appended its first completion to the fragment a kill left (`{"key": ..., "text": "{"key": ...`):
    5 of 6 completions stayed readable and every later rerun asked for the lost one again."""
    base, handler = server
    out = tmp_path / "run"
    args = ("--model", f"openai:{base}", "--served-model", "m", "--aime-data", aime_file(tmp_path / "a.jsonl", 3),
            "-n", "2", "--temperature", "0.6", "-o", str(out))
    assert run_eval_cli(*args) == 0
    path = out / "completions.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    assert len(lines) == 6
    path.write_text("".join(lines[:3]) + lines[3][:100])  # what a kill mid-write leaves
    capsys.readouterr()

    handler.calls = 0
    assert run_eval_cli(*args) == 0
    assert handler.calls == 3  # the torn one and the two never written
    assert _readable(path) == 6 and len(path.read_text().splitlines()) == 6
    assert "dropped a torn last line of 100 bytes" in capsys.readouterr().out
    assert [r["status"] for r in sample_records(out)] == ["correct"] * 6

    handler.calls = 0
    assert run_eval_cli(*args) == 0
    assert handler.calls == 0  # all six kept: nothing asked again
    assert json.loads((out / "config.json").read_text())["reused_completions"] == 6


def _completion(i: int) -> tuple[Request, Completion]:
    return Request(messages=[{"role": "user", "content": f"q{i}"}], seed=i), Completion(text=f"a{i}")


def test_a_fragment_in_the_middle_is_skipped_and_counted_and_appends_start_on_a_fresh_line(tmp_path):
    sampling, backend = Sampling(), {"kind": "test"}
    store = CompletionStore(tmp_path, backend)
    for i in range(2):
        store.add(*_completion(i), sampling)
    path = tmp_path / "completions.jsonl"
    first, second = path.read_text().splitlines(keepends=True)
    path.write_text(first + '{"key": "cut' + "\n" + second.rstrip("\n"))  # a middle fragment; no final newline

    store = CompletionStore(tmp_path, backend)
    assert (store.skipped, store.torn_bytes, len(store.kept)) == (1, 0, 2)  # the readable last line is kept
    request, completion = _completion(2)
    store.add(request, completion, sampling)
    assert path.read_text().splitlines()[-2] == second.rstrip("\n")  # not joined by the append
    store = CompletionStore(tmp_path, backend)
    assert (store.skipped, len(store.kept)) == (1, 3)
    assert store.get(request, sampling).text == "a2"


def test_a_half_written_append_does_not_join_the_next(tmp_path):
    """A full disk cuts one append short and the run goes on: the next line must not start on that fragment."""
    sampling, backend = Sampling(), {"kind": "test"}
    store = CompletionStore(tmp_path, backend)
    store.add(*_completion(0), sampling)
    with open(tmp_path / "completions.jsonl", "a") as f:
        f.write('{"key": "half')
    store.add(*_completion(1), sampling)
    assert len(CompletionStore(tmp_path, backend).kept) == 2


def test_a_full_disk_names_the_completions_file(tmp_path):
    """A full disk said only "[Errno 28] No space left on device", naming no file. /dev/full fails every write so."""
    store = CompletionStore(tmp_path, {"kind": "test"})
    (tmp_path / "completions.jsonl").symlink_to("/dev/full")
    with pytest.raises(OSError, match=rf"cannot append to {tmp_path / 'completions.jsonl'} \(No space left on "
                                      r"device\): the completions it holds are kept"):
        store.add(*_completion(0), Sampling())


def test_a_whole_last_line_that_does_not_load_is_skipped_and_kept_on_disk_not_cut_off(tmp_path):
    """Any last line that did not load was cut off the file as torn, even one ending in its newline: a row written by
    an axk1 whose Completion has one more field was deleted from disk. Now only a last line with no newline after it
    that is not JSON is torn (json_text's rule); a whole line is skipped, counted and left where it is."""
    sampling, backend = Sampling(), {"kind": "test"}
    store = CompletionStore(tmp_path, backend)
    store.add(*_completion(0), sampling)
    path = tmp_path / "completions.jsonl"
    newer = json.dumps({"key": "b", "completion": {"text": "7", "finish_reason": "stop", "logprob": -0.1}}) + "\n"
    with open(path, "a") as f:
        f.write(newer)
    before = path.read_bytes()
    store = CompletionStore(tmp_path, backend)
    assert (store.skipped, store.torn_bytes, len(store.kept)) == (1, 0, 1)
    assert path.read_bytes() == before  # the newer row is still there for the axk1 that can read it
    with open(path, "a") as f:
        f.write(newer.rstrip("\n")[:-5])  # now a torn one after it: that alone is cut off
    store = CompletionStore(tmp_path, backend)
    assert (store.skipped, store.torn_bytes, len(store.kept)) == (1, len(newer) - 6, 1)
    assert path.read_bytes() == before


def test_a_line_nested_past_the_stack_is_skipped_not_a_traceback(tmp_path):
    sampling, backend = Sampling(), {"kind": "test"}
    store = CompletionStore(tmp_path, backend)
    store.add(*_completion(0), sampling)
    path = tmp_path / "completions.jsonl"
    with open(path, "a") as f:
        f.write("[" * 100_000 + "\n")
    store.add(*_completion(1), sampling)
    store = CompletionStore(tmp_path, backend)
    assert (store.skipped, store.torn_bytes, len(store.kept)) == (1, 0, 2)


def test_a_run_of_other_tasks_in_the_same_folder_says_the_earlier_scores_leave_results(server, tmp_path, capsys):
    """`--tasks aime25 -o run` then `--tasks aime25-ko -o run`: results.json and report.md are one run's set, so the
    second run replaced aime25's scores without a word. It is said, with the run that keeps both (reusing what the
    first run sampled)."""
    base, handler = server
    out = tmp_path / "run"
    common = ("--model", f"openai:{base}", "--served-model", "m", "--aime-data", aime_file(tmp_path / "a.jsonl", 2),
              "--aime-ko-data", aime_file(tmp_path / "k.jsonl", 2), "-n", "1", "--temperature", "0.6", "-o", str(out))
    assert run_eval_cli(*common, "--tasks", "aime25") == 0
    capsys.readouterr()
    assert run_eval_cli(*common, "--tasks", "aime25-ko") == 0
    said = capsys.readouterr().out
    assert "holds the scores of aime25 from an earlier run, which this run's results replace" in said
    assert "run --tasks aime25,aime25-ko (completions already there are reused" in said
    assert list(json.loads((out / "results.json").read_text())["tasks"]) == ["aime25-ko"]
    handler.calls = 0
    assert run_eval_cli(*common, "--tasks", "aime25,aime25-ko") == 0  # what it advises: nothing sampled again
    assert handler.calls == 0 and "holds the scores of" not in capsys.readouterr().out
    assert list(json.loads((out / "results.json").read_text())["tasks"]) == ["aime25", "aime25-ko"]


def test_the_report_of_a_run_that_replaced_earlier_scores_says_so(server, tmp_path):
    """The replacement was said only on the console before the run: report.md and results.json, read later, gave no
    sign that the folder had held aime25's scores, nor how to get them back without sampling again."""
    base, handler = server
    out = tmp_path / "run"
    common = ("--model", f"openai:{base}", "--served-model", "m", "--aime-data", aime_file(tmp_path / "a.jsonl", 2),
              "--aime-ko-data", aime_file(tmp_path / "k.jsonl", 2), "-n", "1", "--temperature", "0.6", "-o", str(out))
    assert run_eval_cli(*common, "--tasks", "aime25") == 0
    assert run_eval_cli(*common, "--tasks", "aime25-ko") == 0
    config = json.loads((out / "results.json").read_text())["config"]
    assert config["replaced_tasks"] == {"tasks": ["aime25"], "keep_both": "aime25,aime25-ko"}
    assert ("This run replaced the scores of aime25 that an earlier run left in this folder (their completions are "
            "kept in completions.jsonl): `--tasks aime25,aime25-ko`") in (out / "report.md").read_text()
    assert run_eval_cli(*common, "--tasks", "aime25,aime25-ko") == 0
    assert "replaced the scores" not in (out / "report.md").read_text()
    assert "replaced_tasks" not in json.loads((out / "results.json").read_text())["config"]
