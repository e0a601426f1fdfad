"""`axk1 plan fit` on runs a logging mistake spoiled: a loss far below its budget's other runs is refused by name
(one at 0.01 among ~3 became its budget's best, the genuine runs were dropped as broken and the law predicted a
loss of 0.0000), a val_loss of 1e-6 is no bare "Singular matrix", and a law that misses its own runs is not
written. Errors name the sub-verb: `axk1 plan fit: error:`."""

import dataclasses

import pytest

from axk1.cli import main
from axk1.plan import fit_report
from axk1.plan.fit import fit_parametric
from tests.plan_helpers import synthetic_runs


@pytest.fixture
def runs(monkeypatch):
    """Fifteen synthetic runs on a known law, read by name instead of from folders; tests spoil them in place."""
    points = {p.name: p for p in synthetic_runs()}
    monkeypatch.setattr(fit_report, "read_run", lambda folder: points[folder])
    return points


def _fit(points, tmp_path, capsys):
    law = tmp_path / "law.json"
    code = main(["plan", "fit", *points, "-o", str(law), "--bootstrap", "20"])
    return code, capsys.readouterr(), law


@pytest.mark.parametrize("loss", [0.01, 1e-6, 1e-9])
def test_a_loss_far_below_its_budgets_others_is_refused_by_name(runs, tmp_path, capsys, loss):
    runs["c1e+12-1.0"] = dataclasses.replace(runs["c1e+12-1.0"], loss=loss)
    code, out, law = _fit(runs, tmp_path, capsys)
    assert code == 2 and not law.exists()
    assert out.err.startswith("axk1 plan fit: error: run c1e+12-1.0's val_loss")
    assert "far below its budget's other runs (median" in out.err and "fit without it" in out.err


def test_a_singular_fit_names_the_lowest_losses_not_numpy():
    points = [dataclasses.replace(p, loss=1e-9) if p.name == "c1e+12-1.0" else p for p in synthetic_runs()]
    with pytest.raises(ValueError, match=r"singular .*\(the lowest: c1e\+12-1\.0 at 1e-09.*check their val_loss"):
        fit_parametric(points)


def test_a_law_that_misses_its_runs_is_not_written(runs, tmp_path, capsys):
    # a whole budget logged 3x too high: no run stands out within its budget, but no law fits all three
    for name, p in list(runs.items()):
        if name.startswith("c1e+12"):
            runs[name] = dataclasses.replace(p, loss=3 * p.loss)
    code, out, law = _fit(runs, tmp_path, capsys)
    assert code == 2 and not law.exists()
    assert out.err.startswith("axk1 plan fit: error: the fitted law misses its runs by an rmse of log L of 0.")
    assert "at most 0.2" in out.err and "measured vs fitted loss): c1e+12-" in out.err


def test_the_genuine_runs_still_fit_and_the_law_is_named_by_its_path(runs, tmp_path, capsys):
    code, out, law = _fit(runs, tmp_path, capsys)
    assert code == 0 and law.exists() and "rmse of log L 0.000" in out.out
    assert main(["plan", "--gpu", "H200", "--gpus", "8", "--days", "1", "--law", str(law), "-o",
                 str(tmp_path / "plan")]) == 0
    text = capsys.readouterr().out
    # every fitted law was named 'law', its file's stem ("the fitted law 'law''s fit uncertainty")
    assert f"the fitted law {str(law)!r} has no bootstrap refits" in text and "'law'" not in text
