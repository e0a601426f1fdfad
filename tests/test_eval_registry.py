"""The eval task registry: a task defined outside axk1 registers itself and is listed, configured by its own flag,
run, scored and reported by name, with no other file naming it; removed, it is gone again."""

import argparse
import json
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from axk1.cli import main
from axk1.eval.backends import Backend, Completion
from axk1.eval.tasks import TASKS, Problem, Task, TaskData, TaskOptions, flag, get_task, options_class, register


class EchoBackend(Backend):
    """Replies with the last word of each prompt, except prompts holding "odd", which get a wrong reply."""

    name = "echo"

    def generate(self, requests, sampling, done=None):
        replies = []
        for r in requests:
            words = r.messages[-1]["content"].split()
            replies.append(Completion("nope" if "odd" in words else words[-1]))
        return replies


@dataclass
class WordOptions(TaskOptions):
    word_count: int = 3


@dataclass
class WordConfig:
    word_count: int = flag(3, "how many words to ask for")


class WordTask(Task):
    """Repeat-the-word problems; `--word-count` problems, and a column of its own (the share of short replies)."""

    Config = WordConfig  # its flag and --config key
    Options = WordOptions  # what its load reads, copied from the setting of the same name

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
    assert get_task("word-echo").name == "word-echo" and options_class()(word_count=5).word_count == 5
    del TASKS["word-echo"]
    try:
        with pytest.raises(SystemExit):
            main(["eval", "--help"])
        assert "--word-count" not in capsys.readouterr().out
        with pytest.raises(ValueError, match="unknown task 'word-echo'"):
            get_task("word-echo")
        with pytest.raises(TypeError, match="unexpected keyword argument 'word_count'"):
            options_class()(word_count=5)
        assert main(["eval", "--model", "x", "--tasks", "word-echo"]) == 2
        assert "unknown task(s) word-echo" in capsys.readouterr().err
    finally:
        TASKS["word-echo"] = (WordTask, {})  # the fixture removes it


def test_registration_refuses_a_taken_name_and_a_clashing_default():
    with pytest.raises(ValueError, match="'passkey' is registered twice"):
        register("passkey")(WordTask)

    @dataclass
    class ClashOptions(TaskOptions):
        lcb_start: str = "2020-01-01"

    class Clash(WordTask):
        Options = ClashOptions

    with pytest.raises(ValueError, match="Clash declares option 'lcb_start'"):
        register("clash")(Clash)
    assert "clash" not in TASKS


def test_each_task_reads_its_own_flags_only_when_it_runs(monkeypatch, tmp_path):
    """The built-in tasks' flags land in the run's options as before the registry (the same names and defaults)."""
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
    assert args.func(args) == 0
    options = seen["options"]
    assert options.data == {"aime25-ko": "ko.jsonl", "lcb": "lcb"}  # humaneval did not run: its flag is not read
    assert options.lcb_start == "2025-03-01" and options.lcb_end == "2025-05-01"
    assert options.lcb_cache == str(tmp_path / "lcb-decoded")
    assert options.passkey_lengths == (64, 128) and options.passkey_depths == (0.25,) and options.passkey_trials == 2
    assert options.translator is None  # lcb-ko did not run: no translator


def test_every_setting_is_one_flag_and_the_tasks_need_no_argparse():
    """`axk1 eval`'s settings are one dataclass (EvalConfig and the tasks' Configs, axk1/eval/settings.py): each
    field is exactly one flag and the flags are nothing else; none has a default of its own (SUPPRESS: one not
    typed is absent, so the --config file's value stands). The tasks are configured from that dataclass, not from
    an argparse Namespace, so the capability layer under axk1/eval/tasks/ never imports argparse."""
    from axk1.eval import cli
    from axk1.eval.settings import config_class

    parser = argparse.ArgumentParser()
    eval_parser = cli.add_eval_parser(parser.add_subparsers())
    flags = {a.dest for a in eval_parser._actions if a.option_strings and a.default is argparse.SUPPRESS
             and a.help != argparse.SUPPRESS and a.dest != "help"}
    assert flags == {f.name for f in fields(config_class())}
    assert vars(parser.parse_args(["eval", "--tasks", "aime25"])).keys() == {"tasks", "config", "func"}
    tasks = Path(cli.__file__).parent / "tasks"
    assert [p.name for p in tasks.glob("*.py") if "argparse" in p.read_text()] == []


def test_a_config_file_writes_lists_as_toml_arrays(tmp_path):
    from axk1.eval.settings import eval_config

    config = tmp_path / "run.toml"
    config.write_text('tasks = ["passkey"]\npasskey_lengths = [64, 128]\npasskey_depths = [0, 0.5]\n')
    cfg = eval_config({}, config)
    assert cfg.tasks == ["passkey"] and cfg.passkey_lengths == [64, 128]
    config.write_text('passkey_lengths = ["x"]\n')
    with pytest.raises(ValueError, match=r"passkey_lengths must be a string, .*passkey_lengths\[0\] must be an int"):
        eval_config({}, config)
    with pytest.raises(ValueError, match="--passkey-lengths takes comma-separated ints"):
        eval_config({"passkey_lengths": "a,b"})


def test_config_json_records_every_tasks_options_with_their_defaults():
    """The run's options are every task's Options together: config.json's `options` (read by comparison_caveats)
    holds the shared settings and each task's, defaults included, plain values only (no translator backend)."""
    recorded = options_class()(translator=EchoBackend(), passkey_lengths=(64,)).to_dict()
    assert recorded == {"data": {}, "limit": None, "grader_mode": "strict", "test_timeout_s": 6.0, "workers": None,
                        "lcb_start": "2025-02-01", "lcb_end": "2025-05-01", "lcb_release": "release_v6",
                        "lcb_prompt": "r1", "lcb_cache": None, "translation_cache": None, "passkey_lengths": [64],
                        "passkey_depths": [0.0, 0.5, 1.0], "passkey_trials": 2, "passkey_count": None,
                        "passkey_context": None}


@pytest.mark.parametrize("typed, said", [
    ({"top_p": 0.0}, "bad sampling settings"), ({"temperature": float("nan")}, "bad sampling settings"),
    ({"tasks": ","}, "names no task"), ({"passkey_trials": 0}, "passkey-trials must be >= 1"),
    ({"passkey_depths": "0.5,2"}, "from 0 .its start. to 1"), ({"passkey_lengths": "0"}, "must be >= 1 token")])
def test_bad_settings_are_refused_before_a_model_loads(typed, said):
    """The eval config refactor checked sampling ranges, an empty task list and passkey's grid only once the model
    had loaded (or the server answered): a typo cost a 519B load before its error."""
    from axk1.eval.settings import eval_config

    with pytest.raises(ValueError, match=said):
        eval_config(typed)


def test_a_task_written_for_the_old_options_api_is_refused_at_registration():
    """option_defaults / add_arguments were the task API before the settings became dataclasses; register() took such
    a class and its flags silently did not exist."""
    class OldTask(WordTask):
        option_defaults = {"word_count": 3}

    with pytest.raises(TypeError, match="option_defaults.*Config dataclass"):
        register("old-echo")(OldTask)
    assert "old-echo" not in TASKS
