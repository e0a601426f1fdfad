"""A diverging run is told so (axk1/train/divergence.py): a loss far above ln(vocab_size), a uniform guess's, is a
note at the first such step and at the run's end while it stays there (one mild line if it came back down; a step
a guard skipped does not count), and the run goes on; `--dry-run` notes a learning rate far outside AdamW's usual
range (axk1/train/dry_run.py)."""

import math
from types import SimpleNamespace as NS

from axk1.cli import main
from axk1.train.callbacks import run_callbacks
from axk1.train.divergence import DivergenceNote
from axk1.train.loss_spike import LossSpikeGuard, NonFiniteGuard
from axk1.train.trainer_base import TrainState
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


def fake_trainer(spike_zscore: float) -> NS:
    """What the guards and the note read of a Trainer: a 512-token vocabulary, as the tests' model."""
    return NS(config=NS(vocab_size=512), is_main=True, state=TrainState(),
              recipe=NS(run=NS(spike_zscore=spike_zscore, max_bad_steps=3), optimizer=NS(lr=3e-3)))


def run_steps(trainer: NS, losses: list[float]) -> list[dict]:
    """Each loss through the Trainer's guards and the note in the Trainer's order (before the update, then after
    it), then the run's end; the rows as the loop saw them."""
    callbacks = [NonFiniteGuard(), LossSpikeGuard(), DivergenceNote()]
    rows = []
    for step, loss in enumerate(losses, 1):
        row = {"step": step, "stage": "s", "loss": loss, "grad_norm": 1.0}
        run_callbacks(callbacks, "on_before_optimizer_step", trainer, row)
        run_callbacks(callbacks, "on_step_end", trainer, row)
        rows.append(row)
    run_callbacks(callbacks, "on_fit_end", trainer)
    return rows


def notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if "ln(vocab_size)" in line]


LEARNING = [6.27, 6.2, 6.1, 6.0, 5.9, 5.8, 5.7, 5.6, 5.5, 5.4, 5.3, 5.2]  # 12 steps: the spike guard judges from 11


def test_a_spike_the_guard_skipped_is_not_divergence(capsys):
    """[run] spike_zscore = 6 skipped step 13's 9.60 (its update never made): the run was still told "training has
    diverged" at that step and, though it ended at 4.90, "training diverged ... train again in a new --out
    folder"."""
    rows = run_steps(fake_trainer(6), LEARNING + [9.6, 5.1, 5.0, 4.9])
    assert rows[12]["skipped"].startswith("loss spike")  # the guard did skip it
    assert notes(capsys.readouterr().err) == []


def test_a_run_that_came_back_down_gets_one_mild_line_at_its_end(capsys):
    """Spike guard off: step 4's 9.60 was taken, and is noted there; the run then learned down to 2.90. Its end
    said "training diverged ... train again in a new --out folder" all the same."""
    run_steps(fake_trainer(0), [6.27, 6.1, 5.8, 9.6, 5.5, 4.9, 4.2, 3.6, 3.1, 2.9])
    first, end = notes(capsys.readouterr().err)
    assert first.startswith("note: step 4: the loss 9.60 is far above ln(vocab_size) = 6.24")
    assert end == "note: the loss rose to 9.60 at step 4, far above ln(vocab_size) = 6.24, and recovered: it was " \
                  "2.90 at step 10"


def test_a_run_that_ends_above_the_threshold_is_told_it_diverged(capsys):
    """The last step taken decides, not a skipped one after it: the run ended diverged at 12.0 (step 3), and step
    4's NaN changed no weight."""
    run_steps(fake_trainer(0), [6.27, 9.6, 12.0, float("nan")])
    first, end = notes(capsys.readouterr().err)
    assert first.startswith("note: step 2: the loss 9.60 ")
    assert end.startswith("note: training diverged: the loss rose to 9.60 at step 2, ")
    assert "and was 12.00 at step 3. Lower [optimizer] lr" in end and end.endswith("in a new --out folder")


def test_a_run_that_came_back_down_only_part_way_is_not_told_it_recovered(capsys):
    """Down from 9.60 to 8.00, below 1.5 x ln V (9.36) but above ln V (6.24): the run was told it "recovered",
    though its model still predicts worse than a uniform guess, as one at its initial weights does."""
    run_steps(fake_trainer(0), [6.27, 9.6, 8.0])
    first, end = notes(capsys.readouterr().err)
    assert first.startswith("note: step 2: the loss 9.60 ")
    assert "recovered" not in end
    assert end.startswith("note: the loss rose to 9.60 at step 2, far above ln(vocab_size) = 6.24, and came back "
                          "down to 8.00 at step 3, still above it: the model still predicts worse than a uniform "
                          "guess. Lower [optimizer] lr (it is 0.003)"), end
    assert end.endswith("and train again in a new --out folder")
