"""`axk1 plan sweep` (an IsoFLOP grid of small training recipes) and `axk1 plan fit RUN...` (a law from them)."""

from __future__ import annotations

import argparse

from axk1.cli_args import comma_list, thread_count


def _flops(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number of FLOPs (e.g. --budgets 1e11,3e11,1e12)") from None


def cmd_sweep(args: argparse.Namespace) -> int:
    from axk1.plan.sweep import write_sweep

    doc = write_sweep(args.output, args.budgets, args.sizes, args.spread, args.seq_len, args.batch,
                      args.holdout_factor, args.manifest, args.threads, args.force)
    for run in doc["runs"] + ([doc["holdout"]] if doc["holdout"] else []):
        print(f"{run['name']:>14}  C {run['budget']:.2e}  M {run['scale']:.3g} FLOPs/token  D {run['tokens']:>10,}  "
              f"({run['params']:,} non-embedding parameters)  {run['folder']}/recipe.toml")
    held = doc["holdout"]
    print(f"train each: axk1 train {args.output}/runs/<name>/recipe.toml"
          + (f" (and {args.output}/holdout/recipe.toml)" if held else "")
          + f"; then: axk1 plan fit {args.output}/runs/* -o law.json"
          + (f" --check {args.output}/holdout" if held else ""))
    for warning in doc["warnings"]:  # last, where it is read
        print(f"warning: {warning}")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from axk1.plan.fit_report import fit_runs

    print(fit_runs(args.runs, args.output, args.check, args.plot, args.bootstrap, args.frontier or None))
    return 0


def add_fit_parsers(sub: argparse._SubParsersAction) -> None:
    from axk1.plan.defaults import DEFAULT_BUDGETS, DEFAULT_SIZES, DEFAULT_SPREAD

    p = sub.add_parser("sweep", help="write an IsoFLOP grid of small training recipes (budgets x sizes)",
                       description="Recipes `axk1 train` runs as they are: tiny dense models, several compute budgets "
                       "(C = M x D) x several sizes around each budget's first-guess optimum, one larger held-out "
                       "run; validation on held-out documents at the end of each.")
    p.add_argument("-o", "--output", required=True, help="folder for data/, runs/, holdout/ and sweep.json")
    p.add_argument("--budgets", type=comma_list(_flops), default=DEFAULT_BUDGETS,
                   help=f"compute budgets in FLOPs, comma-separated (default {','.join(f'{b:g}' for b in DEFAULT_BUDGETS)})")
    p.add_argument("--sizes", type=int, default=DEFAULT_SIZES, help=f"model sizes per budget (default {DEFAULT_SIZES})")
    p.add_argument("--spread", type=float, default=DEFAULT_SPREAD,
                   help=f"sizes span M_guess/spread .. M_guess x spread (default {DEFAULT_SPREAD})")
    p.add_argument("--seq-len", type=int, default=128, help="tokens per training sequence (default %(default)s)")
    p.add_argument("--batch", type=int, default=None, help="sequences per step (default: DeepSeek LLM's batch law "
                   "at each budget)")
    p.add_argument("--holdout-factor", type=float, default=1.5,
                   help="the held-out run's budget over the largest (default 1.5; 0 = none)")
    p.add_argument("--manifest", default=None, help="token shards to train on (default: the standard library's "
                   "source as bytes, written to OUTPUT/data)")
    p.add_argument("--threads", type=thread_count, default=1, help="torch threads per run (default 1)")
    p.add_argument("--force", action="store_true", help="write over a sweep that was trained or had other sizes: "
                   "deletes OUTPUT's run folders and holdout first (their metrics and checkpoints)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("fit", help="fit a scaling law to trained runs' held-out validation losses",
                       description="Chinchilla's approach 2 (IsoFLOP minima) and approach 3 (L = E + A/M^alpha + "
                       "B/D^beta), bootstrap intervals; writes a law file for `axk1 plan --law FILE`.")
    p.add_argument("runs", nargs="+", help="run folders (each with recipe.toml and the metrics of its training)")
    p.add_argument("-o", "--output", default="law.json", help="the law file to write (default law.json)")
    p.add_argument("--check", default=None, help="a held-out run folder: its loss predicted by the fit vs measured")
    p.add_argument("--plot", default=None, help="write the fit plot (PNG) here")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap refits (default 200)")
    p.add_argument("--frontier", type=float, default=0.10,
                   help="approach 3 fits the runs within this fraction of their budget's best loss (default 0.10; "
                        "0: every run)")
    p.set_defaults(func=cmd_fit)
