"""`axk1 plan fit --check/--plot`: the held-out run must be one the fit could predict, and everything is checked
before the law file is written (a bad --check, or a --plot folder that did not exist, failed after writing it)."""

import dataclasses
import json

import pytest

from axk1.cli import main
from axk1.plan import fit_report
from axk1.plan.law_file import load_law_file
from tests.plan_helpers import synthetic_runs


@pytest.fixture
def runs(monkeypatch):
    """Fifteen synthetic runs and a held-out one, read by name instead of from folders."""
    points = {p.name: p for p in synthetic_runs(noise=0.002, seed=3)}
    top = max(points.values(), key=lambda p: p.flops)
    points["held"] = dataclasses.replace(top, name="held", scale=top.scale * 1.5, tokens=top.tokens * 1.5,
                                         loss=top.loss * 0.97)

    def read(folder):
        if folder == "in-progress":
            raise ValueError("in-progress: it stopped at step 876 of 1461")
        return points[folder]
    monkeypatch.setattr(fit_report, "read_run", read)
    return points


def fitted(points):
    return [name for name in points if name != "held" and not name.startswith("x")]


@pytest.mark.parametrize("kind, match", [
    ("other setting", "--check x: the runs were not trained alike"),  # was "checked": "error -9.00%"
    ("rerun", "--check x has the size and tokens of the fitted run"),  # a fitted point again, another loss
    ("in progress", "in-progress: it stopped"),
])
def test_a_check_the_fit_cannot_predict_is_refused_before_the_law_is_written(runs, tmp_path, kind, match):
    names = fitted(runs)
    if kind == "other setting":
        runs["x"] = dataclasses.replace(runs["held"], name="x", setting="seq_len 64, vocabulary 320")
    elif kind == "rerun":
        runs["x"] = dataclasses.replace(runs[names[-1]], name="x", loss=runs[names[-1]].loss * 1.01)
    law = tmp_path / "law.json"
    with pytest.raises(ValueError, match=match):
        fit_report.fit_runs(names, law, check="in-progress" if kind == "in progress" else "x", samples=20)
    assert not law.exists()


def test_a_plot_folder_is_made_and_a_trailing_slash_means_a_folder(runs, tmp_path):
    text = fit_report.fit_runs(fitted(runs), tmp_path / "law.json", check="held", samples=20,
                               plot=str(tmp_path / "new" / "sub") + "/")
    assert (tmp_path / "new" / "sub" / "fit.png").is_file() and "held-out run held" in text
    (tmp_path / "afile").write_text("")
    with pytest.raises(ValueError, match="--plot .*: cannot make its folder"):
        fit_report.fit_runs(fitted(runs), tmp_path / "law2.json", plot=str(tmp_path / "afile" / "fit.png"))
    assert not (tmp_path / "law2.json").exists()


def test_too_few_runs_are_counted_as_given_then_as_within_the_frontier(runs, tmp_path):
    """Four runs given were refused as "got 3" (the count after the frontier)."""
    names = [n for n in fitted(runs) if n.startswith("c1e+13")]  # one budget's five sizes
    with pytest.raises(ValueError, match="at least 5 runs with a validation loss, got 4"):
        fit_report.fit_runs(names[:4], tmp_path / "law.json")
    with pytest.raises(ValueError, match=r"5 runs given, only \d are within 10% of their budget's best loss"):
        fit_report.fit_runs(names, tmp_path / "law.json")


def test_o_a_folder_writes_law_json_in_it_and_a_bad_o_is_refused_before_the_fit(runs, tmp_path, monkeypatch):
    """`-o out/` (an existing folder) failed with "Is a directory" only after the whole fit (~22 s)."""
    text = fit_report.fit_runs(fitted(runs), tmp_path, samples=20)
    assert (tmp_path / "law.json").is_file() and f"law file: {tmp_path / 'law.json'}" in text
    (tmp_path / "afile").write_text("")

    def no_fit(*args, **kwargs):
        raise AssertionError("fitted before -o was checked")
    monkeypatch.setattr(fit_report, "fit_parametric", no_fit)
    with pytest.raises(ValueError, match="-o .*: cannot make its folder"):
        fit_report.fit_runs(fitted(runs), tmp_path / "afile" / "law.json", samples=20)
    (tmp_path / "d" / "law.json").mkdir(parents=True)
    with pytest.raises(ValueError, match="law.json is a folder; give the file's path"):
        fit_report.fit_runs(fitted(runs), tmp_path / "d", samples=20)


def test_a_check_run_below_the_fitted_budgets_is_said_to_be_below_them(runs, tmp_path):
    """A check at 0.01x the largest fitted budget printed "(x0.0 the largest fitted)", read as a check upward."""
    names = fitted(runs)
    small = min((runs[n] for n in names), key=lambda p: p.flops)
    runs["low"] = dataclasses.replace(small, name="low", scale=small.scale / 4, tokens=small.tokens / 4)
    ratio = runs["low"].flops / max(runs[n].flops for n in names)
    assert ratio < 0.05
    text = fit_report.fit_runs(names, tmp_path / "law.json", check="low", samples=20)
    assert f"(x{ratio:.3g} the largest fitted, below the fitted budgets: an extrapolation downward" in text, text
    text = fit_report.fit_runs(names, tmp_path / "law.json", check="held", samples=20)  # 1.5 x 1.5 the top run
    assert "(x2.25 the largest fitted, above the fitted budgets: an extrapolation upward)" in text, text
    runs["mid"] = dataclasses.replace(small, name="mid", scale=small.scale * 4, tokens=small.tokens * 4)
    text = fit_report.fit_runs(names, tmp_path / "law.json", check="mid", samples=20)
    assert "the largest fitted, inside the fitted budgets: an interpolation)" in text, text


def _edit(path, **fields):
    doc = json.loads(path.read_text())
    doc.update(fields)
    path.write_text(json.dumps(doc))
    return path


def test_a_law_file_whose_law_does_not_fit_its_own_runs_is_refused(runs, tmp_path, capsys):
    """A fitted law file edited to E 0.3 and A 5, its samples and runs kept, planned "predicted loss 0.3305 (5-95%
    band 1.5832-1.5832)" without a word; samples of another law gave a band that was not the law's."""
    fit_report.fit_runs(fitted(runs), tmp_path / "law.json", samples=40)
    path = tmp_path / "law.json"
    genuine = json.loads(path.read_text())
    assert load_law_file(path).law.E == genuine["E"]  # a fitted file reads back, noise and all
    assert sum(r["fitted"] for r in genuine["runs"]) < len(genuine["runs"])  # the frontier is recorded
    _edit(path, E=0.3, A=5.0)
    with pytest.raises(ValueError, match=r"law.json: its law does not fit the runs it records: the rmse of log L over "
                                         r"the \d+ runs it was fitted to \(c1e\+11-.*\) is .*`axk1 plan fit"):
        load_law_file(path)
    assert main(["plan", "--gpu", "H100", "--gpus", "8", "--days", "1", "--law", str(path)]) == 2
    assert "does not fit the runs it records" in capsys.readouterr().err
    _edit(path, E=genuine["E"], A=genuine["A"], samples=[[e + 0.5, a, al, b, be] for e, a, al, b, be in
                                                         genuine["samples"]])
    with pytest.raises(ValueError, match="its law lies outside its own bootstrap samples' 5-95% band at"):
        load_law_file(path)
    _edit(path, samples=genuine["samples"], rmse_log=0.0)  # its error understated
    with pytest.raises(ValueError, match=r"the file says 0:"):
        load_law_file(path)
