"""Post-training verbs: `axk1 sft`, `axk1 rl`, `axk1 merge` and `axk1 posttrain {tasks,chat,overlap,heldout}`.

Recipe verbs (sft, rl) take any recipe field as `--section.key value` after the recipe, as `axk1 train` does.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections import Counter
from pathlib import Path

from axk1.cli_args import add_resume_flag, comma_list, go_on_advice, name_sub_verbs, non_negative_int, positive_int
from axk1.train.cli import add_dry_run_arguments, refuse_launch_flags_without_dry_run, run_dry_run


# The task file's row schema, briefly, for `rl --help` and `posttrain heldout --help` (in full: docs/posttraining.md,
# "Task files"); every row is checked when the file is read, so --dry-run finds a bad row.
TASK_ROWS_HELP = ('Task files ([rl] tasks, posttrain heldout TASKS) are JSONL, one object a line: "prompt" (required); '
                  '"kind": "math" (default without tests; "answer" an integer: digits with an optional sign), "code" '
                  '(default with tests; "tests": Python asserts) or "exact" (any other "answer": a text, a fraction, '
                  '"1,000", an expression; the last \\boxed{} or else the last line after </think> is right when it '
                  'equals it as normalised text, as a number, or by math-verify); optional: id, family, lang, level, entry_point, reasoning, response. See '
                  'docs/posttraining.md, "Task files".')


def _recipe_parser(sub, name: str, help_: str, example: str, func, max_steps: str, memory: str, about: str = "",
                   epilog: str = "") -> None:
    """A recipe verb's parser; `max_steps` and `memory` are its own words for --max-steps and --dry-run."""
    p = sub.add_parser(name, help=help_, description=f"{help_}. {about}Any recipe field can be overridden as "
                       "--section.key value (e.g. --optimizer.lr 1e-5). Also runs under torchrun.",
                       epilog=f"example recipe: {example}" + (f". {epilog}" if epilog else ""))
    p.add_argument("recipe", help="recipe TOML")
    add_resume_flag(p)
    p.add_argument("--out", "-o", "--output", dest="out", default=None, help="output folder (overrides [run] out_dir; "
                   "-o and --output as the other verbs spell it)")
    p.add_argument("--max-steps", type=positive_int, default=None, help=max_steps)
    p.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (overrides [run] device)")
    add_dry_run_arguments(p, memory)
    p.set_defaults(func=func, accepts_overrides=True)


# what a user's own data must look like, where they look first (`axk1 sft --help`); the full account is the doc's
SFT_DATA_HELP = (
    "[sft] data lists files of JSON Lines or a JSON array of rows (also .gz, .zst, .bz2, .xz), Parquet or Arrow "
    "files, or Hugging Face save_to_disk folders of one split. A row is OpenAI "
    '{"messages": [{"role": "system|developer|user|assistant", "content": ..., "reasoning_content": ...}]}, '
    'ShareGPT {"conversations": [{"from": "human|gpt|system", "value": ...}]}, Alpaca {"instruction", "input", '
    '"output"} or TRL {"prompt", "completion"}; a trace is reasoning_content or <think>trace</think> (or R1\'s '
    "trace</think>) before the answer. Each assistant turn is one example and only its tokens are trained; rows "
    "and turns that cannot be trained are counted by reason, with the first places and what to fix, in "
    'sft_data_report.json (docs/posttraining.md, "Your own SFT data"). ')


def cmd_sft(args: argparse.Namespace) -> int:
    from axk1.checkpoint.dcp import resume_on_restart
    from axk1.parallel.distributed import process_groups
    from axk1.posttrain.sft import SFTRecipe, load_sft_recipe, run_sft

    if args.dry_run:
        return run_dry_run(args, SFTRecipe, "recipes/posttrain/sft-think.toml")
    refuse_launch_flags_without_dry_run(args)
    with process_groups():
        recipe = load_sft_recipe(args.recipe, args.overrides, out_dir=args.out, max_steps=args.max_steps)
        args.checkpoint_dir = recipe.checkpointing.dir  # a Ctrl-C from here on: axk1/cli.py reads what it holds
        result = run_sft(recipe, resume=resume_on_restart(args.resume, recipe.checkpointing.dir))
        if not result["stopped_by"]:  # trained and exported: a signal in the teardown left (the process groups'
            # destroy, the closing lines, the interpreter's shutdown) no longer fails it (cli_exit.finished_run)
            args.finished = (f"model folder: {result['model_dir']}" if result["model_dir"]
                             else f"checkpoints in {result['checkpoints']}", 0)
    if result["stopped_by"]:  # SIGTERM: the step's checkpoint is written, and nothing was exported
        if result["is_main"]:  # one line per launch, not per rank
            print(f"axk1 sft: stopped by {result['stopped_by']} at step {result['step']} of {result['total_steps']} "
                  f"with a checkpoint in {result['checkpoints']}: {go_on_advice(args.resume)}",
                  file=sys.stderr)
        return 128 + signal.SIGTERM
    if not result["is_main"]:  # the run's closing lines once per launch, as `axk1 train`
        return 0
    if result["rows"]:
        last = result["rows"][-1]
        print(f"step {last['step']}  loss {last['loss']:.4f}  checkpoints in {result['checkpoints']}")
    if result["model_dir"]:
        print(f"model folder: {result['model_dir']}")
    return 0


def cmd_rl(args: argparse.Namespace) -> int:
    from axk1.checkpoint.dcp import resume_on_restart
    from axk1.parallel.distributed import process_groups
    from axk1.posttrain.rl import run_rl
    from axk1.posttrain.rl_recipe import RLRecipe, load_rl_recipe

    if args.max_steps is not None:  # RL's --max-steps is [rl] iterations, not the [run] max_steps it refuses; an
        # override, so the recipe's checks (the warmup against the schedule's steps) see it, in a dry run and a run
        args.overrides, args.max_steps = [*(args.overrides or []), "--rl.iterations", str(args.max_steps)], None
    if args.dry_run:
        return run_dry_run(args, RLRecipe, "recipes/posttrain/rl.toml")
    refuse_launch_flags_without_dry_run(args)
    with process_groups():
        recipe = load_rl_recipe(args.recipe, args.overrides, out_dir=args.out)
        args.checkpoint_dir = recipe.checkpointing.dir  # a Ctrl-C from here on: axk1/cli.py reads what it holds
        result = run_rl(recipe, resume=resume_on_restart(args.resume, recipe.checkpointing.dir))
        if not result["stopped_by"]:  # its outputs written: a signal in the teardown left no longer fails it (as sft)
            unchanged = result["iterations"] and not result["model_changed"]  # the error below, exit 1
            args.finished = ("every iteration skipped, the model unchanged" if unchanged else
                             f"model folder: {result['model_dir']}" if result["model_dir"]
                             else f"checkpoints in {result['checkpoints']}", 1 if unchanged else 0)
    if result["stopped_by"]:  # SIGTERM (Slurm's notice before a kill): this iteration's checkpoint is written
        if result["is_main"]:  # one line per launch, not per rank
            print(f"axk1 rl: stopped by {result['stopped_by']} at iteration {result['iterations']} of "
                  f"{result['total_iterations']} with a checkpoint in {result['checkpoints']}: "
                  f"{go_on_advice(args.resume)}", file=sys.stderr)
        return 128 + signal.SIGTERM  # as a shell reports a process that SIGTERM ended (143), as `axk1 train` does
    say = print if result["is_main"] else (lambda *a, **k: None)  # the closing lines once per launch
    if result["rows"]:
        last = result["rows"][-1]
        say(f"iteration {last['step']}  reward {last['reward_mean']:.3f}  accuracy {last['accuracy']:.3f}  "
            f"checkpoints in {result['checkpoints']}")
    if result["model_dir"]:
        say(f"model folder: {result['model_dir']}")
    if result["iterations"] and not result["model_changed"]:
        # every iteration of the run (before a --resume too) was skipped, mostly for equal rewards in every group:
        # no update ran, the model is the one RL started from. A failure, so that a script chaining the next stage
        # stops here instead of evaluating an unchanged model.
        say(f"axk1 rl: error: all {result['iterations']} iterations were skipped (every group had equal rewards "
            "among its completions in the loss, or no update had a finite loss), so the model did not change; check "
            "that the tasks can be solved at all (held-out accuracy) and that [rl] max_new_tokens leaves room for an answer (or, for non-finite "
            "losses, lower the learning rate)", file=sys.stderr)
        return 1
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from axk1.checkpoint.merge import merge_folders
    from axk1.checkpoint.run_lock import model_folder_lock

    # the lock `axk1 export` takes: a second merge or an export into this folder would delete this one's shards
    with model_folder_lock(args.output, "-o"):
        summary = merge_folders(args.a, args.b, args.output, args.alpha, progress=True)
    print(json.dumps(summary, indent=2, default=str))
    for warning in summary["warnings"]:  # last, on stderr: not buried in the JSON
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from axk1.posttrain.tasks import build_task_files

    eval_sets = {k: v for k, v in (("aime25", args.aime_en), ("aime25-ko", args.aime_ko)) if v}
    result = build_task_files(args.output, args.train, args.heldout, args.seed, levels=args.levels, kinds=args.kinds,
                              families=args.families, eval_sets=eval_sets, force=args.force)
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    if "note" in result:  # the last line seen, not a key inside a long report
        print(f"note: {result['note']}", file=sys.stderr)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from axk1.posttrain.tasks import read_tasks, refuse_overwriting_inputs, shortcut_rows, to_chat, write_jsonl

    if args.shortcut_share and args.mode != "think":
        raise ValueError("--shortcut-share adds think-mode rows (a one-line trace); it does nothing with --mode "
                         "non-think: drop it or use --mode think")
    refuse_overwriting_inputs(args.output, [args.tasks])
    tasks = read_tasks(args.tasks)
    # reasoning and response are optional in a task file (RL does not read them), but a chat row is made of them:
    # a row without them is one SFT would exclude, so say so here rather than write it
    needed = ("response", "reasoning") if args.mode == "think" else ("response",)
    lacking = [t.id for t in tasks if not all(getattr(t, name).strip() for name in needed)]
    if lacking:
        raise ValueError(f"{len(lacking)} of {len(tasks)} tasks in {args.tasks} have no {' or no '.join(needed)} "
                         f"(task {', '.join(lacking[:3])}{', ...' if len(lacking) > 3 else ''}): {args.mode} chat "
                         f"rows are made of them; add them, or use such tasks for RL only")
    if args.shortcuts_only and not args.shortcut_share:
        raise ValueError("--shortcuts-only writes the --shortcut-share rows alone: give --shortcut-share (the demo: 1.0)")
    rows = [] if args.shortcuts_only else [to_chat(t, args.mode) for t in tasks]
    if args.mode == "think" and args.shortcut_share:
        rows += shortcut_rows(tasks, args.shortcut_share, args.seed)
    write_jsonl(args.output, rows)
    print(f"{len(rows)} {args.mode} chat rows from {len(tasks)} tasks -> {args.output}")
    ids = Counter(t.id for t in tasks)
    repeats = sum(n - 1 for n in ids.values())
    if repeats:  # each is written (and trained) again, which a concatenated or re-generated file does unasked
        first = next(i for i, n in ids.items() if n > 1)
        one = repeats == 1
        print(f"note: {repeats} task{'' if one else 's'} repeat{'s' if one else ''} an earlier task's id (e.g. "
              f"{first!r}, {ids[first]} times) and {'is' if one else 'are'} written again: drop the repeats from "
              f"{args.tasks} if they are copies", file=sys.stderr)
    return 0


def cmd_overlap(args: argparse.Namespace) -> int:
    from axk1.posttrain.overlap import build_overlap, summary_line

    codec = None
    if args.tokenizer:  # the tokenizer SFT will use: its control tokens, not only axk1's
        from axk1.infer.chat import ChatCodec

        codec = ChatCodec.from_folder(args.tokenizer)
        if codec is None:
            raise FileNotFoundError(f"--tokenizer {args.tokenizer}: no tokenizer.json there; give the model folder "
                                    "SFT will train")
    result = build_overlap(args.think, args.output, args.non_think or [], codec)
    print(json.dumps(result, indent=2))
    print(summary_line(result, args.output), file=sys.stderr)
    return 0


def cmd_heldout(args: argparse.Namespace) -> int:
    from axk1.infer.chat import ChatCodec
    from axk1.posttrain.heldout import check_modes, evaluate_heldout
    from axk1.posttrain.tasks import read_task_rows
    from axk1.device import resolve_device

    device = resolve_device(args.device, "--device")
    modes = args.modes
    check_modes(modes)
    if args.json:  # its folder made and written to now: a --json that cannot be written failed after the evaluation
        from axk1.output_folder import writable_folder

        if Path(args.json).is_dir():
            raise IsADirectoryError(f"--json {args.json} is a folder: give the path of the file to write")
        writable_folder(Path(args.json).parent, "--json")
    # every row checked before the model loads (all of them, not only the --limit first: the file is one input),
    # chat control tokens by the folder's own tokenizer (without one, evaluate_heldout says what is missing)
    # and each prompt's room for --max-new-tokens in the model's context (a row without failed the evaluation midway)
    codec = ChatCodec.from_folder(args.model_dir)
    budget = None
    if codec is not None:
        from axk1.config import ModelConfig
        from axk1.posttrain.task_length import PromptBudget

        context = ModelConfig.from_pretrained(args.model_dir).context_length  # what generate takes (YaRN: extended)
        budget = PromptBudget(codec, modes, args.max_new_tokens, context, "--max-new-tokens")
    tasks = read_task_rows([args.tasks], codec, budget)[: args.limit]
    result = evaluate_heldout(args.model_dir, tasks, modes, args.max_new_tokens, device=device, progress=True)
    for mode, r in result.items():
        print(f"{mode:>9}: accuracy {r['accuracy']:.3f} ± {r['accuracy_se']:.3f}, format errors "
              f"{r['format_error']:.3f} ± {r['format_error_se']:.3f}, mean length {r['mean_len']:.1f} (n = {r['n']})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def add_posttrain_parsers(sub: argparse._SubParsersAction) -> None:
    _recipe_parser(sub, "sft", "supervised fine-tuning on chat data; [sft] mode = keep (the default: each assistant "
                   "turn in think mode when it has a trace, else non-think), think or non-think",
                   "recipes/posttrain/sft-think.toml", cmd_sft,
                   "stop after this many optimizer steps, at least 1 (overrides [run] max_steps)",
                   "the training step's memory per GPU (packed rows of [sft] seq_len)", about=SFT_DATA_HELP)
    _recipe_parser(sub, "rl", "RL with verifiable rewards (GSPO in DAPO's conventions; GRPO as an option)",
                   "recipes/posttrain/rl.toml", cmd_rl,
                   "stop after this many iterations (rollout, reward, update), at least 1 (overrides [rl] iterations)",
                   "the policy update's memory per GPU (a minibatch's completions at the longest prompt + "
                   "max_new_tokens)", epilog=TASK_ROWS_HELP)

    p = sub.add_parser("merge", help="alpha*A + (1-alpha)*B of two model folders, streamed tensor by tensor",
                       description="Merge two model folders of the same shape weight by weight, alpha*A + (1-alpha)*B "
                                   "(A.X K1's think/non-think merge: docs/posttraining.md), reading and writing one "
                                   "tensor at a time.")
    p.add_argument("a", help="model folder A (e.g. the think SFT model)")
    p.add_argument("b", help="model folder B (e.g. the non-think SFT model)")
    p.add_argument("--alpha", type=float, default=0.8, help="weight of A (default %(default)s, A.X K1's)")
    p.add_argument("-o", "--output", required=True, help="folder for the merged model (config.json + safetensors)")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("posttrain", help="post-training data: verified tasks, chat rows, mode-overlap pairs, "
                       "held-out accuracy")
    verbs = p.add_subparsers(dest="posttrain_command", required=True)
    q = verbs.add_parser("tasks", help="generated math and code tasks with checked answers (EN/KO), split and "
                         "decontaminated")
    q.add_argument("-o", "--output", required=True, help="folder for train.jsonl, heldout.jsonl, decontamination.json")
    q.add_argument("--train", type=positive_int, default=2000, help="training tasks (default 2000)")
    q.add_argument("--heldout", type=non_negative_int, default=400, help="held-out tasks (default 400)")
    q.add_argument("--seed", type=int, default=0, help="the draw's seed (default 0)")
    q.add_argument("--levels", type=comma_list(positive_int), default="1,2",
                   help="difficulty levels, comma-separated (default 1,2)")
    q.add_argument("--kinds", type=comma_list(), default="math,code",
                   help="task kinds, comma-separated: math, code (default both)")
    q.add_argument("--families", type=comma_list(), default=None,
                   help="task families, comma-separated (default all of the kinds; see axk1/posttrain/tasks.py "
                   "FAMILIES)")
    q.add_argument("--aime-en", default=None, help="AIME 2025 JSONL to decontaminate against (optional)")
    q.add_argument("--aime-ko", default=None, help="Korean AIME 2025 JSONL to decontaminate against (optional)")
    q.add_argument("--force", action="store_true", help="replace task files in -o that another run drew with other "
                   "options (refused without it; the same options just write the same files again)")
    q.set_defaults(func=cmd_tasks)
    q = verbs.add_parser("chat", help="tasks -> chat rows for SFT in one mode")
    q.add_argument("tasks", help="tasks JSONL (`axk1 posttrain tasks`: train.jsonl)")
    q.add_argument("--mode", choices=["think", "non-think"], required=True,
                   help="think: the reply with its reasoning; non-think: the answer alone")
    q.add_argument("--shortcut-share", type=float, default=0.0,
                   help="think mode: also add this share of the math tasks again with a one-line shortcut trace "
                   "(docs/posttraining.md; default %(default)s)")
    q.add_argument("--shortcuts-only", action="store_true",
                   help="write the shortcut rows alone (the demo adds them to the mode-overlap SFT set)")
    q.add_argument("--seed", type=int, default=0, help="which tasks get a shortcut row (default %(default)s)")
    q.add_argument("-o", "--output", required=True, help="chat JSONL to write")
    q.set_defaults(func=cmd_chat)
    q = verbs.add_parser("overlap", help="mode-overlap pairs: each prompt with its think and its non-think answer")
    q.add_argument("think", nargs="+", help="chat JSONL with think responses")
    q.add_argument("--non-think", nargs="*", default=[], help="chat JSONL with non-think responses for the same prompts")
    q.add_argument("-o", "--output", required=True, help="JSONL of the pairs to write")
    q.add_argument("--tokenizer", default=None, metavar="FOLDER",
                   help="model folder whose tokenizer's control tokens exclude a row, as SFT will (default: the "
                   "tokens axk1's tokenizers reserve, <|im_end|> and the like)")
    q.set_defaults(func=cmd_overlap)
    q = verbs.add_parser("heldout", help="greedy accuracy and format errors per mode on verified tasks",
                         epilog=TASK_ROWS_HELP)
    q.add_argument("model_dir", help="model folder (config.json + safetensors + tokenizer.json)")
    q.add_argument("tasks", help="task JSONL (heldout.jsonl of `posttrain tasks`, or your own: see below)")
    q.add_argument("--modes", type=comma_list(), default="think,non-think",
                   help="comma-separated think and/or non-think (default: think,non-think)")
    q.add_argument("--limit", type=positive_int, default=None, help="the first N tasks only")
    q.add_argument("--max-new-tokens", type=positive_int, default=96, help="reply length limit (default %(default)s)")
    q.add_argument("--device", default="auto", help="auto (the default: CUDA when torch sees a GPU), cpu or cuda")
    q.add_argument("--json", default=None, help="also write the full result here (its folder is made)")
    q.set_defaults(func=cmd_heldout)
    name_sub_verbs(verbs, "posttrain")  # `axk1 posttrain chat: error: ...`
