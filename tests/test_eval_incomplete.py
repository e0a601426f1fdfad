"""A run is accounted for sample by sample: samples without a reply, problems that could not be prepared, outputs a
cut rerun would lose. Against a scripted OpenAI-compatible server (tests/eval_fake_server.py)."""

import json

import pytest

from tests.eval_fake_server import aime_file, aime_key_file, answer_reply, fake_server, run_eval_cli, sample_records


@pytest.fixture
def server():
    with fake_server() as found:
        yield found


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr("axk1.eval.retries.time.sleep", lambda s: None)  # the retries' back-off


def test_unanswered_samples_make_the_score_incomplete_and_the_exit_non_zero(server, tmp_path, no_backoff, capsys):
    """18 of 30 requests failed, yet the run printed a score, set it beside the published ones and exited 0: the
    unanswered samples were counted as wrong answers."""
    base, handler = server
    down = ("Problem 1:", "Problem 3:")  # 2 of 30 problems, 32 of 480 samples
    handler.route = staticmethod(lambda prompt: (503, {"error": "down"}, 0) if prompt[:10] in down
                                 else (200, answer_reply(prompt), 0))
    out = tmp_path / "run"
    argv = ("--model", f"openai:{base}", "--aime-data", aime_key_file(tmp_path / "a.jsonl"), "-n", "16", "-o",
            str(out))
    assert run_eval_cli(*argv) == 1
    captured = capsys.readouterr()
    assert "INCOMPLETE: 32/480 samples unanswered" in captured.out
    # the statuses as report.md shows them, not as a Python dict
    assert "(30 problems × 16)  correct: 448, request_failed: 32" in captured.out and "{'" not in captured.out
    assert "aime25: 32/480 samples unanswered" in captured.err and "Run the same command again" in captured.err
    result = json.loads((out / "results.json").read_text())["tasks"]["aime25"]
    assert result["unanswered"] == 32 and result["statuses"] == {"correct": 448, "request_failed": 32}
    report = (out / "report.md").read_text()
    assert "AIME25 (not comparable: 32/480 samples unanswered)" in report and "89.8" not in report
    assert "**incomplete**: 32/480 samples unanswered" in report

    handler.route = staticmethod(lambda prompt: (200, answer_reply(prompt), 0))  # back: the rerun fills the gaps
    assert run_eval_cli(*argv) == 0
    assert [r["status"] for r in sample_records(out)] == ["correct"] * 480
    report = (out / "report.md").read_text()
    assert "| AIME25 | 100.0" in report and "89.8" in report and "not comparable" not in report


def _reply(content):
    return {"choices": [{"message": {"content": content}, "finish_reason": "stop"}]}


def test_an_lcb_ko_translation_request_that_failed_leaves_its_problem_unanswered(server, tmp_path, no_backoff):
    """A translator's 503 dropped the problem as if its translation had failed the survival check: the KO set
    shrank, the run exited 0 and its score was set beside the published one."""
    from tests.lcb_helpers import lcb_row

    stdin = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    rows = [lcb_row(f"abc40{i}_a", "2025-03-01T12:00:00", "atcoder", "easy", f"Problem {i}: print N+M.", stdin, stdin)
            for i in range(2)]
    data = tmp_path / "test6.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base, handler = server

    def route(prompt, down=True):
        if prompt.startswith("Translate"):
            if down and "Problem 1" in prompt:
                return 503, {"error": "overloaded"}, 0
            korean = prompt.split("\n\n", 1)[1].replace("Problem", "문제").replace("print N+M.", "N+M을 출력하세요.")
            return 200, _reply(korean), 0  # survives the check
        return 200, _reply("no code here"), 0

    handler.route = staticmethod(route)
    out = tmp_path / "run"
    argv = ("--model", f"openai:{base}", "--tasks", "lcb-ko", "--lcb-data", str(data), "--lcb-cache",
            str(tmp_path / "cache"), "-n", "2", "-o", str(out))
    assert run_eval_cli(*argv) == 1
    result = json.loads((out / "results.json").read_text())["tasks"]["lcb-ko"]
    assert result["statuses"] == {"no_code": 2, "request_failed": 2} and result["unanswered"] == 2
    assert result["info"]["excluded"] == [] and result["info"]["untranslated"] == 1
    failed = [r for r in sample_records(out) if r["status"] == "request_failed"]
    assert {r["problem_id"] for r in failed} == {"abc401_a"} and "translation request failed" in failed[0]["error"]
    assert "HTTP 503" in failed[0]["error"]

    handler.route = staticmethod(lambda prompt: route(prompt, down=False))
    assert run_eval_cli(*argv) == 0
    result = json.loads((out / "results.json").read_text())["tasks"]["lcb-ko"]
    assert result["statuses"] == {"no_code": 4} and result["info"]["translated"] == 2


def test_a_run_cut_short_leaves_the_last_runs_samples_beside_its_results(server, tmp_path):
    """samples.jsonl was opened for writing before generation: a rerun that stopped (here: the server refused every
    request) left it empty while results.json and report.md still described the run before."""
    base, handler = server
    out, data = tmp_path / "run", aime_file(tmp_path / "a.jsonl", 5)
    assert run_eval_cli("--model", f"openai:{base}", "--aime-data", data, "-o", str(out)) == 0
    before = {name: (out / name).read_text() for name in ("samples.jsonl", "results.json", "report.md")}
    handler.route = staticmethod(lambda prompt: (404, {"error": {"message": "model 'x' does not exist"}}, 0))
    with pytest.raises(ValueError, match="rejected the first 3 requests"):
        run_eval_cli("--model", f"openai:{base}", "--served-model", "x", "--aime-data", data, "--concurrency", "1",
                     "-o", str(out))
    assert {name: (out / name).read_text() for name in before} == before
    assert len(sample_records(out)) == 5


def test_one_problem_has_no_standard_error(server, tmp_path, capsys):
    """A run on one problem printed "± 0.0": a standard error it cannot estimate, read as a certain score."""
    from axk1.eval.metrics import summarize

    assert summarize({"p": [True, False]})["stderr_problems"] is None
    base, _ = server
    out = tmp_path / "run"
    assert run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl", 1), "-o",
                        str(out)) == 0
    assert "100.0 ± n/a rerun, ± n/a over problems" in capsys.readouterr().out
    assert "| 100.0 | n/a | n/a |" in (out / "report.md").read_text()
    assert json.loads((out / "results.json").read_text())["tasks"]["aime25"]["metrics"]["stderr_problems"] is None
