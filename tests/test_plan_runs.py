"""Runs that would distort a fit without a word: one that diverged yet finished, and one far above its budget's
best in an IsoFLOP parabola."""

import dataclasses
import math

import pytest

from axk1.plan.fit import fit_isoflop
from axk1.plan.runs import read_run
from axk1.train.recipe import load_recipe
from tests.plan_helpers import fake_run, synthetic_runs


def test_a_run_that_diverged_but_finished_is_refused(tmp_path):
    folder = fake_run(tmp_path, "r-diverged", "1.0")
    vocab = load_recipe(folder / "recipe.toml").model.build_config().vocab_size
    metrics = folder / "run" / "metrics.jsonl"
    metrics.write_text(metrics.read_text().replace('"val_loss": 1.0', f'"val_loss": {math.log(vocab) + 0.01}'))
    with pytest.raises(ValueError, match=rf"r-diverged: its last validation loss .* is at or above ln\({vocab}\)"):
        read_run(folder)


def test_approach2_leaves_out_a_run_far_above_its_budgets_best():
    """A diverged run at 4.7x its budget's best moved approach 2's exponent from 0.305 to 0.637."""
    points = synthetic_runs()
    clean = fit_isoflop(points)
    broken = dataclasses.replace(points[10], name="broken", loss=points[10].loss * 4.7)  # the top budget's smallest
    fit = fit_isoflop(points[:10] + [broken] + points[11:])
    assert fit.exponent == pytest.approx(clean.exponent, abs=0.05)
    assert fit.left_out == ("broken",)


def test_runs_on_other_data_are_not_one_setting(tmp_path):
    """Runs of the same length and vocabulary size on another corpus (a [data] manifest elsewhere) were fitted as
    one law with the rest."""
    from axk1.plan.fit_report import check_one_setting

    a, b = fake_run(tmp_path, "a", "3.0"), fake_run(tmp_path, "b", "2.9")
    shared = (a / "tokens" / "manifest.json").resolve()
    shared.parent.mkdir(parents=True, exist_ok=True)
    shared.write_text('{"tokenizer_hash": "abc123"}')
    for folder in (a, b):
        recipe = folder / "recipe.toml"
        recipe.write_text(recipe.read_text().replace('"tokens/manifest.json"', f'"{shared}"'))
    alike = [read_run(a), read_run(b)]
    assert "tokenizer abc123" in alike[0].setting
    check_one_setting(alike)  # one corpus: fine
    recipe = b / "recipe.toml"
    recipe.write_text(recipe.read_text().replace(f'"{shared}"', '"/elsewhere/korean_web/manifest.json"'))
    with pytest.raises(ValueError, match=r"not trained alike.*korean_web.*: b"):
        check_one_setting([read_run(a), read_run(b)])


def test_metrics_without_tokens_say_so(tmp_path):
    """Was "the last validation loss is not at the run's last step"."""
    folder = fake_run(tmp_path, "r-notokens", "3.0")
    metrics = folder / "run" / "metrics.jsonl"
    metrics.write_text('{"step": 1, "loss": 5.0}\n{"step": 1, "val_loss": 3.0}\n')
    with pytest.raises(ValueError, match="r-notokens: the rows of .*metrics.jsonl have no `tokens` field"):
        read_run(folder)


@pytest.mark.parametrize("tokens,says", [("30720", "30,720"), ("1e308", "100,000,000"),
                                         (str(10 ** 400), "1000000000")])
def test_a_run_claiming_more_tokens_than_its_recipe_is_named(tmp_path, tokens, says):
    """Only a run cut short was refused: 10x its recipe's tokens moved the fitted law without a word, 1e308 made
    the law's largest budget infinite (so no plan was ever said to extrapolate it), and an integer of 400 digits
    was an OverflowError traceback."""
    folder = fake_run(tmp_path, "r-more", "3.0")
    metrics = folder / "run" / "metrics.jsonl"
    metrics.write_text(metrics.read_text().replace('"tokens": 3072, "val_loss"', f'"tokens": {tokens}, "val_loss"'))
    with pytest.raises(ValueError, match=rf"r-more: its metrics say it trained {says}.* tokens, more than its "
                                         r"recipe's 3,072: the metrics are damaged"):
        read_run(folder)


@pytest.mark.parametrize("bad", ["Infinity", "NaN", "-Infinity"])
def test_a_row_with_a_count_that_is_no_finite_number_is_named(tmp_path, bad):
    """Infinity was fitted (the law file it wrote, `axk1 plan --law` refused), a NaN skipped by max() over rows."""
    folder = fake_run(tmp_path, "r-inf", "3.0")
    rows = f'{{"step": 1, "tokens": {bad}, "loss": 5.0}}', '{"step": 1, "tokens": 3072, "val_loss": 3.0}'
    (folder / "run" / "metrics.jsonl").write_text("\n".join(rows) + "\n")
    with pytest.raises(ValueError, match="r-inf: a row of .* has no finite number as tokens"):
        read_run(folder)


def _alike(tmp_path, names):
    """fake_run folders on one shared manifest, so that only what a test changes sets them apart."""
    folders = [fake_run(tmp_path, name, f"{3.0 - i / 10}") for i, name in enumerate(names)]
    shared = (tmp_path / "shared" / "manifest.json").resolve()
    shared.parent.mkdir(parents=True, exist_ok=True)
    shared.write_text('{"tokenizer_hash": "abc123"}')
    for folder in folders:
        recipe = folder / "recipe.toml"
        recipe.write_text(recipe.read_text().replace('"tokens/manifest.json"', f'"{shared}"'))
    return folders


@pytest.mark.parametrize("change", [
    ("mixture = { code = 1.0 }", "mixture = { code = 0.3, web = 0.7 }"),  # the last stage's: what val_loss is drawn from
    ("held_out = 0.02\nsequences = 128", "held_out = 0.2\nsequences = 4"),  # other held-out rows
])
def test_runs_on_another_mixture_or_validation_set_are_not_one_setting(tmp_path, change):
    """Their val_loss is measured on other rows (axk1/train/validation.py draws them with the stage's mixture): a
    run on {code = 0.3, web = 0.7} beside runs on {code = 1.0}, or one with held_out 0.2 x 4 rows beside 0.02 x 128,
    was fitted as one law with the rest."""
    from axk1.plan.fit_report import check_one_setting

    a, b = _alike(tmp_path, ["a", "b"])
    for folder in (a, b):  # both validate as a sweep's runs do
        recipe = folder / "recipe.toml"
        recipe.write_text(recipe.read_text() + "[validation]\nheld_out = 0.02\nsequences = 128\n")
    check_one_setting([read_run(a), read_run(b)])  # alike: fine
    # the same mixture in other units, and a zero weight, are the same data
    recipe = b / "recipe.toml"
    recipe.write_text(recipe.read_text().replace("{ web = 0.7, code = 0.3 }", "{ code = 3, web = 7, math = 0 }"))
    check_one_setting([read_run(a), read_run(b)])
    recipe.write_text(recipe.read_text().replace(*change, 1))
    with pytest.raises(ValueError, match=r"not trained alike.*: a; .*: b"):
        check_one_setting([read_run(a), read_run(b)])


@pytest.mark.parametrize("sparse", [["r5"], ["r1", "r5"]])
def test_runs_with_moe_layers_are_refused_by_name(tmp_path, sparse):
    """4 MoE runs (mlp_layer_types dense, sparse; first_k_dense_replace 1) among 16 dense ones were fitted as one law
    without a word (E 0.009 instead of 1.5), and the planner then applied the MoE leverage on top of it."""
    from axk1.plan.fit_report import fit_runs

    folders = _alike(tmp_path, [f"r{i}" for i in range(6)])
    for name in sparse:
        recipe = tmp_path / name / "recipe.toml"
        recipe.write_text(recipe.read_text().replace("first_k_dense_replace = 3", "first_k_dense_replace = 1"))
    with pytest.raises(ValueError, match="MoE layers") as e:
        fit_runs([str(f) for f in folders], tmp_path / "law.json", samples=20)
    said = str(e.value)
    assert all(name in said for name in sparse) and "r0" not in said and "leverage" in said
    assert not (tmp_path / "law.json").exists()
