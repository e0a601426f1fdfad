"""The eval task registry: a task defined outside axk1 registers itself and is listed, configured by its own flag,
run, scored and reported by name, with no other file naming it; removed, it is gone again."""

import argparse
import json

import pytest

from axk1.cli import main
from axk1.eval.backends import Backend, Completion
from axk1.eval.tasks import TASKS, Problem, Task, TaskData, TaskOptions, get_task, register


class EchoBackend(Backend):
    """Replies with the last word of each prompt, except prompts holding "odd", which get a wrong reply."""

    name = "echo"

    def generate(self, requests, sampling, done=None):
        replies = []
        for r in requests:
            words = r.messages[-1]["content"].split()
            replies.append(Completion("nope" if "odd" in words else words[-1]))
        return replies


class WordTask(Task):
    """Repeat-the-word problems; `--word-count` problems, and a column of its own (the share of short replies)."""

    option_defaults = {"word_count": 3}

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--word-count", type=int, default=3, help="how many words to ask for")

    def load(self, options):
        words = ["even", "odd", "evens", "odds", "plain"][:options.word_count]
        problems = [Problem(f"w{i}", [{"role": "user", "content": f"repeat {w}"}], w) for i, w in enumerate(words)]
        return TaskData(problems, {"source": "generated", "n_problems": len(problems)})

    def grade(self, problem, completion, options):
        ok = completion.text == problem.gold
        return {"status": "correct" if ok else "wrong", "correct": ok, "extracted": completion.text}

    def extra_scores(self, problems, records, n):
        return {"short_replies": sum(len(r["extracted"]) <= 4 for r in records)}

    def report_lines(self, result, out):
        return [f"- short replies: {result['short_replies']}"]


@pytest.fixture
def word_task():
    register("word-echo")(WordTask)
    yield WordTask
    del TASKS["word-echo"]


def test_a_registered_task_is_listed_configured_run_and_reported(word_task, monkeypatch, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    help_text = capsys.readouterr().out
    assert "word-echo:" in help_text and "--word-count" in help_text  # its own flag, under its name
    assert "aime25,aime25-ko,lcb,lcb-ko,humaneval,passkey,word-echo" in help_text.replace("\n", "").replace(" ", "")

    monkeypatch.setattr("axk1.eval.backend_target.load_backend", lambda target, **kw: EchoBackend())
    out = tmp_path / "run"
    assert main(["eval", "--model", "echo", "--tasks", "word-echo", "--word-count", "2", "-n", "2", "-o", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    task = results["tasks"]["word-echo"]
    assert task["metrics"]["n_problems"] == 2  # --word-count reached the task's load
    assert task["score"] == 50.0 and task["statuses"] == {"correct": 2, "wrong": 2}
    assert task["short_replies"] == 4  # "even", "nope" twice each
    assert json.loads((out / "config.json").read_text())["options"]["word_count"] == 2
    assert "- short replies: 4" in (out / "report.md").read_text()


def test_a_removed_task_is_gone(word_task, capsys):
    assert get_task("word-echo").name == "word-echo" and TaskOptions(word_count=5).word_count == 5
    del TASKS["word-echo"]
    try:
        with pytest.raises(SystemExit):
            main(["eval", "--help"])
        assert "--word-count" not in capsys.readouterr().out
        with pytest.raises(ValueError, match="unknown task 'word-echo'"):
            get_task("word-echo")
        with pytest.raises(TypeError, match="unknown task option 'word_count'"):
            TaskOptions(word_count=5)
        assert main(["eval", "--model", "x", "--tasks", "word-echo"]) == 2
        assert "unknown task(s) word-echo" in capsys.readouterr().err
    finally:
        TASKS["word-echo"] = (WordTask, {})  # the fixture removes it


def test_registration_refuses_a_taken_name_and_a_clashing_default():
    with pytest.raises(ValueError, match="'passkey' is registered twice"):
        register("passkey")(WordTask)

    class Clash(WordTask):
        option_defaults = {"lcb_start": "2020-01-01"}

    with pytest.raises(ValueError, match="Clash declares option 'lcb_start'"):
        register("clash")(Clash)
    assert "clash" not in TASKS


def test_each_task_reads_its_own_flags_only_when_it_runs(monkeypatch, tmp_path):
    """The built-in tasks' flags land in TaskOptions as before the registry (the same names and defaults)."""
    from axk1.eval import cli

    seen = {}
    monkeypatch.setattr("axk1.eval.backend_target.load_backend", lambda target, **kw: EchoBackend())
    monkeypatch.setattr("axk1.eval.runner.run_eval", lambda backend, settings, options, out: seen.update(
        options=options) or {"tasks": {}})
    parser = argparse.ArgumentParser()
    cli.add_eval_parser(parser.add_subparsers())
    args = parser.parse_args(["eval", "--model", "m", "--tasks", "aime25-ko,lcb,passkey", "--aime-ko-data", "ko.jsonl",
                              "--humaneval-data", "he.jsonl", "--lcb-data", "lcb", "--lcb-start", "2025-03-01",
                              "--passkey-lengths", "64,128", "--passkey-depths", "0.25", "-o", str(tmp_path)])
    assert cli.cmd_eval(args) == 0
    options = seen["options"]
    assert options.data == {"aime25-ko": "ko.jsonl", "lcb": "lcb"}  # humaneval did not run: its flag is not read
    assert options.lcb_start == "2025-03-01" and options.lcb_end == "2025-05-01"
    assert options.lcb_cache == str(tmp_path / "lcb-decoded")
    assert options.passkey_lengths == (64, 128) and options.passkey_depths == (0.25,) and options.passkey_trials == 2
    assert options.translator is None  # lcb-ko did not run: no translator
