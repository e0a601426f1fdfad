"""A torchrun launch that goes wrong around its ranks: ranks started with different recipes, a rank waiting for peers
that never come, a peer killed. Each ends with a line that says what happened, and nothing hangs."""


import pytest

from tests.train_helpers import torchrun_train, write_recipe

pytestmark = pytest.mark.distributed

# rank 1 reads the other recipe (a copy edited on one node, a wrapper script with other options)
OTHER_RECIPE_ON_RANK_1 = """
import os, sys
from axk1.cli import main

if os.environ["RANK"] == "1":
    sys.argv[2] = sys.argv[2].replace("recipe.toml", "other.toml")
sys.exit(main())
"""


@pytest.mark.parametrize("change, said", [
    # used to train to the end, rank 1's shards at the other rate
    (("lr = 3e-3", "lr = 2e-3"), "optimizer.lr 0.003 -> 0.002"),
    # used to hang before the first step
    (("global_sequences = 8", "global_sequences = 4"), "batch.global_sequences 8 -> 4"),
])
def test_ranks_given_different_recipes_refuse_to_start(tmp_path, change, said):
    recipe = write_recipe(tmp_path, sections={"parallelism": "dp_shard = 2"})
    (tmp_path / "other.toml").write_text(recipe.read_text().replace(*change))
    runner = tmp_path / "runner.py"
    runner.write_text(OTHER_RECIPE_ON_RANK_1)
    err = torchrun_train(recipe, "--max-steps", "2", script=runner, fails=True, timeout=120)
    line = f"axk1 train: error: rank 1's recipe differs from rank 0's: {said}."
    assert sum(x.startswith(line) for x in err.splitlines()) == 1, err[-3000:]  # every rank refuses, one line
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
