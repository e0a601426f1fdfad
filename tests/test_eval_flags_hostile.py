"""Bad flags and data files given to `axk1 eval`: each gets an error that names the flag or the file (and line) and
says what is expected, before any request is sent. Found by an outside-in sweep: --test-timeout 0 or
nan graded every program as a timeout, a HumanEval or LiveCodeBench file that was not JSONL failed with a bare
"Expecting value: line 1 column 1", --passkey-lengths abc with a bare int() error, --lcb-start 2025-13-01 with
"no LCB problem in the window"."""

import argparse
import json

import pytest

from axk1.eval.cli import add_eval_parser

SERVER = ("--model", "openai:http://127.0.0.1:9/v1", "--served-model", "m")  # nothing listens: no request may go


def _eval(tmp_path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_eval_parser(parser.add_subparsers())
    args = parser.parse_args(["eval", *SERVER, "-o", str(tmp_path / "out"), *argv])
    return args.func(args)


@pytest.mark.parametrize("argv,message", [
    (("--tasks", "humaneval", "--test-timeout", "0"), r"--test-timeout must be a number of seconds > 0, got 0.0"),
    (("--tasks", "humaneval", "--test-timeout", "nan"), r"--test-timeout must be a number of seconds > 0, got nan"),
    (("--tasks", "passkey", "--passkey-lengths", "abc"), r"--passkey-lengths takes comma-separated ints .* 'abc'"),
    (("--tasks", "passkey", "--passkey-lengths", ",,"), r"--passkey-lengths is empty"),
    (("--tasks", "passkey", "--passkey-depths", "half"), r"--passkey-depths takes comma-separated floats"),
    (("--tasks", "passkey", "--passkey-trials", "0"), r"--passkey-trials must be >= 1, got 0"),
    (("--tasks", "passkey", "--passkey-lengths", "0"), r"passkey lengths must be >= 1 token"),
])
def test_bad_flags_are_named(tmp_path, argv, message):
    with pytest.raises(ValueError, match=message):
        _eval(tmp_path, *argv)
    samples = tmp_path / "out" / "samples.jsonl"
    assert not samples.exists() or samples.read_text() == ""  # nothing was asked of the model


def test_a_humaneval_file_that_is_not_humaneval_jsonl_is_named_with_its_line(tmp_path):
    cases = {"passwd": ("root:x:0:0:root:/root:/bin/bash\n", r"passwd:1: not a JSON line"),
             "fields.jsonl": ('{"task_id": "x", "prompt": "def f():\\n"}\n',
                              r"fields.jsonl:1: a HumanEval problem needs .* test, entry_point missing"),
             "empty.jsonl": ("\n", r"empty.jsonl holds no problem"),
             "fake.jsonl.gz": ("not gzip", r"HumanEval data .*fake.jsonl.gz is a gzip stream that is cut short or "
                                           r"damaged \(Not a gzipped file")}
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=message):
            _eval(tmp_path, "--tasks", "humaneval", "--humaneval-data", str(tmp_path / name))
    with pytest.raises(ValueError, match="cannot be read as HumanEval JSONL"):
        _eval(tmp_path, "--tasks", "humaneval", "--humaneval-data", str(tmp_path))


def test_lcb_dates_and_files_are_checked_and_named(tmp_path):
    aime = tmp_path / "aime.jsonl"  # a real JSONL file of the wrong benchmark
    aime.write_text(json.dumps({"problem": "1+1?", "answer": "2"}) + "\n")
    with pytest.raises(ValueError, match=r"--lcb-start must be a date such as 2025-02-01, got '2025-13-01'"):
        _eval(tmp_path, "--tasks", "lcb", "--lcb-data", str(aime), "--lcb-start", "2025-13-01")
    with pytest.raises(ValueError, match=r"--lcb-end must be a date .* got 'yesterday'"):
        _eval(tmp_path, "--tasks", "lcb", "--lcb-data", str(aime), "--lcb-end", "yesterday")
    # the rows that could not be read are said, not only "0 read"
    with pytest.raises(ValueError, match=r"\(0 read, 1 rows not read \(first: .*missing field 'question_content'"):
        _eval(tmp_path, "--tasks", "lcb", "--lcb-data", str(aime))
    broken = tmp_path / "test6.jsonl"
    broken.write_text(aime.read_text() + "{not json\n")
    with pytest.raises(ValueError, match=r"test6.jsonl:2: not a JSON line \(.*\); LiveCodeBench data is"):
        _eval(tmp_path, "--tasks", "lcb", "--lcb-data", str(broken))


def test_an_option_typed_on_the_command_line_wins_over_the_config_file(tmp_path, capsys):
    """--tasks aime25 is also the flag's default: comparing values with the defaults let the file's tasks win."""
    from axk1.cli import main

    config = tmp_path / "run.toml"
    config.write_text('tasks = "lcb_nonexistent"\nlimit = 3\n')
    missing = tmp_path / "no-model"
    assert main(["eval", "--config", str(config), "--tasks", "aime25", "--model", str(missing), "-o",
                 str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{missing} does not exist" in err and "lcb_nonexistent" not in err
    assert main(["eval", "--config", str(config), "--model", str(missing)]) == 2  # untyped: the file's value holds
    assert "unknown task(s) lcb_nonexistent" in capsys.readouterr().err
