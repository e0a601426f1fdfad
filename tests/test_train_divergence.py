"""A diverging run is told so (axk1/train/divergence.py): a loss far above ln(vocab_size), a uniform guess's, is a
note at the first such step and at the run's end, and the run goes on; `--dry-run` notes a learning rate far outside
AdamW's usual range (axk1/train/dry_run.py)."""

import math

from axk1.cli import main
from tests.train_helpers import write_recipe

LN_V = math.log(512)  # the tests' model (train_helpers' synthetic shards: a 512-token vocabulary)


def test_a_loss_above_a_uniform_guess_is_noted_once_and_at_the_end_and_the_run_goes_on(tmp_path, capsys):
    """lr 3 sends the loss from 6.27 (ln V = 6.24) to 46.8 at step 2 and on up: the run trained to its end, exit 0,
    without a word (the spike guard is off by default). A run at the recipe's lr, which learns, has no such note."""
    recipe = write_recipe(tmp_path)
    assert main(["train", str(recipe), "--max-steps", "4", "--out", str(tmp_path / "learns")]) == 0
    assert "ln(vocab_size)" not in capsys.readouterr().err
    assert main(["train", str(recipe), "--max-steps", "4", "--optimizer.lr", "3"]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "ln(vocab_size)" in line]
    assert len(notes) == 2, err[-3000:]
    first, end = notes
    assert first.startswith("note: step 2: the loss ") and f"is far above ln(vocab_size) = {LN_V:.2f}" in first
    assert "Lower [optimizer] lr (it is 3) or set [run] spike_zscore (e.g. 6)" in first
    assert first.endswith("the run goes on")
    assert end.startswith("note: training diverged: the loss rose to ") and " at step 2, " in end
    assert " at step 4. Lower [optimizer] lr" in end


def test_the_dry_run_notes_a_learning_rate_far_outside_adamws_range(tmp_path, capsys):
    recipe = write_recipe(tmp_path)  # lr 3e-3
    assert main(["train", str(recipe), "--dry-run"]) == 0
    assert "[optimizer] lr" not in capsys.readouterr().out
    assert main(["train", str(recipe), "--dry-run", "--optimizer.lr", "3"]) == 0  # a note, not a problem
    assert "note: [optimizer] lr = 3 is far above what AdamW trains a transformer with" in capsys.readouterr().out
