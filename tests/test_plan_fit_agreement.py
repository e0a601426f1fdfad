"""`axk1 plan fit` warns when its two approaches disagree on the exponent of M_opt ~ C^a: noisy runs gave 0.097
against 0.475 and nothing was said, while the plan made from the law shrank 3.6x."""

import pytest

from axk1.plan import fit_report
from tests.plan_helpers import synthetic_runs


def _fit(points, tmp_path, monkeypatch) -> str:
    named = {f"r{i}": p for i, p in enumerate(points)}
    monkeypatch.setattr(fit_report, "read_run", lambda folder: named[folder])
    return fit_report.fit_runs(list(named), tmp_path / "law.json", samples=20)


def test_clean_runs_give_no_disagreement_warning(tmp_path, monkeypatch):
    text = _fit(synthetic_runs(), tmp_path, monkeypatch)
    assert "approach 2: M_opt" in text  # both approaches ran
    assert "approaches disagree" not in text


def test_noisy_runs_whose_approaches_disagree_are_warned_about(tmp_path, monkeypatch):
    # 5% noise, seed 3: approach 3 gives C^0.13, approach 2 C^0.39 (the truth is 0.475)
    text = _fit(synthetic_runs(noise=0.05, seed=3), tmp_path, monkeypatch)
    warning = [line for line in text.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "approaches disagree" in warning[0]
    assert "approach 3 gives M_opt ~ C^0.13" in warning[0] and "approach 2 C^0.39" in warning[0]
    assert "more sizes per budget" in warning[0]
    assert (tmp_path / "law.json").exists()  # a warning, not a refusal


@pytest.mark.parametrize("noise, seed", [(0.03, 0), (0.05, 1)])
def test_small_disagreements_are_not_warned_about(noise, seed, tmp_path, monkeypatch):
    # approaches within 0.1 of each other (0.45 vs 0.53, 0.44 vs 0.44): noise, not a law the runs fail to pin
    assert "approaches disagree" not in _fit(synthetic_runs(noise=noise, seed=seed), tmp_path, monkeypatch)
