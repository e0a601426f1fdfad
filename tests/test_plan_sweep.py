"""`axk1 plan sweep`: the IsoFLOP grid it writes, recipes `axk1 train` takes as they are, and `axk1 plan fit` on a
real (one-step) run."""

import json
import math

import pytest

from axk1.cli import main
from axk1.flops import non_embedding_flops_per_token
from axk1.plan.runs import read_run
from axk1.plan.sweep import grid, tiny_dense_config, write_sweep
from axk1.plan.sweep_corpus import write_byte_corpus
from axk1.train.recipe import load_recipe
from tests.plan_helpers import SMALL, fake_run


@pytest.fixture
def corpus(tmp_path):
    # the planner's own source as the corpus: small, real text, fast to write
    return write_byte_corpus(tmp_path / "data", source=__import__("axk1.plan", fromlist=["x"]).__path__[0])


def test_grid_is_budgets_by_sizes_around_the_guess():
    runs = grid((3e11, 3e12), 4, 2.5, 320, 128, 32)
    assert len(runs) == 8
    for budget in (3e11, 3e12):
        group = [r for r in runs if r.budget == budget]
        scales = [r.scale for r in group]
        assert len(set(scales)) == 4 and scales == sorted(scales)
        for r in group:  # whole steps of 4,096 tokens that spend the budget
            assert r.tokens % 4096 == 0 and r.scale * r.tokens == pytest.approx(budget, rel=0.15)
        guess = 6 * math.sqrt(budget / 120)
        assert min(scales) < guess < max(scales)
    # each budget's runs named by it: 1.5e11 and 2.5e11 were both `c2e11-h...`, one folder for two runs
    names = [r.name for r in grid((1.5e11, 2.5e11), 3, 2.5, 320, 128, 32)]
    assert len(set(names)) == 6 and {n.split("-")[0] for n in names} == {"c1.5e11", "c2.5e11"}


def test_grid_batch_follows_the_batch_law():
    runs = grid((1e11, 1e12), 3, 2.5, 320, 128)
    small, big = runs[0], runs[-1]
    assert small.batch < big.batch  # DeepSeek LLM's B = 0.292 C^0.327: ~1.2K tokens at 1e11, ~2.5K at 1e12
    assert small.batch * 128 == pytest.approx(0.292 * 1e11 ** 0.3271, rel=0.1)


def test_grid_refuses_a_degenerate_sweep():
    with pytest.raises(ValueError, match="at least 2 budgets and 3 sizes"):
        grid((1e11,), 4, 2.5, 320, 128, 32)
    with pytest.raises(ValueError, match="--spread"):
        grid((1e11, 1e12), 4, 1.0, 320, 128, 32)


def test_sweep_writes_recipes_the_trainer_reads(tmp_path, corpus):
    doc = write_sweep(tmp_path / "sweep", manifest=corpus, holdout_factor=3.0, **SMALL)
    assert len(doc["runs"]) == 6 and doc["holdout"]["budget"] == pytest.approx(1.8e9)
    for run in doc["runs"] + [doc["holdout"]]:
        recipe = load_recipe(f"{run['folder']}/recipe.toml")
        config = recipe.model.build_config()
        assert config.first_k_dense_replace == config.num_hidden_layers and recipe.model.mtp_depth == 0
        assert non_embedding_flops_per_token(config, 32) == pytest.approx(run["scale"])
        assert recipe.validation.held_out > 0 and recipe.stages[0].tokens == run["tokens"]
        assert recipe.schedule.kind == "cosine"  # decays to the end of each run
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text())["sizes"] == 3


def test_tiny_dense_config_is_dense():
    config = tiny_dense_config(64, 320, 128)
    assert config.first_k_dense_replace == config.num_hidden_layers == 2 and config.hidden_size == 64


@pytest.mark.e2e
def test_sweep_run_trains_and_fits_as_a_point(tmp_path, corpus, capsys):
    write_sweep(tmp_path / "sweep", manifest=corpus, holdout_factor=0, threads=1,
                **{**SMALL, "budgets": (2.5e7, 5e7)})  # the smallest budget's runs: one or two steps
    folder = sorted((tmp_path / "sweep" / "runs").iterdir())[0]
    with pytest.raises(ValueError, match="train it first"):
        read_run(folder)
    assert main(["train", str(folder / "recipe.toml"), "--device", "cpu"]) == 0
    point = read_run(folder)
    recipe = load_recipe(folder / "recipe.toml")
    assert point.tokens == recipe.stages[0].tokens <= 2 * 4 * 32
    assert 0 < point.loss < math.log(320) + 1  # a held-out loss, about uniform over the bytes after a step or two
    # fitting from a single run is refused with the count it needs
    assert main(["plan", "fit", str(folder), "-o", str(tmp_path / "law.json")]) == 2
    assert "at least 5 runs" in capsys.readouterr().err


def test_sweep_cli_errors(tmp_path, capsys):
    assert main(["plan", "sweep", "-o", str(tmp_path / "s"), "--manifest", str(tmp_path / "none.json")]) == 2
    assert "--manifest" in capsys.readouterr().err
    assert main(["plan", "fit", str(tmp_path), "-o", str(tmp_path / "law.json")]) == 2
    assert "not a run folder" in capsys.readouterr().err


@pytest.mark.parametrize("argv, match", [
    (["--budgets", "1e9,1e9"], "--budgets repeats 1e\\+09"),
    (["--spread", "inf"], "--spread must be a finite number above 1"),
    (["--holdout-factor", "-1"], "--holdout-factor must be a finite number >= 0"),
    (["--holdout-factor", "nan"], "--holdout-factor must be a finite number >= 0"),
])
def test_sweep_refuses_bad_grids_by_name(tmp_path, corpus, capsys, argv, match):
    assert main(["plan", "sweep", "-o", str(tmp_path / "s"), "--manifest", str(corpus), *argv]) == 2
    assert __import__("re").search(match, capsys.readouterr().err)


def test_a_run_cut_short_or_with_damaged_rows_is_named(tmp_path):
    """A run stopped early (max_steps) was fitted as if its recipe had run: a fifth "budget" that moved the law;
    a row without a numeric step was a KeyError or TypeError traceback."""
    folder = fake_run(tmp_path, "r-short", "3.0")
    metrics = folder / "run" / "metrics.jsonl"
    metrics.write_text(metrics.read_text().replace("3072", "256"))
    with pytest.raises(ValueError, match="r-short: it trained 256 of its recipe's 3,072 tokens: let it finish"):
        read_run(folder)
    for row in ('{"tokens": 3072}', '{"step": "100", "tokens": 3072}', '{"step": 1, "tokens": "3072"}'):
        metrics.write_text(row + "\n" + '{"step": 1, "tokens": 3072, "val_loss": 3.0}\n')
        with pytest.raises(ValueError, match="r-short: a row of .* has no finite number as (step|tokens)"):
            read_run(folder)


@pytest.mark.parametrize("val_loss", ["Infinity", "NaN", "-1.0", '"low"'])
def test_a_run_with_a_bad_validation_loss_is_named(tmp_path, val_loss):
    folder = fake_run(tmp_path, "r-bad", val_loss)
    with pytest.raises(ValueError, match="r-bad: its last validation loss .* not a positive finite number"):
        read_run(folder)


def test_damaged_metrics_are_named(tmp_path):
    folder = fake_run(tmp_path, "r-broken", "3.0")
    with open(folder / "run" / "metrics.jsonl", "a") as f:
        f.write("{oops\n")
    with pytest.raises(ValueError, match="r-broken: .*metrics.jsonl is not valid JSON lines"):
        read_run(folder)


def test_fit_refuses_a_run_twice_a_fitted_check_and_too_few_refits(tmp_path, capsys):
    a, b = fake_run(tmp_path, "a", "3.0"), fake_run(tmp_path, "b", "2.9")
    law = str(tmp_path / "law.json")
    assert main(["plan", "fit", str(a), str(b), str(a / "recipe.toml"), "-o", law]) == 2
    assert "the same run is given twice" in capsys.readouterr().err
    assert main(["plan", "fit", str(a), str(b), "--check", str(b), "-o", law]) == 2
    assert "is one of the fitted runs" in capsys.readouterr().err
    for n in ("0", "-3", "19"):  # 10-19 were accepted, and fewer than 20 refits never give a band
        assert main(["plan", "fit", str(a), str(b), "--bootstrap", n, "-o", law]) == 2
        assert "--bootstrap must be at least 20 refits" in capsys.readouterr().err


def test_sweep_help_gives_the_default_budgets_as_they_are_typed(capsys):
    """--budgets takes 1e11,3e11,...: its help said "(default (250000000000.0, 500000000000.0, ...))"."""
    with pytest.raises(SystemExit):
        main(["plan", "sweep", "--help"])
    assert "(default 2.5e+11,5e+11,1e+12,2e+12)" in " ".join(capsys.readouterr().out.split())


def test_a_run_the_trainer_stopped_is_named_as_stopped_not_as_a_recipe_without_validation(tmp_path):
    """A run stopped by its bad-step guard at step 35 of 925 was reported as "its metrics hold no validation loss
    ([validation] held_out > 0 in the recipe ...)", blaming a recipe that had it."""
    folder = fake_run(tmp_path, "r-diverged", "3.0")
    (folder / "run" / "metrics.jsonl").write_text(json.dumps({"step": 1, "tokens": 256, "loss": 9.0}) + "\n")
    with pytest.raises(ValueError, match=r"r-diverged: it stopped at step 1 of \d+ \(diverged, or cut short"):
        read_run(folder)


def test_a_sweep_that_repeats_its_corpus_says_how_many_times(tmp_path, corpus, capsys):
    """A user's 12.6K-token corpus under runs of up to 5.4M tokens: no word that every run would read it hundreds of
    times, which the fit (D as fresh tokens) does not model."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("x = 1\n" * 2100)  # 12,600 bytes: 4 documents, each with its bos
    small = write_byte_corpus(tmp_path / "small", source=tmp_path / "src")
    assert main(["plan", "sweep", "-o", str(tmp_path / "s"), "--manifest", str(small)]) == 0
    out = capsys.readouterr().out
    doc = json.loads((tmp_path / "s" / "sweep.json").read_text())
    most = max(doc["runs"] + [doc["holdout"]], key=lambda r: r["tokens"])
    assert doc["corpus_tokens"] == 12_604 and len(doc["warnings"]) == 1
    passes = f"{most['tokens'] / 12_604:,.1f} passes"
    assert f"warning: the runs repeat the corpus: the largest ({most['name']}) reads {most['tokens']:,} tokens of a " \
           f"12,604-token corpus, {passes}" in out and "Muennighoff" in out
    # runs that read the corpus less than once: no warning
    doc = write_sweep(tmp_path / "fits", manifest=corpus, holdout_factor=0, **SMALL)
    assert not any("repeat the corpus" in w for w in doc["warnings"])  # (its tiny budgets are warned about)
    assert doc["corpus_tokens"] > max(r["tokens"] for r in doc["runs"])


def test_sweep_mixture_is_the_manifests_own_domains(tmp_path, corpus, capsys):
    """The sweep's recipes drew only from "code" (the byte corpus's domain): on a pipeline's manifest without it
    every run stopped at its first step."""
    manifest = json.loads(corpus.read_text())
    manifest["shards"][0]["domain"] = "web"
    corpus.write_text(json.dumps(manifest))
    doc = write_sweep(tmp_path / "sweep", manifest=corpus, holdout_factor=0, **SMALL)
    recipe = doc["runs"][0]["folder"] + "/recipe.toml"
    assert load_recipe(recipe).stages[0].mixture == {"web": 1.0}
    assert main(["train", recipe, "--dry-run"]) == 0
    assert "ok: the recipe passes" in capsys.readouterr().out
