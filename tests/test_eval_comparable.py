"""A score is set beside the card's only when the run measured the card's set: AIME 2025's answers in the set's
language, LiveCodeBench's whole release graded with upstream's 6 s per test. Runs that were not (AIME 2024
stand-ins, the Korean and English files swapped, a partial LCB copy with a row that failed to parse and a 1 s
test limit) were set beside the published numbers; now the console and the report say why they are not."""

import json
from pathlib import Path

import pytest

from axk1.eval.report import comparison_rows
from axk1.eval.tasks import TaskOptions, get_task
from axk1.eval.tasks.aime_check import ANSWER_KEY, answers_off_key, statement_language
from tests.eval_fake_server import fake_server, run_eval_cli
from tests.lcb_helpers import lcb_row
from tests.aime_files import AIME_DIR, needs_aime

KEY = [a for paper in ("I", "II") for a in ANSWER_KEY[paper]]
PROTOCOL = {"thinking": True, "temperature": 0.6, "top_p": 0.95, "max_tokens": 32768}


def _aime_rows(path: Path, answers, statement="Find the number of ordered pairs with sum {i}.") -> str:
    rows = [{"id": f"q{i}", "problem": statement.format(i=i), "answer": str(a)} for i, a in enumerate(answers)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _why(task: str, info: dict, options: dict | None = None) -> str | None:
    metrics = {"stderr_rerun": 0.8, "stderr_problems": 1.0, "n_problems": info.get("n_problems", 30), "n_samples": 16}
    results = {"config": {"model": "m", "backend": {"model": "m"}, "n": 16, "options": options or {},
                          "sampling": PROTOCOL},
               "tasks": {task: {"score": 70.0, "metrics": metrics, "statuses": {}, "info": info, "published": task}}}
    [row] = comparison_rows(results)
    assert ("published" in row) == (row.get("not_comparable") is None)
    return row.get("not_comparable")


def _aime_info(name: str, path: str) -> dict:
    return get_task(name).load(TaskOptions(data={name: path})).info


def test_an_aime_set_with_the_keys_answers_in_its_language_is_compared(tmp_path):
    assert _why("aime25", _aime_info("aime25", _aime_rows(tmp_path / "en.jsonl", KEY))) is None
    ko = _aime_rows(tmp_path / "ko.jsonl", reversed(KEY), "합이 {i}인 순서쌍의 개수를 구하시오.")  # any order
    assert _why("aime25-ko", _aime_info("aime25-ko", ko)) is None


@pytest.mark.parametrize("answers, why", [
    ([(a + 1) % 1000 for a in KEY], "of its answers are not in AIME 2025's answer key"),  # AIME 2024 stand-ins
    (KEY[:29] + [KEY[0]], "1 of its answers are not in AIME 2025's answer key"),  # one defective answer
])
def test_an_aime_set_whose_answers_are_not_the_keys_is_not_compared(tmp_path, answers, why):
    assert why in _why("aime25", _aime_info("aime25", _aime_rows(tmp_path / "a.jsonl", answers)))


@pytest.mark.parametrize("name, statement, why", [
    ("aime25", "합이 {i}인 순서쌍의 개수를 구하시오.", "30 of 30 statements are not in English"),
    ("aime25-ko", "Find the number of ordered pairs with sum {i}.", "30 of 30 statements are not in Korean"),
    ("aime25", "求和为 {i} 的有序对的个数。", "30 of 30 statements are not in English"),  # a foreign file
])
def test_an_aime_set_in_another_language_is_not_compared(tmp_path, name, statement, why):
    assert why in _why(name, _aime_info(name, _aime_rows(tmp_path / "a.jsonl", KEY, statement)))


@needs_aime
def test_the_real_aime_files_are_compared_and_swapped_they_are_not():
    en, ko = str(AIME_DIR / "aime25_en.jsonl"), str(AIME_DIR / "aime25_ko.jsonl")
    assert _why("aime25", _aime_info("aime25", en)) is None and _why("aime25-ko", _aime_info("aime25-ko", ko)) is None
    assert "not in English" in _why("aime25", _aime_info("aime25", ko))
    assert "not in Korean" in _why("aime25-ko", _aime_info("aime25-ko", en))
    rows = [json.loads(line) for line in Path(en).read_text(encoding="utf-8").splitlines()]
    assert answers_off_key([int(r["answer"]) for r in rows]) == 0
    assert {statement_language(r["problem"]) for r in rows} == {"en"}


@pytest.mark.parametrize("info, options, why", [
    ({"rows_read": 1055}, {"test_timeout_s": 1.0}, "test timeout 1 s, not upstream's 6 s"),
    ({"rows_read": 1054, "failed_to_parse": [{"question_id": "BAD", "reason": "not base64"}]}, {},
     "1 rows of the data failed to parse (first: BAD: not base64)"),
    ({"rows_read": 4}, {}, "4 problems in the data, not release_v6's 1055"),
    ({"rows_read": 1055, "excluded": [{"question_id": "a", "reason": "contest_date 2024-01-01 outside window"},
                                      {"question_id": "b", "reason": "no tests"}]}, {},
     "1 problems of the window excluded (no tests: 1)"),
])
def test_an_lcb_run_off_upstreams_set_or_timeout_is_not_compared(info, options, why):
    assert why in _why("lcb", info, options)
    assert _why("lcb", {"rows_read": 1055, "excluded": [{"question_id": "a", "reason": "contest_date ..."}]}) is None


def test_lcb_ko_translation_exclusions_keep_it_apart():
    info = {"rows_read": 1055, "excluded": [{"question_id": "a", "reason": "translation failed the survival check: "
                                             "not Korean: 0% of the prose's letters are Hangul"}]}
    assert "1 problems of the window excluded (translation failed the survival check: 1)" in _why("lcb-ko", info)


def test_the_console_says_why_a_row_is_not_compared_and_how_many_rows_failed_to_parse(tmp_path, capsys):
    stdin = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    rows = [lcb_row("abc400_a", "2025-03-01T12:00:00", "atcoder", "easy", "Print N+M.", stdin, stdin),
            {**lcb_row("abc401_a", "2025-03-01T12:00:00", "atcoder", "easy", "x", stdin, stdin),
             "private_test_cases": "!!notbase64!!"}]
    data = tmp_path / "test6.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with fake_server() as (base, handler):
        handler.route = staticmethod(lambda prompt: (200, {"choices": [{"message": {"content": "\\boxed{5}"},
                                                                        "finish_reason": "stop"}]}, 0))
        off_key = _aime_rows(tmp_path / "a.jsonl", [(a + 1) % 1000 for a in KEY])
        assert run_eval_cli("--model", f"openai:{base}", "--tasks", "aime25,lcb", "--aime-data", off_key,
                            "--lcb-data", str(data), "--test-timeout", "1", "-n", "16", "-o", str(tmp_path / "run")) == 0
    out = capsys.readouterr().out
    assert "aime25: not compared with the published numbers: 29 of its answers are not in AIME 2025's" in out
    assert "lcb: not compared with the published numbers: test timeout 1 s" in out
    assert "1 rows of the data failed to parse and were left out" in out
