"""plan.md's "Next steps" (a user's finding: nothing said to train the tokenizer at the plan's vocabulary, that the
recipe's manifest is a placeholder, or which domains its mixtures need): each command it prints is one the CLI
takes with those flags."""

import shlex

import pytest

from axk1.cli import _data_parser, build_parser, main
from axk1.plan import next_steps
from axk1.plan.planner import make_plan
from axk1.plan.report import write_outputs


@pytest.fixture(scope="module")
def hour(tmp_path_factory):
    out = tmp_path_factory.mktemp("plan")
    plan = make_plan("H100", 1, 1 / 24)
    return plan, out, write_outputs(plan, out)["plan"].read_text()


def _commands(md: str) -> list[str]:
    section = md.split("## Next steps")[1].split("\n\n")[1]
    return [c for c in section.split("`")[1::2] if c.startswith(("axk1 ", "torchrun "))]


def test_next_steps_name_the_vocabulary_manifest_and_domains(hour):
    plan, _, md = hour
    vocab = plan.best.config.vocab_size
    assert "## Next steps" in md
    steps = md.split("## Next steps")[1]
    assert f"--tokenize.train_vocab_size {vocab}" in steps and f"({vocab:,}, config.json's `vocab_size`" in steps
    assert '`[data] manifest = "data/manifest.json"` is a placeholder' in steps and "--data.manifest PATH" in steps
    for domain in ("web", "code", "encyclopedia", "qa", "books", "academic", "math", "stem", "reasoning"):
        assert domain in steps.split("3. **Domains.**")[1].split("\n")[0]
    assert "set its weight to 0" in steps
    commands = _commands(md)
    assert [" ".join(c.split()[1:3]) for c in commands] == ["data run", "data stats", "data stats",
                                                             "train recipe.toml", "train recipe.toml"]


def test_every_printed_command_parses(hour):
    _, _, md = hour
    for command in _commands(md):
        argv = shlex.split(command.replace("<run.output_dir>", "out/data"))[1:]
        parser = _data_parser(argv) if argv[0] == "data" else build_parser()
        args, extra = parser.parse_known_args(argv)
        assert hasattr(args, "func"), command
        # what is left over is --section.key value pairs, and only for a verb that takes them
        assert not extra or (getattr(args, "accepts_overrides", False) and len(extra) % 2 == 0
                             and all(k.startswith("--") and "." in k for k in extra[::2])), (command, extra)


def test_the_printed_dry_run_passes_on_the_written_recipe(hour, capsys):
    plan, out, md = hour
    dry = next(c for c in _commands(md) if "--dry-run" in c)
    assert dry.endswith(f"--world-size 1 --gpu {plan.budget.gpu.name}")
    assert main(shlex.split(dry.replace("recipe.toml", str(out / "recipe.toml")))[1:]) == 0
    assert "ok: the recipe passes" in capsys.readouterr().out


@pytest.mark.parametrize("gpus, launch", [
    (1, "axk1 train recipe.toml"),
    (8, "torchrun --nproc-per-node 8 -m axk1.cli train recipe.toml"),
    (12, "torchrun --nnodes 2 --nproc-per-node 6 -m axk1.cli train recipe.toml"),
    (20, "torchrun --nnodes 4 --nproc-per-node 5 -m axk1.cli train recipe.toml"),
    (1024, "torchrun --nnodes 128 --nproc-per-node 8 -m axk1.cli train recipe.toml"),
])
def test_launch_line_is_torchruns(gpus, launch):
    assert next_steps.train_command(gpus) == launch
    if launch.startswith("torchrun"):
        from torch.distributed.run import get_args_parser

        args = get_args_parser().parse_args(shlex.split(launch)[1:])
        assert args.module and args.training_script == "axk1.cli"
        assert int(str(args.nnodes).split(":")[0]) * int(args.nproc_per_node) == gpus  # default "1:1"
