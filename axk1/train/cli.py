"""`axk1 train <recipe.toml> [--resume] [--device cuda]` and `axk1 export <checkpoint> <dir>`."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from pathlib import Path

from axk1.cli_args import add_resume_flag, go_on_advice, positive_int
from axk1.dtype_flag import add_dtype_flag, flag_dtype


def add_train_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="pretrain a model from a recipe (TOML)",
                              description="Train through the recipe's stages; checkpoints and metrics go to [run] out_dir. Any "
                              "recipe field can be overridden as --section.key value (e.g. --optimizer.lr 1e-4).")
    p.add_argument("recipe", help="recipe TOML (e.g. recipes/demo.toml)")
    add_resume_flag(p)
    p.add_argument("--out", "-o", "--output", dest="out", default=None, help="output folder (overrides [run] out_dir; "
                   "-o and --output as the other verbs spell it)")
    # positive_int: 0 became [run] max_steps = 0, "train through all stages", the opposite of what was typed
    p.add_argument("--max-steps", type=positive_int, default=None, help="stop after this many steps, at least 1 "
                   "(overrides [run] max_steps)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (overrides [run] device; default auto: "
                   "CUDA when torch sees a GPU)")
    add_dry_run_arguments(p, "each stage's memory per GPU")
    p.set_defaults(func=cmd_train, accepts_overrides=True)
    return p


def add_dry_run_arguments(p: argparse.ArgumentParser, memory: str) -> None:
    """--dry-run, --world-size and --gpu, as `axk1 train`, `axk1 sft` and `axk1 rl` take them; `memory`: what the
    verb's dry run prints the memory of (each verb's own words: a shared sentence fitted none of them)."""
    p.add_argument("--dry-run", action="store_true", help="check the recipe for a launch of --world-size ranks and print "
                   f"{memory}; builds no model and trains nothing; exits 1 on any problem. With [model] init_from it "
                   f"reads {DRY_RUN_READS}, so the folder must be there; without it, drop --model.init_from where the "
                   "recipe names its model by preset or config (recipes/axk1-519b.toml)")
    p.add_argument("--world-size", type=positive_int, default=None, help="ranks of the launch the dry run checks "
                   "(default: torchrun's WORLD_SIZE when run under it, else dp_replicate x dp_shard x cp)")
    p.add_argument("--gpu", default=None, help="the GPU whose memory the dry run checks against (default H200)")


# What a dry run reads of a [model] init_from folder (the released A.X K1 is ~1 TB of weights: a login node may hold
# only part of it): the check the run makes when it loads the folder, on the files' headers (train/dry_run.py)
DRY_RUN_READS = ("that folder's config.json and the headers of its safetensors (tensor names, shapes and dtypes; not "
                 "the weights)")


# where a model folder comes from, for a dry run refused one
EXPORTED = "a release as downloaded, or what `axk1 export` writes: `make demo` leaves the demo's base model in out/model"


def init_from_refused(e: Exception, recipe: str, raw: dict, cls: type) -> Exception:
    """The recipe's refusal of its [model] init_from folder (missing, no config.json, no safetensors) in a dry run's
    words: what the dry run reads there and the ways out, short (what to do without the folder depends on where the
    recipe's model comes from; `raw`: the recipe with the command line's overrides). The same error type, so that
    the exit code is the one the refusal had."""
    from axk1.toml_file import read_toml

    model = raw.get("model", {})
    source = next((f'{key} = "{model[key]}"' for key in ("preset", "config") if model.get(key)), None)
    table = getattr(cls, "table", "")  # "sft" | "rl": a post-training verb renders its rows with the folder's template
    template = (f", and --{table}.template_from a folder with the tokenizer.json and chat template (the model's small "
                "files)" if table else "")
    without = "to dry-run without the folder"
    if getattr(cls, "init_from_required", False):
        ways = [f"`{cls.verb}` starts from init_from's weights, so its dry run needs the folder as the launch does: "
                f"give --model.init_from an existing model folder ({EXPORTED})"]
    elif source and "init_from" not in read_toml(recipe, "recipe").get("model", {}):
        ways = [f"give --model.init_from an existing model folder ({EXPORTED})",
                f"{without}, drop --model.init_from (the recipe's [model] {source} sizes the same model){template}"]
    elif source:
        ways = [f"give --model.init_from an existing model folder ({EXPORTED})",
                f"{without}, take init_from out of a copy of the recipe (its [model] {source} sizes the same "
                f"model){template}"]
    else:
        ways = [f"give --model.init_from an existing model folder ({EXPORTED})",
                f"{without}, put in a copy of the recipe, in place of init_from, [model] "
                f"{_model_source_hint(model.get('init_from'))}{template}"]
    from axk1.config import GIVE_MODEL_FOLDER

    # what is missing, once: the refusal's own "give a model folder (...)" is the first way out below
    missing = str(e).replace(f": {GIVE_MODEL_FOLDER}", "").rstrip(".")
    return type(e)(f"{missing}.\nA dry run reads {DRY_RUN_READS}. What to do:\n" + "\n".join(f"  - {w}" for w in ways))


def _model_source_hint(folder: object) -> str:
    """What sizes the model when the recipe's only source, the init_from folder, is not there whole: its config.json
    if it has one (and the preset that config is, if any); else the user's own model's config.json or preset. Never a
    fixed preset: a recipe post-training the demo's 46.5M model is not A.X K1."""
    from axk1.config import CONFIG_NAME, ModelConfig
    from axk1.presets import PRESETS

    file = Path(str(folder)) / CONFIG_NAME if folder else None
    if file is None or not file.is_file():
        return (f'config = "FOLDER/{CONFIG_NAME}" (your model\'s {CONFIG_NAME}; that file alone will do) or preset = '
                f"\"NAME\" with the overrides your model was built with (presets: {', '.join(sorted(PRESETS))})")
    try:
        config = ModelConfig.from_pretrained(file).to_dict()
    except (OSError, ValueError):
        config = None
    named = next((n for n in PRESETS if config is not None and ModelConfig.from_preset(n).to_dict() == config), None)
    return f'config = "{file}" (that file alone will do)' + (f' or preset = "{named}"' if named else "")


def refuse_launch_flags_without_dry_run(args: argparse.Namespace) -> None:
    if args.world_size is not None or args.gpu is not None:
        raise ValueError("--world-size and --gpu describe the launch a dry run checks: add --dry-run (a real run's "
                         "world size is torchrun's --nproc-per-node x nodes)")


def cmd_train(args: argparse.Namespace) -> int:
    from axk1.parallel.distributed import process_groups

    if args.dry_run:
        return run_dry_run(args)
    refuse_launch_flags_without_dry_run(args)
    with process_groups():  # destroyed after the trainer (which holds them) is gone; left alone on a failure
        return _train(args)


def run_dry_run(args: argparse.Namespace, cls: type | None = None, example: str = "recipes/demo.toml") -> int:
    """`--dry-run` of a recipe verb: `cls` is the verb's recipe class (pretraining's Recipe by default)."""
    from axk1.device import device_type
    from axk1.toml_file import load_toml
    from axk1.train.data_budget import print_budget
    from axk1.train.dry_run import dry_run
    from axk1.train.recipe import Recipe, load_recipe

    cls = cls or Recipe

    overrides = list(getattr(args, "overrides", None) or [])  # axk1/cli.py folds --device in as --run.device
    if args.device and "--run.device" not in overrides:
        overrides += ["--run.device", args.device]
    # the device the launch will resolve, read before this host resolves it: "auto" means the GPU machines', not
    # this one's, and "cuda" is checked as a setting, not against this host's GPUs (a login node has none)
    raw = load_toml(args.recipe, "recipe", example, overrides, cls.path_keys)
    declared = str(raw.get("run", {}).get("device", "auto"))
    kind = "cuda" if declared == "auto" else device_type(declared)
    try:
        recipe = load_recipe(args.recipe, [*overrides, "--run.device", "cpu"], cls, example, out_dir=args.out,
                             max_steps=args.max_steps)
    except (OSError, ValueError) as e:  # worded so by train/recipe_sections.py's _check_model_folder
        if str(e).startswith("[model] init_from: "):
            raise init_from_refused(e, args.recipe, raw, cls) from e
        raise
    recipe.run.device = "cuda" if declared == "auto" else declared if kind == "cuda" else kind
    p = recipe.parallelism
    # under torchrun the launch it runs in is the one to check (a 2-rank launch of a 1-rank recipe said "ok")
    world = args.world_size or int(os.environ.get("WORLD_SIZE", 0)) or p.dp_replicate * p.dp_shard * p.cp
    gpu = args.gpu or "H200"
    result = dry_run(recipe, world, gpu)
    print(f"dry run: {args.recipe} on {world} x {result.gpu if result.on_gpus else 'CPU rank'}, device {result.device}"
          + (" (not checked against this host's GPUs: the dry run is for login nodes)" if result.device == "cuda"
             else "") + f"; mesh dp_replicate {p.dp_replicate} x dp_shard {p.dp_shard} x cp {p.cp} (ep {p.ep}), precision "
          f"{p.precision}, recompute {p.activation_checkpointing}, micro_batch {recipe.batch.micro_batch}")
    print(result.table())
    for note in result.notes:
        print(f"note: {note}")
    for problem in result.problems:
        print(f"problem: {problem}")
    if recipe.needs_stages:  # the token shards' budget (post-training brings its own data)
        print_budget(recipe)
        _note_unused_vocab(recipe, print)
    print("ok: the recipe passes for this launch" if not result.problems else f"{len(result.problems)} problem(s)")
    return 1 if result.problems else 0


def _train(args: argparse.Namespace) -> int:
    from axk1.checkpoint.dcp import resume_on_restart
    from axk1.train.data_budget import print_budget
    from axk1.train.dry_run import batch_notes, micro_batch_notes
    from axk1.train.recipe import load_recipe
    from axk1.train.trainer import Trainer

    recipe = load_recipe(args.recipe, getattr(args, "overrides", None), out_dir=args.out, max_steps=args.max_steps)
    args.checkpoint_dir = recipe.checkpointing.dir  # a Ctrl-C from here on: axk1/cli.py reads what it holds
    trainer = Trainer(recipe, resume=resume_on_restart(args.resume, recipe.checkpointing.dir))
    # under torchrun every rank runs this: the run's lines are said once, by rank 0
    say = print if trainer.is_main else (lambda *a, **k: None)
    print_budget(recipe, trainer.sampler.shards, say, trainer.held_out_shards)
    _note_unused_vocab(recipe, say, trainer.config.vocab_size)
    for note in batch_notes(recipe) + micro_batch_notes(recipe, trainer.parallel.dp_size if trainer.parallel else 1):
        say(f"note: {note}")
    if recipe.run.max_steps > trainer.sampler.total_steps:
        say(f"note: max_steps {recipe.run.max_steps} is past the recipe's {trainer.sampler.total_steps} steps: the "
            "run stops at the end of its stages")
    rows = trainer.fit(keep_rows=1)  # the closing line's; the rest are in metrics.jsonl
    if trainer.stopped_by:  # SIGTERM (Slurm's notice before a kill): this step's checkpoint is written
        if trainer.is_main:
            print(f"axk1 train: stopped by {trainer.stopped_by} at step {trainer.state.step} of {trainer.total_steps} "
                  f"with a checkpoint in {trainer.ckpt_dir}: {go_on_advice(args.resume)}", file=sys.stderr)
        return 128 + signal.SIGTERM  # as a shell reports a process that SIGTERM ended (143)
    # complete: a signal in the teardown left no longer fails the run (axk1/cli_exit.py, finished_run)
    args.finished = (f"checkpoints in {trainer.ckpt_dir}", 0)
    last = rows[-1] if rows else None
    if last:
        say(f"step {last['step']}  stage {last['stage']}  loss {last['loss']:.4f}  "
            f"skipped {trainer.state.skipped_steps}  checkpoints in {trainer.ckpt_dir}")
    else:
        say(_nothing_to_train(trainer, recipe))
    return 0


def _note_unused_vocab(recipe, say, vocab_size: int | None = None) -> None:
    from axk1.train.data import unused_vocab_note

    note = unused_vocab_note(recipe.data.manifest, vocab_size or recipe.model.build_config().vocab_size)
    if note:
        say(f"note: {note}")


def _nothing_to_train(trainer, recipe) -> str:
    """The line of a resumed run with no step left. What ends it decides the advice: a max_steps limit (--max-steps or
    [run] max_steps) is raised with --resume in the same folder; the end of the recipe's stages needs more tokens."""
    step, planned = trainer.state.step, trainer.sampler.total_steps
    where = f"checkpoints in {trainer.ckpt_dir}" + (f", metrics in {recipe.logging.jsonl}"
                                                    if recipe.logging.jsonl else "")
    if trainer.total_steps < planned:  # the limit, not the recipe, ends it (the recipe has steps left)
        return (f"nothing to train: the run is at step {step}, and max_steps (--max-steps or [run] max_steps) is "
                f"{trainer.total_steps} of the recipe's {planned} steps; {where} (to go on, run again with --resume "
                f"and a larger --max-steps, up to {planned}, or none; export with `axk1 export`)")
    return (f"nothing to train: the run is complete at step {step} of {planned}; {where} (export with `axk1 export`; "
            "a longer run needs a recipe with more tokens, in a new --out folder)")


EXPORT_TIMEOUT_S = 1800.0  # under torchrun a rank waits for the slowest writer of a 519B model's ~2 TB of shards


def add_export_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("export", help="write a training checkpoint in the Hugging Face layout",
                              description="Drops MTP and zeroes the balancing bias, as the release does (--keep-mtp keeps "
                                          "the MTP module in mtp.safetensors, for speculative decoding); a "
                                          "post-training checkpoint (axk1 sft, axk1 rl) keeps the bias it trained "
                                          "with, its base model's.")
    p.add_argument("checkpoint", help="a step-NNNNNN folder, or a checkpoints folder (newest step)")
    p.add_argument("out", help="output folder (config.json + safetensors)")
    add_dtype_flag(p, "float32, the dtype the weights are stored in")
    p.add_argument("--tokenizer", default=None, metavar="DIR",
                   help="copy tokenizer.json (+ tokenizer_config.json) from this folder into the model folder, so "
                        "that generate/serve/eval take text (the data pipeline's: out/data/tokenizer)")
    p.add_argument("--keep-mtp", action="store_true",
                   help="write the MTP module to mtp.safetensors (axk1 generate/serve --speculative draft with it)")
    p.add_argument("--yarn", type=_yarn_factor, default=None, metavar="FACTOR",
                   help="serve past the trained length: config.json gets the release's YaRN block by FACTOR from "
                        "the longest seq_len the checkpoint's stages trained (its max_position_embeddings when its "
                        "train_state.json cannot tell), and FACTOR x that as the context (A.X K1: 4 from 32768); "
                        "for a model trained with plain RoPE")
    p.add_argument("--max-shard-size", default="5GB", metavar="SIZE",
                   help="largest safetensors file, e.g. 5GB or 500MB (default 5GB); the export holds about one "
                        "shard in memory at a time, whatever the model's size")
    p.add_argument("--collective-timeout-s", type=_timeout_s, default=EXPORT_TIMEOUT_S, metavar="S",
                   help="under torchrun: how long a rank waits for the others in a collective (default 1800: the "
                        "ranks wait for the slowest one's share of the shards; [run] collective_timeout_s for training)")
    p.set_defaults(func=cmd_export)
    return p


def _timeout_s(text: str) -> float:
    from axk1.parallel.distributed import timeout_problem

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if problem := timeout_problem(value, "the timeout"):
        raise argparse.ArgumentTypeError(problem)
    return value


def _yarn_factor(text: str) -> float:
    """--yarn's FACTOR, refused as the flag's error when out of range (1e300 wrote a 300-digit context)."""
    from axk1.checkpoint.export import check_yarn_factor

    try:
        return check_yarn_factor(float(text))
    except ValueError as e:  # float's own (not a number) or the range's
        raise argparse.ArgumentTypeError(str(e) if "--yarn" in str(e) else f"{text!r} is not a number") from None


def cmd_export(args: argparse.Namespace) -> int:
    from axk1.checkpoint.export import export_checkpoint, export_newest
    from axk1.checkpoint.hf import parse_size
    from axk1.checkpoint.run_lock import model_folder_lock

    import torch
    import torch.distributed as dist

    from axk1.parallel.distributed import init_distributed, launched_with_torchrun, process_groups

    with process_groups():
        distributed = launched_with_torchrun()  # every rank writes its share of the shards; the group waits for them
        if distributed:
            init_distributed(torch.device("cpu"), args.collective_timeout_s)
        main = not distributed or dist.get_rank() == 0

        def export(step):
            yarn_from, yarn_note = _yarn_from(step, args.yarn)
            return yarn_note, export_checkpoint(
                step, args.out, flag_dtype(args.dtype), keep_mtp=args.keep_mtp, tokenizer=args.tokenizer,
                max_shard_size=parse_size(args.max_shard_size), distributed=distributed, yarn=args.yarn,
                yarn_from=yarn_from)

        # only rank 0 takes the lock: the other ranks write their shards only after it has made the staging folder
        # (a barrier in export_checkpoint), and a refusal there ends the launch (torchrun stops the others)
        with model_folder_lock(args.out, "OUT") if main else contextlib.nullcontext():
            # rank 0's newest step, on every rank; once more with the newest if a run pruning the folder deleted it
            step, (yarn_note, path) = export_newest(args.checkpoint, distributed, export)
    if main:
        print(f"exported {step} to {path}" + ("" if args.tokenizer else
                                             " (no tokenizer: token ids only; --tokenizer DIR copies one in)"))
        if yarn_note:
            print(yarn_note)
    return 0


def _yarn_from(step, factor: float | None) -> tuple[int | None, str]:
    """(the length --yarn extends from, a line saying it): the longest seq_len the checkpoint's stages trained (a
    checkpoint trained at 32 tokens with max_position_embeddings 1024 was extended from 1024, a length it never
    saw); None, with a note, when its train_state.json cannot tell (then its max_position_embeddings)."""
    from axk1.checkpoint.export import read_train_state
    from axk1.train.trained_length import trained_length

    if factor is None:
        return None, ""
    saved = read_train_state(step)
    length, why = trained_length(saved)
    if length is None:
        mpe = saved["model_config"].get("max_position_embeddings")
        return None, (f"note: --yarn extended from max_position_embeddings ({mpe}), the length trained not being "
                      f"known: {why}")
    return length, (f"--yarn {factor:g}: YaRN from {length} tokens, the longest seq_len the checkpoint's stages "
                    f"trained; context {int(factor * length)}")
