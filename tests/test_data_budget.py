"""The data budget (axk1/train/data_budget.py): how many tokens each stage reads from each domain against what the
shards hold, printed by a dry run and at the start of a run; a domain read past MANY_PASSES, or held and read by no
stage, is named."""

import numpy as np
import pytest

from axk1.cli import main
from axk1.train.data import Shard, load_shards
from axk1.train.data_budget import MANY_PASSES, data_budget
from axk1.train.recipe import load_recipe
from axk1.token_shards import write_token_shards
from tests.train_helpers import write_recipe


def shard(domain: str, bucket: str, tokens: int) -> Shard:
    return Shard(domain, bucket, np.zeros(tokens, np.uint32), np.array([0, tokens], np.uint64))


def test_each_stage_reads_its_share_and_the_passes_follow(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, steps_tokens=8 * 32 * 10))  # s1: web 0.7 / code 0.3; s2: code
    shards = [shard("web", "d0", 1_000), shard("code", "d0", 6_000), shard("code", "d1", 2_000),
              shard("math", "d0", 300)]
    budget = data_budget(recipe, shards)
    rows = {(r.stage, r.domain): r for r in budget.rows}
    assert set(rows) == {("s1", "web"), ("s1", "code"), ("s2", "code")}
    assert rows["s1", "web"].drawn == round(2_560 * 0.7) and rows["s1", "web"].available == 1_000
    assert rows["s1", "code"].drawn == round(2_560 * 0.3) and rows["s1", "code"].available == 8_000
    assert rows["s2", "code"].share == 1.0 and rows["s2", "code"].passes == 2_560 / 8_000
    assert budget.totals == {"web": (1_792, 1_000), "code": (768 + 2_560, 8_000)}
    assert budget.unread == {"math": 300}
    assert "many" not in budget.table() and budget.notes() == [
        "300 tokens of domain 'math' are read by no stage (not in a mixture, or not in its buckets)"]

    # a domain read past the mark is named once, over the whole run
    thin = [shard("web", "d0", 200), shard("code", "d0", 8_000)]
    budget = data_budget(recipe, thin)
    assert budget.rows[1].passes == pytest.approx(1_792 / 200) and budget.rows[1].passes > MANY_PASSES
    assert "many" in budget.table()
    assert budget.notes() == ["domain 'web' is read 9.0 times over (1,792 tokens drawn from 200); past ~4 passes "
                              "repeated tokens are worth little: add web data or lower its weight"]


def test_a_stage_reads_only_its_buckets(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, sections={}))
    recipe.stages[1].buckets = ["d1"]
    budget = data_budget(recipe, [shard("web", "d0", 1_000), shard("code", "d0", 6_000), shard("code", "d1", 500)])
    rows = {(r.stage, r.domain): r for r in budget.rows}
    assert rows["s2", "code"].available == 500 and rows["s1", "code"].available == 6_500
    assert budget.totals["code"][1] == 6_500 and budget.unread == {}


def test_the_dry_run_and_a_run_print_the_budget_of_the_shards(tmp_path, capsys):
    recipe = write_recipe(tmp_path)
    assert main(["train", str(recipe), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "data budget (tokens each stage reads" in out and "s1                           web" in out
    _, shards = load_shards(tmp_path / "tokens" / "manifest.json")
    assert sum(len(s.tokens) for s in shards) > 0
    # shards far smaller than the stages: the run names the domain it repeats
    docs = {("web", "d0"): [[1] + [5] * 40], ("code", "d0"): [[1] + [6] * 3000]}
    write_token_shards(tmp_path / "tokens", docs, 512, document_prefix="token id 1")
    assert main(["train", str(recipe), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "note: domain 'web' is read" in out and "many" in out
    (tmp_path / "tokens" / "manifest.json").unlink()
    assert main(["train", str(recipe), "--dry-run"]) == 0
    assert "manifest.json is not there yet" in capsys.readouterr().out
