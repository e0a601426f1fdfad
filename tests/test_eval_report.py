"""The report sets a run beside the model card's table for the mode it ran in: the card's non-thinking HumanEval+ is
79.9 against 87.2 thinking, and it has no non-thinking AIME or LiveCodeBench (a run with thinking off was labelled
"thinking mode" and set beside the thinking numbers)."""

import pytest

from axk1.eval.report import comparison_rows, write_report


def _results(thinking):
    metrics = {"stderr_rerun": 0.8, "stderr_problems": 1.0, "n_problems": 30, "n_samples": 16}
    task = {"score": 70.0, "metrics": metrics, "statuses": {}, "info": {}}
    return {"config": {"model": "m", "backend": {"model": "m"}, "n": 16, "sampling": {"thinking": thinking}},
            "tasks": {"humaneval": {**task, "published": "humaneval"}, "aime25": {**task, "published": "aime25"}}}


def test_a_run_is_set_beside_the_cards_numbers_for_its_mode(tmp_path):
    for thinking, humaneval, aime in ((True, 87.2, 89.8), (None, 87.2, 89.8), (False, 79.9, None)):
        rows = {r["task"]: r for r in comparison_rows(_results(thinking))}
        assert rows["humaneval"]["published"]["A.X K1"] == humaneval
        assert rows["aime25"].get("published", {}).get("A.X K1") == aime
    write_report(tmp_path, _results(False))
    report = (tmp_path / "report.md").read_text()
    assert "(non-thinking mode, A.X K1 model card)" in report
    assert "| AIME25 |" not in report and "| aime25 | 70.0 | 0.8 | 1.0 | 30 × 16 | — | — | — |" in report


def test_groups_are_listed_in_numeric_order():
    """The passkey task's "by length" line read 128, 256, 384, 448, 512, 64: its lengths sorted as text."""
    from axk1.eval.runner import group_order

    assert group_order(["512", "64", "128", "1e3"]) == ["64", "128", "512", "1e3"]
    assert group_order(["ko", "en", "64"]) == ["64", "en", "ko"]


@pytest.mark.parametrize("options,sampling,n,why", [
    ({"lcb_start": "2025-03-02", "lcb_end": "2025-12-31"}, {}, 16, "window 2025-03-02..2025-12-31, not 2025-02-01"),
    ({"grader_mode": "tolerant"}, {}, 16, "tolerant grader, not strict"),
    ({"limit": 4}, {}, 16, "first 4 problems only (--limit)"),
    ({}, {}, 1, "avg@1; the card's are avg@16-64"),
    ({}, {"temperature": 0.0}, 16, "temperature 0.0, not 0.6"),
    ({}, {"max_tokens": 256}, 16, "max_tokens 256 < 32768"),
])
def test_a_run_off_the_published_protocol_is_not_set_beside_it(tmp_path, options, sampling, n, why):
    """An LCB run on another window with the tolerant grader was labelled "LiveCodeBench v6 (25.2.1-25.5.1)" beside
    the card's numbers, as were --limit 4 and -n 1 runs: only the thinking mode was checked."""
    metrics = {"stderr_rerun": 0.8, "stderr_problems": 1.0, "n_problems": 30, "n_samples": n}
    results = {"config": {"model": "m", "backend": {"model": "m"}, "n": n, "options": options,
                          "sampling": {"thinking": True, "temperature": 0.6, "top_p": 0.95, "max_tokens": 32768,
                                       **sampling}},
               "tasks": {"lcb": {"score": 70.0, "metrics": metrics, "statuses": {}, "info": {}, "published": "lcb"}}}
    [row] = comparison_rows(results)
    assert why in row["not_comparable"] and "published" not in row and "ratios" not in row
    write_report(tmp_path, results)
    window = f"{options.get('lcb_start', '2025-02-01')}..{options.get('lcb_end', '2025-05-01')}"  # the run's
    assert f"| LiveCodeBench v6 ({window}) (not comparable: {row['not_comparable']}) | 70.0" in (
        tmp_path / "report.md").read_text()
    results["config"]["options"], results["config"]["sampling"] = {}, {"thinking": True}
    results["config"]["n"] = 16
    results["tasks"]["lcb"]["metrics"]["n_samples"] = 16
    assert comparison_rows(results)[0]["published"]["A.X K1"] == 75.8  # on the protocol: compared


def test_a_run_that_sent_other_sampling_fields_is_not_set_beside_the_card():
    """--extra-body '{"min_p": 0.05}' (which docs/evaluation.md suggests for vLLM's fields) changes what is sampled,
    yet the row sat beside the card's numbers with ratios."""
    metrics = {"stderr_rerun": 0.8, "stderr_problems": 1.0, "n_problems": 30, "n_samples": 16}
    results = {"config": {"model": "m", "backend": {"model": "m", "extra_body": {"min_p": 0.05}}, "n": 16,
                          "options": {}, "sampling": {"thinking": True}},
               "tasks": {"aime25": {"score": 70.0, "metrics": metrics, "statuses": {}, "info": {},
                                    "published": "aime25"}}}
    [row] = comparison_rows(results)
    assert row["not_comparable"] == "--extra-body sets min_p" and "published" not in row
    results["config"]["backend"]["extra_body"] = {"chat_template_kwargs": {"thinking": True}}  # a switch, not sampling
    [row] = comparison_rows(results)
    assert row.get("not_comparable") is None and row["published"]["A.X K1"] == 89.8


def test_the_advice_for_too_long_samples_says_when_the_prompt_itself_is_too_long():
    """A prompt longer than the context was advised "lower --max-tokens", which cannot make it fit; a run with both
    kinds says which advice is for how many."""
    from axk1.eval.report import too_long_remedy

    assert too_long_remedy("aime25", {"too_long": 3, "too_long_prompt": 0}).startswith("lower --max-tokens")
    assert too_long_remedy("aime25", {"too_long": 3, "too_long_prompt": 3}) == (
        "the prompt itself is longer than the model's context, whatever --max-tokens: serve a longer context")
    assert too_long_remedy("passkey", {"too_long": 3, "too_long_prompt": 3}).endswith(
        "--passkey-lengths or serve a longer context")
    mixed = too_long_remedy("aime25", {"too_long": 3, "too_long_prompt": 1})
    assert mixed.startswith("1 of them: the prompt itself") and mixed.endswith(
        "the others: lower --max-tokens, or serve a longer context")


def test_the_report_labels_both_standard_errors(tmp_path):
    """report.md showed one "± s.e.", the spread over problems, which a reader takes for how much a rerun moves the
    score: at 16 samples of problems a model always or never solves, 6.9 points where a rerun moves it by 0."""
    from axk1.eval.metrics import summarize

    metrics = summarize({str(i): [i < 25] * 16 for i in range(30)})
    assert metrics["stderr_rerun"] == 0.0 and round(metrics["stderr_problems"], 1) == 6.9
    results = _results(True)
    results["tasks"] = {"aime25": {"score": metrics["avg@16"], "metrics": metrics, "statuses": {}, "info": {},
                                   "published": "aime25"}}
    write_report(tmp_path, results)
    report = (tmp_path / "report.md").read_text()
    assert "| task | ours (avg@n) | ± s.e. rerun | ± s.e. over problems |" in report
    assert "| AIME25 | 83.3 | 0.0 | 6.9 | 30 × 16 |" in report and "s.e. rerun: how much the score moves" in report


def test_the_chart_of_two_runs_not_comparable_at_zero_labels_its_bars_and_fits_its_title(tmp_path, monkeypatch):
    """A small run (-n 1, two tasks scoring 0) drew a blank chart: its 0.0 bars unlabelled, three published series
    of zeros in the legend though no task had their numbers, and a title cut off at both edges of a 6-inch figure."""
    import matplotlib.pyplot as plt

    from axk1.eval.report import bar_chart

    metrics = {"stderr_rerun": 0.0, "stderr_problems": 0.0, "n_problems": 4, "n_samples": 1}
    task = {"score": 0.0, "metrics": metrics, "statuses": {}, "info": {}}
    results = {"config": {"model": "m", "backend": {"model": "m"}, "n": 1, "sampling": {"thinking": True}},
               "tasks": {"aime25": {**task, "published": "aime25"}, "humaneval": {**task, "published": "humaneval"}}}
    rows = comparison_rows(results)
    assert all("not_comparable" in r for r in rows)
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # the chart's figure, kept to look at once it is saved
    bar_chart(rows, tmp_path / "scores.png", "tiny")
    monkeypatch.undo()
    [fig] = figures
    try:
        assert (tmp_path / "scores.png").exists()
        [ax] = fig.axes
        # no published series (none has a number here); the error bars' entry is ours
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ours (tiny)", "± s.e. rerun (ours)"]
        assert [t.get_text() for t in ax.texts] == ["0.0", "0.0"]  # the bar labels
        assert "not comparable" in ax.get_title().replace("\n", " ")
        fig.canvas.draw()
        box, page = ax.title.get_window_extent(fig.canvas.get_renderer()), fig.bbox
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    finally:
        plt.close(fig)


def _drawn(rows, tmp_path, monkeypatch):
    """The chart bar_chart saves for `rows`, its figure kept to look at."""
    import matplotlib.pyplot as plt

    from axk1.eval.report import bar_chart

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    bar_chart(rows, tmp_path / "scores.png", "m")
    monkeypatch.undo()
    assert (tmp_path / "scores.png").exists()
    return figures[0]


def test_the_chart_marks_an_incomplete_score_draws_error_bars_and_keeps_the_legend_off_the_bars(tmp_path, monkeypatch):
    """An incomplete score (20 of 120 samples unanswered, counted wrong) was drawn as an ordinary bar, no bar had its
    standard error, and the legend sat over the bars."""
    import matplotlib.pyplot as plt
    from matplotlib.container import BarContainer, ErrorbarContainer

    results = _results(True)
    results["tasks"]["aime25"].update(unanswered=20, score=42.5)
    results["tasks"]["aime25"]["metrics"] = {**results["tasks"]["aime25"]["metrics"], "n_problems": 30,
                                             "n_samples": 4}
    rows = comparison_rows(results)
    fig = _drawn(rows, tmp_path, monkeypatch)
    try:
        [ax] = fig.axes
        ours = [c for c in ax.containers if isinstance(c, BarContainer)][0]  # ours: a bar a task (humaneval, aime25)
        assert [bar.get_hatch() for bar in ours] == [None, "//"]
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks[0] == "humaneval" and "incomplete:\n20 of 120 unanswered" in ticks[1]
        [errors] = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert errors.has_yerr and len(errors.lines[2][0].get_segments()) == 2  # one error bar a task
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "± s.e. rerun (ours)" in legend and any("incomplete" in t for t in legend)
        fig.canvas.draw()
        box = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
        for container in ax.containers:
            for bar in getattr(container, "patches", []):
                assert not box.overlaps(bar.get_window_extent()), "the legend covers a bar"
        page = fig.bbox
        assert page.x0 <= box.x0 and box.x1 <= page.x1  # and stays on the page
    finally:
        plt.close(fig)
    # the incomplete task first: the legend copied its hatched bar as the swatch of every score of ours
    fig = _drawn(rows[::-1], tmp_path, monkeypatch)
    try:
        swatches = [h for h in fig.axes[0].get_legend().legend_handles if hasattr(h, "get_hatch")]
        assert swatches[0].get_hatch() is None and swatches[-1].get_hatch() == "//"
    finally:
        plt.close(fig)


def test_the_lcb_row_names_the_runs_window_and_report_md_shows_no_python_dicts(tmp_path):
    metrics = {"stderr_rerun": 0.5, "stderr_problems": 1.0, "n_problems": 3, "n_samples": 16, "avg@16": 70.0}
    results = {"config": {"model": "m", "backend": {"backend": "openai", "model": "m", "extra_body": {}}, "n": 16,
                          "sampling": {"temperature": 0.6, "thinking": None},
                          "options": {"lcb_start": "2023-01-01", "lcb_end": "2025-05-01"}},
               "tasks": {"lcb": {"score": 70.0, "metrics": metrics, "statuses": {"pass": 33, "wrong_answer": 15},
                                 "info": {"source": "lcb/test6.jsonl", "n_problems": 3}, "published": "lcb"}}}
    [row] = comparison_rows(results)
    assert row["label"].startswith("LiveCodeBench v6 (2023-01-01..2025-05-01) (not comparable: window")
    write_report(tmp_path, results)
    report = (tmp_path / "report.md").read_text()
    assert "25.2.1" not in report and "{'" not in report and "None" not in report
    assert "- statuses: pass: 33, wrong_answer: 15" in report
    assert "- metrics: stderr_rerun: 0.5, stderr_problems: 1, n_problems: 3, n_samples: 16, avg@16: 70" in report
    assert "sampling: temperature: 0.6, thinking: none" in report and "extra_body: none" in report
    assert "- data: source: `lcb/test6.jsonl`, n_problems: 3" in report
