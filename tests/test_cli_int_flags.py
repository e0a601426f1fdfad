"""Whole-number flags are checked by argparse, with the flag named, before any work: `axk1 data starter --scale 0`
exited 0 with an empty web and math part and no PDFs, printing the next command as if all were well; eval's and
serve's counts were plain ints checked (or not) later. Every --dtype is one flag with one reading (dtype_flag.py)."""

import pytest

from axk1.cli import _data_parser, build_parser, main
from axk1.config import DTYPES


@pytest.mark.parametrize("argv,message", [
    (["data", "starter", "-o", "{tmp}/s", "--scale", "0"], "argument --scale: 0 must be at least 1"),
    (["data", "starter", "-o", "{tmp}/s", "--scale", "-2"], "argument --scale: -2 must be at least 1"),
    (["eval", "--workers", "0"], "argument --workers: 0 must be at least 1"),
    (["eval", "--concurrency", "-2"], "argument --concurrency: -2 must be at least 1"),
    (["eval", "-n", "0"], "argument -n: 0 must be at least 1"),
    (["eval", "--max-tokens", "0"], "argument --max-tokens: 0 must be at least 1"),
    (["eval", "--top-k", "-1"], "argument --top-k: -1 must be 0 or more"),
    (["serve", "m", "--max-batch", "0"], "argument --max-batch: 0 must be at least 1"),
    (["serve", "m", "--cache-tokens", "0"], "argument --cache-tokens: 0 must be at least 1"),
    (["serve", "m", "--block-size", "0"], "argument --block-size: 0 must be at least 1"),
    (["serve", "m", "--prefill-chunk", "-3"], "argument --prefill-chunk: -3 must be at least 1"),
    (["demo-long", "--trials", "0"], "argument --trials: 0 must be at least 1"),
    (["generate", "m", "--prompt", "x", "--dtype", "float64"], "argument --dtype: invalid choice: 'float64'"),
])
def test_a_bad_count_is_an_argparse_error_naming_the_flag(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()  # nothing was built


def test_every_dtype_flag_takes_the_same_names_and_reads_them_alike():
    from axk1.dtype_flag import flag_dtype

    def dtype_choices(parser, path=()):
        for action in parser._actions:
            if "--dtype" in action.option_strings:
                yield path, action.choices
            for name, sub in (getattr(action, "choices", None) or {}).items() if hasattr(action, "_name_parser_map") \
                    else ():
                yield from dtype_choices(sub, (*path, name))

    found = dict(dtype_choices(build_parser())) | dict(dtype_choices(_data_parser(["data"])))
    assert {" ".join(p) for p in found} >= {"generate", "export", "serve", "eval"}
    assert all(list(choices) == sorted(DTYPES) for choices in found.values())
    assert flag_dtype(None) is None and flag_dtype("bfloat16") is DTYPES["bfloat16"]
