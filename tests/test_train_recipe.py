"""Recipes: errors that name the problem, the shipped recipes and the planner's recipe parse, removed keys say why."""

from pathlib import Path

import pytest

from axk1.device import resolve_device
from axk1.train.recipe import load_recipe, parse_recipe
from tests.train_helpers import write_recipe


def test_recipe_errors_name_the_problem(tmp_path):
    path = write_recipe(tmp_path)
    recipe = load_recipe(path)
    assert recipe.stages[1].mixture == {"code": 1.0}
    assert recipe.total_steps() == 12
    import tomllib
    raw = tomllib.loads(path.read_text())
    raw["optimizer"]["lrr"] = 1.0
    with pytest.raises(ValueError, match="unknown key 'lrr'"):
        parse_recipe(raw, tmp_path)
    raw = tomllib.loads(path.read_text())
    raw["stages"][0]["seq_len"] = 100_000
    with pytest.raises(ValueError, match="max_position_embeddings"):
        parse_recipe(raw, tmp_path)
    raw = tomllib.loads(path.read_text())
    raw["parallelism"] = {"ep": 3}
    with pytest.raises(ValueError, match="ep=3 must divide"):
        parse_recipe(raw, tmp_path)
    raw = tomllib.loads(path.read_text())
    raw["optimizer"]["lr"] = "fast"
    with pytest.raises(ValueError, match="lr must be a number"):
        parse_recipe(raw, tmp_path)
    with pytest.raises(FileNotFoundError, match="recipe"):
        load_recipe(tmp_path / "missing.toml")


def test_shipped_recipes_parse():
    root = Path(__file__).resolve().parents[1] / "recipes"
    big = load_recipe(root / "axk1-519b.toml")
    assert [s.tokens for s in big.stages] == [7_000_000_000_000, 1_660_000_000_000, 600_000_000_000]
    assert big.stages[2].lengths() == [4096, 16384, 32768]
    assert big.model.build_config().hidden_size == 7168
    assert big.schedule.kind == "wsd" and big.schedule.decay_starts_at_stage == 2
    for s in big.stages:
        assert sum(s.mixture.values()) == pytest.approx(1.0, abs=2e-3)
    demo = load_recipe(root / "demo.toml")
    assert 100 <= demo.total_steps() <= 1000


def test_planner_recipe_loads_back_equal_to_the_object_it_was_written_from(tmp_path):
    from axk1.plan.planner import make_plan
    from axk1.plan.recipe import build_recipe
    from axk1.plan.report import write_outputs

    plan = make_plan("H200", 1024, 73)
    files = write_outputs(plan, tmp_path)  # recipe.toml next to the model's config.json
    loaded = load_recipe(files["recipe"])
    written = build_recipe(plan, "config.json")
    # what loading adds: paths resolved against the file's folder, the device chosen, the file remembered
    written.resolve_paths(tmp_path)
    written.run.device = resolve_device(written.run.device)
    written.path = files["recipe"]
    assert loaded == written
    assert len(loaded.stages) == 3 and loaded.stages[2].lengths()[-1] == 32768
    text = files["recipe"].read_text()
    assert "lr_phase" not in text and "share" not in text and "gpus" not in text and "tokenizer" not in text


def test_removed_recipe_keys_say_why(tmp_path):
    path = write_recipe(tmp_path)
    with pytest.raises(ValueError, match=r"unknown key 'lr_phase' \(removed: \[schedule\] decay_starts_at_stage"):
        load_recipe(path, ["--stages.0.lr_phase", "decay"])
    with pytest.raises(ValueError, match=r"unknown key 'share' \(removed: a stage's size is its tokens"):
        load_recipe(path, ["--stages.0.share", "0.5"])
    with pytest.raises(ValueError, match=r"recipe.parallelism: unknown key 'gpus' \(removed: the run's GPU count"):
        load_recipe(path, ["--parallelism.gpus", "8"])
    with pytest.raises(ValueError, match=r"recipe.data: unknown key 'tokenizer' \(removed: the trainer reads token"):
        load_recipe(path, ["--data.tokenizer", "tokenizer.json"])


def test_run_seed_draws_the_initial_weights_and_data_seed_the_batches(tmp_path):
    """[run] seed seeds the model's init, [data] seed the batches: two recipes differing only in [run] seed start
    from other weights over the same batches. Without [run] seed the weights are [data] seed's, as before the key
    existed (tests/test_train_loop.py checks those against the counter-based init with [data] seed)."""
    import torch

    from axk1.train.trainer import Trainer

    def start(name: str, extra: str = "") -> Trainer:
        (tmp_path / name).mkdir()
        return Trainer(load_recipe(write_recipe(tmp_path / name, extra=extra)))  # [data] seed = 7

    unset, same, other = start("unset"), start("same", "seed = 7"), start("other", "seed = 8")
    assert (unset.recipe.run.seed, unset.recipe.init_seed(), other.recipe.init_seed()) == (None, 7, 8)
    weights = [t.model.state_dict() for t in (unset, same, other)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not torch.equal(weights[0]["model.embed_tokens.weight"], weights[2]["model.embed_tokens.weight"])
    for step in range(unset.sampler.total_steps):
        a, b = unset.sampler.batch(step), other.sampler.batch(step)
        assert torch.equal(a.ids_BT, b.ids_BT) and torch.equal(a.labels_BT, b.labels_BT) and a.domains == b.domains
    for t in (unset, same, other):
        t.release()


def test_stage_names_must_be_non_empty_and_unique(tmp_path):
    """A stage is named in the dry-run tables, the metrics rows and the plots: `name = ""` showed as a blank."""
    import tomllib
    path = write_recipe(tmp_path)
    for blank in ("", "  "):
        raw = tomllib.loads(path.read_text())
        raw["stages"][1]["name"] = blank
        with pytest.raises(ValueError, match=r"\[\[stages\]\] #2: name is empty"):
            parse_recipe(raw, tmp_path)
    raw = tomllib.loads(path.read_text())
    raw["stages"][1]["name"] = raw["stages"][0]["name"]
    with pytest.raises(ValueError, match="duplicate stage name"):
        parse_recipe(raw, tmp_path)


def test_a_stage_below_one_optimizer_step_is_said(tmp_path, capsys):
    """`tokens = 100` with 256 tokens a step became one whole step (2.5x the tokens asked) and nothing was said. It is
    said, not refused: the suite's small recipes take one step of a stage on purpose (a context-extension stage)."""
    import tomllib

    from axk1.cli import main
    from axk1.train.dry_run import batch_notes
    path = write_recipe(tmp_path)  # global_sequences 8 x seq_len 32: 256 tokens a step
    raw = tomllib.loads(path.read_text())
    raw["stages"][1]["tokens"] = 100
    recipe = parse_recipe(raw, tmp_path)
    assert recipe.stage_steps()[1] == [(1, 8)]  # what it trains: one whole step
    assert batch_notes(recipe) == ["[[stages]] #2 (s2) has 100 tokens, less than one optimizer step of 256 tokens (8 "
                                   "sequences of 32): it trains one whole step, 2.56x the tokens asked; raise tokens "
                                   "or lower the batch"]
    raw["stages"][1]["tokens"] = 256  # exactly one step: nothing to say
    assert batch_notes(parse_recipe(raw, tmp_path)) == []
    # past one step, a stage still trains whole steps: 1.5 steps became 2 (1.33x) without a word
    raw["stages"][1]["tokens"] = 384
    assert batch_notes(parse_recipe(raw, tmp_path)) == [
        "[[stages]] #2 (s2) has 384 tokens, 1.50 optimizer steps of 256 tokens (8 sequences of 32): it trains 2 whole "
        "steps, 1.33x the tokens asked; raise tokens or lower the batch"]
    raw["stages"][1]["tokens"] = 2600  # 10.16 steps trained as 11: 8% over, under the note's 10%
    assert batch_notes(parse_recipe(raw, tmp_path)) == []
    # a seq_len_schedule splits the stage's tokens over its lengths: each share must fill a step at its length
    raw["stages"][1].update(tokens=300, seq_len_schedule=[16, 32])
    assert [n for n in batch_notes(parse_recipe(raw, tmp_path)) if "(150 at seq_len 32 of its seq_len_schedule)" in n]
    # the dry run says it
    assert main(["train", str(path), "--dry-run", "--stages.1.tokens", "100"]) == 0
    assert "[[stages]] #2 (s2) has 100 tokens, less than one optimizer step of 256 tokens" in capsys.readouterr().out


def test_run_out_dir_takes_the_home_folder_and_refuses_empty(tmp_path, monkeypatch):
    """`out_dir = "~/run"` wrote into a folder literally named "~" beside the recipe; `out_dir = ""` into whatever
    folder the command was started from. The first means the home folder, as in a shell; the second is refused."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    path = write_recipe(tmp_path)
    path.write_text(path.read_text().replace('out_dir = "run"', 'out_dir = "~/tilde_run"'))
    assert load_recipe(path).run.out_dir == str(home / "tilde_run")
    assert load_recipe(path, ["--run.out_dir=~/x"]).run.out_dir == str(home / "x")
    assert load_recipe(path, out_dir="~/y").run.out_dir == str(home / "y")  # --out=~/y: no shell expands it
    with pytest.raises(ValueError, match=r"\[run\] out_dir is empty"):
        load_recipe(path, ["--run.out_dir", '""'])
    path.write_text(path.read_text().replace('out_dir = "~/tilde_run"', 'out_dir = ""'))
    with pytest.raises(ValueError, match=r"\[run\] out_dir is empty"):
        load_recipe(path)
