"""An English task beside its Korean one (aime25 / aime25-ko, lcb / lcb-ko): when the two sets differ (a problem one
file lacks, a translation refused, a sample unanswered) their rows score different problems, and the report gave no
score on the problems both measured. Against a scripted OpenAI-compatible server."""

import json

import pytest

from axk1.eval.tasks import get_task
from tests.eval_fake_server import OK, fake_server, run_eval_cli

WRONG = {"choices": [{"message": {"role": "assistant", "content": "\\boxed{71}"}, "finish_reason": "stop"}]}


@pytest.fixture
def server():
    with fake_server() as found:
        yield found


def _file(path, ids) -> str:
    rows = [{"id": f"p{i}", "problem": f"Problem {i}: find x.", "answer": "70"} for i in ids]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _run(tmp_path, base, en_ids, ko_ids) -> tuple[dict, str]:
    out = tmp_path / "run"
    en, ko = _file(tmp_path / "en.jsonl", en_ids), _file(tmp_path / "ko.jsonl", ko_ids)
    run_eval_cli("--model", f"openai:{base}", "--served-model", "m", "--tasks", "aime25,aime25-ko", "--aime-data", en,
                 "--aime-ko-data", ko, "-n", "2", "--temperature", "0.6", "-o", str(out))
    return json.loads((out / "results.json").read_text()), (out / "report.md").read_text()


def test_the_problems_both_measured_are_scored_apart_when_the_sets_differ(server, tmp_path, monkeypatch, capsys):
    """aime25 holds p0-p2, aime25-ko p0, p1 and p9, and the Korean p1 gets no reply: the rows (66.7 each) score
    different problems; on the one problem both measured, p0, English is wrong and Korean right."""
    monkeypatch.setattr("axk1.eval.retries.time.sleep", lambda s: None)
    base, handler = server

    def route(prompt):
        korean = "단계별" in prompt
        if korean and prompt.startswith("Problem 1:"):
            return 500, {"error": "down"}, 0
        return 200, (WRONG if not korean and prompt.startswith("Problem 0:") else OK), 0
    handler.route = staticmethod(route)
    results, report = _run(tmp_path, base, (0, 1, 2), (0, 1, 9))
    assert results["tasks"]["aime25"]["score"] == pytest.approx(200 / 3)
    assert results["tasks"]["aime25-ko"]["score"] == pytest.approx(200 / 3)
    [pair] = results["pairs"]
    assert pair["tasks"] == ["aime25", "aime25-ko"] and pair["shared_problems"] == 1
    assert pair["scores"] == {"aime25": 0.0, "aime25-ko": 100.0}
    assert pair["only"] == {"aime25": 2, "aime25-ko": 1} and pair["unmeasured"] == {"aime25": 0, "aime25-ko": 1}
    line = ("aime25 and aime25-ko on the 1 problem both measured: aime25 0.0 (± 0.0 rerun), aime25-ko 100.0 (± 0.0 "
            "rerun); their rows above are on different sets (aime25 measured 2 problems that aime25-ko did not; "
            "aime25-ko measured 1 problem that aime25 did not; aime25-ko has 1 problem with unanswered samples)")
    assert f"Like for like: {line}" in report
    assert f"like for like: {line}" in capsys.readouterr().out


def test_the_same_sets_are_said_to_compare_like_for_like(server, tmp_path):
    base, handler = server
    handler.route = staticmethod(lambda prompt: (200, WRONG if prompt.startswith("Problem 2:") else OK, 0))
    results, report = _run(tmp_path, base, (0, 1, 2), (0, 1, 2))
    [pair] = results["pairs"]
    assert pair["shared_problems"] == 3 and pair["only"] == {"aime25": 0, "aime25-ko": 0}
    assert ("Like for like: aime25 and aime25-ko on the same 3 problems: aime25 66.7 (± 0.0 rerun), aime25-ko 66.7 "
            "(± 0.0 rerun); their rows compare like for like.") in report


def test_a_korean_task_names_the_english_one_it_translates():
    assert get_task("lcb-ko").counterpart == "lcb" and get_task("aime25-ko").counterpart == "aime25"
    assert get_task("lcb").counterpart is None and get_task("aime25").counterpart is None
