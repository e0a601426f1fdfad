"""The `axk1 plan` verb, through a parser built the way axk1/cli.py will build it."""

import argparse
import json

import pytest

from axk1.plan.cli import add_plan_parser


def run(argv):
    parser = argparse.ArgumentParser(prog="axk1")
    add_plan_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_help_lists_options(capsys):
    with pytest.raises(SystemExit):
        run(["plan", "--help"])
    out = capsys.readouterr().out
    for option in ("--gpu", "--gpus", "--days", "--mfu", "--tflops", "--precision", "--tokens", "--json", "-o"):
        assert option in out


def test_json_output(capsys, tmp_path):
    assert run(["plan", "--gpu", "H200", "--gpus", "1024", "--days", "73", "--json", "-o", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["budget"]["flops"] == pytest.approx(2.548e24, rel=0.01)
    assert doc["plan"]["total_params"] == pytest.approx(519e9, rel=0.2)
    assert {a["assumption"] for a in doc["assumptions"]} >= {"utilisation", "MoE efficiency leverage", "vocabulary"}
    assert (tmp_path / "plan.md").exists() and (tmp_path / "recipe.toml").exists()


def test_text_output_with_tokens_suffix(capsys):
    assert run(["plan", "--gpu", "B200", "--gpus", "256", "--days", "30", "--precision", "fp8", "--tokens", "5T",
                "--law", "chinchilla"]) == 0
    out = capsys.readouterr().out
    assert "5.00T tokens" in out and "chinchilla" in out


def test_mfu_and_tflops_are_exclusive():
    with pytest.raises(SystemExit):
        run(["plan", "--gpu", "H100", "--gpus", "8", "--days", "1", "--mfu", "0.3", "--tflops", "300"])


def test_unknown_gpu_lists_known_ones():
    with pytest.raises(ValueError, match="known GPUs: A100, H100, H800, H200, B200, GB200, MI300X"):
        run(["plan", "--gpu", "V100", "--gpus", "8", "--days", "1"])
