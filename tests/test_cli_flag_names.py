"""One name for one thing across verbs: train, sft and rl take -o/--output as every other verb does, eval takes
serve's --served-model-name, a mistyped flag is answered with the nearest real one, and the sub-verbs of data,
posttrain and plan name themselves in their errors."""

import pytest

from axk1.cli import build_parser, main


def _sub(verb: str):
    return next(a for a in build_parser()._actions if a.dest == "command").choices[verb]


@pytest.mark.parametrize("verb", ["train", "sft", "rl"])
@pytest.mark.parametrize("flag", ["-o", "--output", "--out"])
def test_recipe_verbs_take_o_and_output_as_out(verb, flag):
    args = _sub(verb).parse_args(["recipe.toml", flag, "somewhere"])
    assert args.out == "somewhere"


def test_train_dry_run_takes_o(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "recipes/demo.toml", "-o", str(out), "--dry-run"]) == 0
    assert "ok: the recipe passes for this launch" in capsys.readouterr().out


@pytest.mark.parametrize("typed, near", [("--dryrun", "--dry-run"), ("--max_steps", "--max-steps"),
                                         ("--dry_run", "--dry-run")])
def test_a_mistyped_flag_is_answered_with_the_nearest_one(typed, near, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "recipes/demo.toml", typed, "3"] if "steps" in typed else ["train", "recipes/demo.toml", typed])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"axk1 train: error: unexpected argument '{typed}': did you mean {near}?" in err
    assert "Traceback" not in err


def test_a_flag_near_none_gets_no_guess(capsys):
    with pytest.raises(SystemExit):
        main(["sft", "recipes/posttrain/sft-think.toml", "--zebra", "1"])
    err = capsys.readouterr().err
    assert "unexpected argument '--zebra': overrides look like --section.key value" in err


def test_eval_takes_serves_name_for_the_served_model():
    eval_p = _sub("eval")
    assert eval_p.parse_args(["--served-model-name", "axk1"]).served_model == "axk1"
    assert eval_p.parse_args(["--served-model", "axk1"]).served_model == "axk1"  # the old name stays


@pytest.mark.parametrize("argv, verb", [
    (["data", "stats", "/nonexistent/corpus"], "data stats"),
    (["posttrain", "chat", "/nonexistent/tasks.jsonl", "--mode", "think", "-o", "/nonexistent/x.jsonl"],
     "posttrain chat"),
    (["plan", "fit", "/nonexistent/run"], "plan fit"),
])
def test_sub_verbs_name_themselves_in_their_errors(argv, verb, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(f"axk1 {verb}: error: ")


def test_data_stats_on_a_missing_path_says_what_to_give(capsys):
    assert main(["data", "stats", "/nonexistent/corpus"]) == 2
    err = capsys.readouterr().err
    assert "/nonexistent/corpus does not exist: give a run folder of `axk1 data run`" in err
    assert "a folder of JSONL files or one JSONL file" in err
