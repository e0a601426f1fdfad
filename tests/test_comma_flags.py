"""The comma-separated flags of `axk1 posttrain` read by the one type, axk1/cli_args.py's comma_list: they had been
split six ways, some keeping the spaces (`--kinds "math, code"` asked for the kind " code", `--modes "think,
non-think"` for the mode " non-think"), and a bad level was a ValueError raised after the parse."""

from __future__ import annotations

import argparse

import pytest

from axk1.cli import build_parser
from axk1.cli_args import comma_list, positive_int

TASKS = ["posttrain", "tasks", "-o", "out"]
HELDOUT = ["posttrain", "heldout", "model", "tasks.jsonl"]


@pytest.mark.parametrize("argv, flag, text, want", [
    (TASKS, "--kinds", " math, code ", ("math", "code")),
    (TASKS, "--families", "add , mul,", ("add", "mul")),
    (TASKS, "--levels", " 1, 2 ", (1, 2)),
    (HELDOUT, "--modes", "think, non-think", ("think", "non-think")),
    (["plan", "sweep", "-o", "out"], "--budgets", "1e11, 3e11,", (1e11, 3e11))])  # a space or trailing comma failed
def test_spaces_around_the_items_are_stripped(argv, flag, text, want):
    args = build_parser().parse_args([*argv, flag, text])
    assert getattr(args, flag[2:]) == want


def test_the_defaults_are_read_by_the_same_type():
    tasks, heldout = build_parser().parse_args(TASKS), build_parser().parse_args(HELDOUT)
    assert (tasks.levels, tasks.kinds, tasks.families) == ((1, 2), ("math", "code"), None)
    assert heldout.modes == ("think", "non-think")


@pytest.mark.parametrize("argv, flag, text, said", [
    (TASKS, "--levels", "1, x", "item 'x' of '1, x': 'x' is not a whole number"),
    (TASKS, "--levels", "0", "0 must be at least 1"),
    (TASKS, "--kinds", " , ", "lists nothing"),
    (HELDOUT, "--modes", "", "lists nothing")])
def test_a_bad_item_is_an_error_naming_the_flag(argv, flag, text, said, capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args([*argv, flag, text])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and f"argument {flag}: " in err and said in err, err


def test_comma_list_reads_each_item_with_its_type():
    assert comma_list()("a,b") == ("a", "b")
    assert comma_list(positive_int)("3") == (3,)
    with pytest.raises(argparse.ArgumentTypeError, match="item '-1' of '2,-1': -1 must be at least 1"):
        comma_list(positive_int)("2,-1")
