"""The `axk1 plan` verb, through a parser built the way axk1/cli.py will build it."""

import argparse
import dataclasses
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
    with pytest.raises(ValueError, match="known GPUs: A100, H100, H800, H200, B200, GB200, MI300X, .*V100.*"
                                         "--gpu-memory GB.*--peak-tflops"):
        run(["plan", "--gpu", "TPUv5", "--gpus", "8", "--days", "1"])


def test_a_one_gpu_hour_plan_reads_in_units_that_fit_and_its_check_passes(capsys, tmp_path):
    """1 GPU for 1 hour: a ~0.6B model on ~1.5B tokens. The summary and plan.md say so (not "0.00T tokens" and
    "0.1B activated", nor "0.0 days on 1 GPUs"), and the dry run the plan tells the user to run, on the plan's GPU,
    passes on the recipe it wrote."""
    from axk1.cli import main

    assert run(["plan", "--gpu", "H100", "--gpus", "1", "--days", str(1 / 24), "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    plan = json.loads((tmp_path / "plan.json").read_text())["plan"]
    md = (tmp_path / "plan.md").read_text()
    for text in (out, md):
        assert "0.00T" not in text and "0.0B" not in text and " law law" not in text
        assert f"{plan['tokens'] / 1e9:.2f}B tokens" in text and f"{plan['activated_params'] / 1e6:.1f}M activated" in text
        assert "1.0 hours on 1 GPU\n" in text and "(1 GPU-hour)" in text and "shard group (1 rank)" in text
    stage = next(line for line in md.splitlines() if line.startswith("| stage3-long-context |"))
    assert stage.split(" | ")[1].endswith("M")  # its ~95M tokens
    check = out.split("(check: ")[1].split(")")[0]
    assert check.endswith("--world-size 1 --gpu H100")
    assert main(check.replace("recipe.toml", str(tmp_path / "recipe.toml")).split()[1:]) == 0
    assert "ok: the recipe passes" in capsys.readouterr().out


def test_a_plan_on_a_fitted_law_names_it_once_and_as_fitted(tmp_path):
    """A law file's name is its stem, and `axk1 plan fit -o law.json` is the obvious name: the plan read "law law"
    and, in plan.md, called its law a published one that is no forecast of this corpus."""
    from axk1.plan.planner import make_plan
    from axk1.plan.report import summary_text, write_outputs
    from tests.plan_helpers import make_law_file

    law = make_law_file(tmp_path)
    law.law = dataclasses.replace(law.law, name="law")
    path = law.save(tmp_path / "law.json")
    plan = make_plan("H100", 8, 1, law=str(path))
    text = summary_text(plan)
    # named by the path it was given as (every fitted law was 'law', "the fitted law 'law''s fit uncertainty")
    named = f"fitted law {str(path)!r}"
    assert "law law" not in text and f"{named}, EL" in text and f"fit uncertainty of the {named})" in text
    assert "'law'" not in text and "''s" not in text
    md = write_outputs(plan, tmp_path / "out")["plan"].read_text()
    assert "law law" not in md and f"the {named} was fitted from your own runs" in md
    assert "the built-in laws' losses" not in md


def test_a_plan_file_cut_by_a_full_disk_leaves_the_earlier_one_whole(tmp_path, monkeypatch):
    """The plan's files were written in place: a full disk (or a kill) left recipe.toml or plan.json cut, and the
    next reader took the half file as the plan. Each is written whole now, or the earlier one stays."""
    import errno
    from pathlib import Path

    from axk1.plan.planner import make_plan
    from axk1.plan.report import write_outputs

    out = tmp_path / "out"
    write_outputs(make_plan("H100", 8, 1), out)
    before = {name: (out / name).read_bytes() for name in ("recipe.toml", "plan.json", "plan.md")}
    other = make_plan("H100", 64, 7)
    real_open = Path.open
    for name in before:
        def full_disk(self, mode="r", *args, name=name, **kwargs):
            f = real_open(self, mode, *args, **kwargs)
            if "w" in mode and name in self.name:
                f.close()
                raise OSError(errno.ENOSPC, "No space left on device")
            return f

        with monkeypatch.context() as m:
            m.setattr(Path, "open", full_disk)
            with pytest.raises(OSError, match="No space left"):
                write_outputs(other, out)
        assert (out / name).read_bytes() == before[name], name
        assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
