"""What the recipe verbs say when a run stops or has nothing left: advice that works when followed."""

from axk1.cli import main
from tests.train_helpers import write_recipe


def test_ctrl_c_before_the_first_checkpoint_does_not_send_the_user_to_resume(tmp_path, capsys, monkeypatch):
    """`timeout -s INT 3 axk1 train R` said "run the same command with --resume", which then refused: no checkpoint.
    The hint was set only when the interrupt landed inside fit(), not in the start-up before it."""
    from axk1.train.trainer import Trainer

    path = write_recipe(tmp_path, steps_tokens=8 * 32 * 2)

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "__init__", interrupted)  # while the model was being built
    assert main(["train", str(path)]) == 130
    err = capsys.readouterr().err
    assert "axk1 train: interrupted (no checkpoint was saved yet: run the command again to start over)" in err, err
    monkeypatch.undo()
    assert main(["train", str(path), "--max-steps", "2"]) == 0  # a checkpoint at step 2
    capsys.readouterr()
    monkeypatch.setattr(Trainer, "fit", interrupted)
    assert main(["train", str(path), "--resume"]) == 130
    assert "(the newest checkpoint is step 2: run the same command to go on)" in capsys.readouterr().err


def test_ctrl_c_while_the_recipe_is_read_says_to_run_it_again(monkeypatch, capsys, tmp_path):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("axk1.train.recipe.load_recipe", interrupted)
    assert main(["train", str(write_recipe(tmp_path)), "--resume"]) == 130
    assert "interrupted (nothing was saved yet: run the same command to start again)" in capsys.readouterr().err


def test_a_run_that_max_steps_ends_says_to_raise_it_not_to_make_a_new_recipe(tmp_path, capsys):
    """`--resume --max-steps 2` after 3 steps of an 80-step recipe said "complete at step 3 of 2 ... a longer run needs a
    recipe with more tokens, in a new --out folder": the limit was --max-steps."""
    path = write_recipe(tmp_path, steps_tokens=8 * 32 * 2)  # 4 steps
    assert main(["train", str(path), "--max-steps", "2"]) == 0
    capsys.readouterr()
    assert main(["train", str(path), "--resume", "--max-steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "max_steps (--max-steps or [run] max_steps) is 1 of the recipe's 4 steps" in out, out
    assert "a larger --max-steps" in out and "new --out folder" not in out
