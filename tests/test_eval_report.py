"""The report sets a run beside the model card's table for the mode it ran in: the card's non-thinking HumanEval+ is
79.9 against 87.2 thinking, and it has no non-thinking AIME or LiveCodeBench (a run with thinking off was labelled
"thinking mode" and set beside the thinking numbers)."""

from axk1.eval.report import comparison_rows, write_report


def _results(thinking):
    metrics = {"stderr": 1.0, "n_problems": 10, "n_samples": 2}
    task = {"score": 70.0, "metrics": metrics, "statuses": {}, "info": {}}
    return {"config": {"model": "m", "backend": {"model": "m"}, "n": 2, "sampling": {"thinking": thinking}},
            "tasks": {"humaneval": {**task, "published": "humaneval"}, "aime25": {**task, "published": "aime25"}}}


def test_a_run_is_set_beside_the_cards_numbers_for_its_mode(tmp_path):
    for thinking, humaneval, aime in ((True, 87.2, 89.8), (None, 87.2, 89.8), (False, 79.9, None)):
        rows = {r["task"]: r for r in comparison_rows(_results(thinking))}
        assert rows["humaneval"]["published"]["A.X K1"] == humaneval
        assert rows["aime25"].get("published", {}).get("A.X K1") == aime
    write_report(tmp_path, _results(False))
    report = (tmp_path / "report.md").read_text()
    assert "(non-thinking mode, A.X K1 model card)" in report
    assert "| AIME25 |" not in report and "| aime25 | 70.0 ± 1.0 | 10 × 2 | — | — | — |" in report


def test_groups_are_listed_in_numeric_order():
    """The passkey task's "by length" line read 128, 256, 384, 448, 512, 64: its lengths sorted as text."""
    from axk1.eval.runner import group_order

    assert group_order(["512", "64", "128", "1e3"]) == ["64", "128", "512", "1e3"]
    assert group_order(["ko", "en", "64"]) == ["64", "en", "ko"]
