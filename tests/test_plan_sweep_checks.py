"""`axk1 plan sweep` warning of runs too small to measure a law, and refusing before it writes: budgets the fit would merge, and a DIR over an older sweep (its
metrics and its run folders outside the new grid stayed beside the new recipes, and the fit mixed them in, or said
"let it finish" about a run the new recipe had lengthened)."""

import math

import pytest

from axk1.cli import main
from axk1.plan.sweep import HIDDEN_LADDER, grid, write_sweep
from axk1.plan.sweep_corpus import write_byte_corpus
from tests.plan_helpers import SMALL


@pytest.fixture
def corpus(tmp_path):
    return write_byte_corpus(tmp_path / "data", source=__import__("axk1.plan", fromlist=["x"]).__path__[0])


def test_a_trained_sweep_is_not_written_over_without_force(tmp_path, corpus, capsys):
    out = tmp_path / "s"
    doc = write_sweep(out, manifest=corpus, **SMALL)
    write_sweep(out, manifest=corpus, **SMALL)  # not trained yet, the same grid: rewritten as it is
    trained = out / "runs" / doc["runs"][0]["name"]
    (trained / "metrics.jsonl").write_text('{"step": 1, "tokens": 128, "val_loss": 3.0}\n')
    (out / "notes.txt").write_text("mine")
    assert main(["plan", "sweep", "-o", str(out), "--manifest", str(corpus), "--budgets", "2e8,6e8", "--sizes", "3",
                 "--seq-len", "32", "--batch", "4"]) == 2
    err = capsys.readouterr().err
    assert f"holds trained runs (runs/{trained.name})" in err and "--force" in err
    assert (trained / "metrics.jsonl").exists()
    write_sweep(out, manifest=corpus, force=True, **SMALL)
    assert not (trained / "metrics.jsonl").exists() and (trained / "recipe.toml").exists()
    assert (out / "notes.txt").read_text() == "mine"  # only the sweep's own run folders go


def test_run_folders_outside_the_new_grid_are_refused_then_cleared(tmp_path, corpus):
    out = tmp_path / "s"
    old = write_sweep(out, manifest=corpus, **{**SMALL, "sizes": 4})
    fewer = {**SMALL, "sizes": 3}
    new_names = {r["name"] for r in write_sweep(tmp_path / "other", manifest=corpus, **fewer)["runs"]}
    stale = sorted({r["name"] for r in old["runs"]} - new_names)
    assert stale
    with pytest.raises(ValueError, match=f"run folders the new grid does not have \\(runs/{stale[0]}"):
        write_sweep(out, manifest=corpus, **fewer)
    write_sweep(out, manifest=corpus, force=True, **fewer)
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(new_names)


def test_budgets_the_fit_would_merge_are_refused_before_anything_is_written(tmp_path, corpus):
    """--budgets 1e12,1.1e12 was written and trained, then the fit took both as one budget and refused."""
    with pytest.raises(ValueError, match=r"--budgets 1e\+12 and 1.1e\+12 are less than 1.41x apart"):
        write_sweep(tmp_path / "s", budgets=(1e12, 1.1e12))
    assert not (tmp_path / "s").exists()
    write_sweep(tmp_path / "ok", manifest=corpus, **{**SMALL, "budgets": (1e12, 1.5e12)})  # 1.5x: two budgets


def test_runs_below_the_plateau_or_of_a_few_steps_are_warned_about(tmp_path, corpus):
    """--budgets 1e9,2e9 wrote runs of 7 optimizer steps, below the plateau, without a word."""
    warnings = write_sweep(tmp_path / "s", manifest=corpus, **SMALL)["warnings"]
    assert any("below ~2e+11 FLOPs" in w and "plateau" in w for w in warnings)
    assert any("fewer than 100 optimizer steps" in w for w in warnings)


def test_budgets_above_1e17_get_sizes_around_their_own_guess():
    """The ladder stopped at hidden 512: 1e18, 1e19 and 1e20 all got the same five shapes, far below their M_guess,
    without a word (docs/planning.md promises sizes over [M_guess/2, 2 M_guess])."""
    runs = grid((1e18, 1e19, 1e20), 5, 2.0, 259, 128)
    for budget in (1e18, 1e19, 1e20):
        scales = [r.scale for r in runs if r.budget == budget]
        guess = 6 * math.sqrt(budget / 120)
        assert len(set(scales)) == 5 and min(scales) < guess < max(scales)
        assert guess / 2.4 <= min(scales) and max(scales) <= guess * 2.4
    assert len({r.hidden for r in runs}) == 15  # no budget shares its shapes with another


def test_budgets_above_the_ladder_and_too_many_sizes_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match=r"--budgets 1e\+22 need models above the sweep's largest shape \(hidden "
                                         r"3072.*the largest budget it serves is 6.09e\+21 FLOPs"):
        write_sweep(tmp_path / "big", budgets=(1e21, 1e22))
    # --sizes 70 failed with "min() arg is an empty sequence" after writing the 121 MB corpus
    with pytest.raises(ValueError, match="--sizes 70: the ladder has too few shapes near budget 2.5e\\+11"):
        write_sweep(tmp_path / "many", sizes=70)
    with pytest.raises(ValueError, match=f"--sizes 500 is more than the {len(HIDDEN_LADDER)} shapes"):
        write_sweep(tmp_path / "more", sizes=500)
    assert not any(tmp_path.iterdir())
