"""The `axk1 plan` verb. Wire it in axk1/cli.py with `add_plan_parser(sub)` inside build_parser()."""

from __future__ import annotations

import argparse

from axk1.cli_args import name_sub_verbs
from axk1.hardware import DEFAULT_MFU, GPUS, OVERRIDES_HELP, PRECISIONS
from axk1.json_text import strict_json
from axk1.plan import defaults  # the planner's defaults (make_plan's), read without importing the planner: torch
from axk1.plan.scaling import AXK1_VOCAB_ADJUST, LAWS


def _number(text: str) -> float:
    """Accepts 1e13, 10T, 519B, 2.5e24."""
    suffixes = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15}
    t = text.strip().upper().replace(",", "").replace("_", "")
    try:
        return float(t[:-1]) * suffixes[t[-1]] if t and t[-1] in suffixes else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (examples: 10T, 1e13)") from None


def _fraction(text: str) -> float:
    """--mfu: a share of the peak, 0 < x < 1. 40 (meant as 40%) was refused as "not below the peak", which did not say
    that the flag takes a fraction."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if 1 < value <= 100:
        raise argparse.ArgumentTypeError(f"{text} reads as a percentage: --mfu is a fraction of the peak (for "
                                         f"{value:g}% give {value / 100:g})")
    return value


def _data(text: str) -> dict[str, float]:
    """--data web=10T,code=3T -> {"web": 1e13, "code": 3e12}."""
    out = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        domain, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{text!r}: write DOMAIN=TOKENS pairs, e.g. web=10T,code=3T")
        if domain.strip() in out:  # the last one silently won
            raise argparse.ArgumentTypeError(f"{text!r}: domain {domain.strip()!r} is given twice")
        out[domain.strip()] = _number(value)
    return out


def cmd_plan(args: argparse.Namespace) -> int:
    if args.gpu is None or args.gpus is None or args.days is None:
        raise ValueError("give --gpu, --gpus and --days (the budget to plan), or a subcommand: `axk1 plan sweep` "
                         "writes an IsoFLOP sweep of small runs, `axk1 plan fit RUN...` fits a law to them")
    from axk1.plan.planner import make_plan
    from axk1.plan.report import plan_dict, summary_text, write_outputs

    plan = make_plan(args.gpu, args.gpus, args.days, precision=args.precision, mfu=args.mfu, tflops=args.tflops,
                     gpu_memory=args.gpu_memory, peak_tflops=args.peak_tflops,
                     tokens=args.tokens, law=args.law, seq_len=args.seq_len,
                     vocab_adjust=1.0 if args.no_vocab_adjust else AXK1_VOCAB_ADJUST, serve_gpus=args.serve_gpus,
                     serve_precision=args.serve_precision, min_activation=args.min_activation, top=args.top,
                     arch=args.arch, downtime=args.downtime, data=args.data, max_epochs=args.max_epochs,
                     min_tokens_per_param=args.min_tokens_per_param, max_tokens_per_param=args.max_tokens_per_param)
    files = write_outputs(plan, args.output) if args.output else {}
    if args.json:
        print(strict_json({**plan_dict(plan), "files": {k: str(v) for k, v in files.items()}}, indent=2))
    else:
        print(summary_text(plan))
        if files:
            print("wrote " + ", ".join(str(p) for p in files.values()))
    return 0


def add_plan_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "plan", help="compute-optimal model, token count, config.json and recipe.toml for a GPU budget",
        description="From GPUs x days to an A.X K1-family model: FLOP budget, scaling laws (DeepSeek LLM / "
                    "Chinchilla, MoE leverage, vocabulary), architecture search under memory and serving bounds.")
    p.add_argument("--gpu", help=f"accelerator: {', '.join(GPUS)}; {OVERRIDES_HELP}")
    p.add_argument("--gpu-memory", type=float, default=None, metavar="GB",
                   help="memory per GPU in GB, replacing the table's (a variant: --gpu H100 --gpu-memory 94), or "
                   "that of a GPU not in the table")
    p.add_argument("--peak-tflops", type=float, default=None, metavar="TF",
                   help="dense tensor peak per GPU at --precision (TFLOP/s, no sparsity), replacing the table's; "
                   "needed for a GPU not in the table. --mfu is a share of it")
    p.add_argument("--gpus", type=int, help="number of GPUs")
    p.add_argument("--days", type=float, help="wall-clock training days")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--mfu", type=_fraction, default=None,
                      help="model FLOPs utilisation, a fraction (0.4 = 40%%) of the --precision dense peak (default "
                      f"{', '.join(f'{v:.2f} {k}' for k, v in DEFAULT_MFU.items())})")
    rate.add_argument("--tflops", type=float, default=None, help="achieved model TFLOP/s per GPU instead of --mfu")
    p.add_argument("--precision", choices=PRECISIONS, default=defaults.PRECISION,
                   help="training compute precision: which of the GPU's dense peaks the budget assumes (default "
                   "%(default)s; a rate, not a dtype name as --dtype takes, nor [parallelism] precision)")
    p.add_argument("--tokens", type=_number, default=None,
                   help="fix the token count (e.g. 10T) instead of spending the whole budget")
    p.add_argument("--law", default=defaults.LAW, help=f"scaling law: {', '.join(sorted(LAWS))} (default "
                   "%(default)s), or a law file written by `axk1 plan fit`")
    p.add_argument("--seq-len", type=int, default=defaults.SEQ_LEN, help="base sequence length of stages 1-2 "
                   "(default %(default)s, A.X K1's); the long-context stage scales with it to 4x and 8x, as far as "
                   "memory holds")
    p.add_argument("--no-vocab-adjust", action="store_true", help="skip A.X K1's +25%% on the optimal vocabulary")
    p.add_argument("--serve-gpus", type=int, default=defaults.SERVE_GPUS, help="the release must fit this many "
                   "GPUs of the same kind (default %(default)s, one node; 0 = no bound)")
    p.add_argument("--serve-precision", choices=PRECISIONS, default=defaults.PRECISION,
                   help="release weights precision: bytes per parameter in the serving bound (default %(default)s)")
    p.add_argument("--min-activation", type=float, default=defaults.MIN_ACTIVATION,
                   help="lowest expert activation ratio, shared experts counted (default %(default)s)")
    p.add_argument("--arch", choices=defaults.ARCHES, default=defaults.ARCHES[0],
                   help="search MoE and dense shapes (both, the default), or one kind")
    p.add_argument("--data", type=_data, default=None, help="unique tokens per domain, e.g. web=10T,code=3T (default: "
                   f"a {defaults.DEFAULT_UNIQUE_TOKENS / 1e12:g}T-token corpus in the mixture's proportions; a domain "
                   "left out keeps its share of that corpus)")
    p.add_argument("--max-epochs", type=float, default=defaults.DEFAULT_MAX_EPOCHS,
                   help="most passes over any domain (default %(default)g; repeats are discounted)")
    p.add_argument("--min-tokens-per-param", type=float, default=defaults.MIN_TOKENS_PER_ACTIVE_PARAM,
                   help="least tokens per activated parameter (default %(default)s)")
    p.add_argument("--max-tokens-per-param", type=float, default=defaults.MAX_TOKENS_PER_ACTIVE_PARAM,
                   help="most tokens per activated parameter (default %(default)s); above it the budget goes unspent")
    p.add_argument("--downtime", type=float, default=defaults.DOWNTIME, help="share of the days lost to failures "
                   "and restarts (default %(default)s: the default MFU already absorbs A.X K1's)")
    p.add_argument("--top", type=int, default=defaults.TOP, help="candidates in the table (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("-o", "--output", default=None, help="write plan.md, isoflop.png, config.json, recipe.toml here")
    p.set_defaults(func=cmd_plan)
    from axk1.plan.fit_cli import add_fit_parsers

    sub = p.add_subparsers(dest="plan_command", metavar="{sweep,fit}")
    add_fit_parsers(sub)
    name_sub_verbs(sub, "plan")  # `axk1 plan sweep: error: ...`
    return p
