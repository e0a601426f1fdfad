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
import datetime
import json
import sys
from pathlib import Path

from axk1.api_key import CLIENT_KEY_ENV, add_api_key_flags
from axk1.cli_args import non_negative_int, parameter_default, positive_int
from axk1.dtype_flag import add_dtype_flag
from axk1.eval import backend_target
from axk1.eval.backends import Sampling
from axk1.eval.metrics import format_stderrs
from axk1.eval.openai_backend import OpenAIBackend
from axk1.eval.report import comparison_rows, too_long_line, too_long_remedy, unanswered_line
from axk1.eval.runner import RunSettings
from axk1.eval.tasks import TaskOptions, names_of, task_classes, task_names
from axk1.json_text import JsonError, parse_json
from axk1.toml_file import build_dataclass, read_toml, resolve_path

# How a --config file reads a value, by its key, declared (tasks declare their own keys the same way, see Task):
# a path is relative to the file's folder (the one path rule); a path-or-id is a file when it exists there, else
# a Hugging Face dataset id; a target is a folder unless hf:... or openai:... Declared, not read from a flag's
# metavar: --contamination's REPORT was no path metavar, so its file value was read from the current folder.
PATH_KEYS = ("output", "contamination")
TARGET_KEYS = ("model",)
TARGET_METAVAR = "TARGET"
# A --config value may also be in TOML's own form where TOML has one: a DATE a TOML date (lcb_start = 2025-02-01),
# a JSON object a TOML table (extra_body = { min_p = 0.05 }); each is given on as the text the flag takes
DATE_METAVAR = "DATE"
JSON_METAVAR = "JSON"


def cmd_eval(args: argparse.Namespace) -> int:
    from axk1.eval.runner import run_eval

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if isinstance(args.tasks, str) else list(args.tasks)
    unknown = [t for t in tasks if t not in task_names()]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(task_names())}")
    if args.grader not in ("strict", "tolerant"):
        raise ValueError(f"--grader must be strict or tolerant, got {args.grader!r}")
    try:
        extra_body = parse_json(args.extra_body) if args.extra_body else {}
    except JsonError as e:
        raise ValueError(f"--extra-body is not valid JSON: {e}") from None
    if not isinstance(extra_body, dict):  # it is merged into the request body, key by key
        raise ValueError(f"--extra-body must be a JSON object such as '{{\"top_k\": 20}}', got {args.extra_body!r}")
    if not args.request_timeout > 0:
        raise ValueError(f"--request-timeout must be > 0 seconds, got {args.request_timeout}")
    if not 0 < args.test_timeout < float("inf"):  # 0 or nan graded every program as a timeout, without a word
        raise ValueError(f"--test-timeout must be a number of seconds > 0, got {args.test_timeout}")
    thinking = {"on": True, "off": False, "default": None}[args.thinking]
    sampling = Sampling(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k, max_tokens=args.max_tokens,
                        thinking=thinking)
    backend = backend_target.load_backend(args.model, served_model=args.served_model, api_key_env=args.api_key_env,
                                          concurrency=args.concurrency, dtype=args.dtype, extra_body=extra_body,
                                          device=args.device, request_timeout_s=args.request_timeout)
    out = Path(args.output)
    options = TaskOptions(limit=args.limit, grader_mode=args.grader, test_timeout_s=args.test_timeout,
                          workers=args.workers)
    for cls in task_classes(tasks):  # each task reads its own flags (only the tasks that run)
        cls.configure(args, options, out, backend)
    settings = RunSettings(model=args.model, tasks=tasks, n=args.n, sampling=sampling, seed=args.seed,
                           contamination=args.contamination)
    results = run_eval(backend, settings, options, out)
    for name, r in results["tasks"].items():
        print(f"{name:10s} {r['score']:6.1f} {format_stderrs(r['metrics'])}  "
              f"({r['metrics']['n_problems']} problems × {r['metrics']['n_samples']})  {r['statuses']}"
              + (f"  INCOMPLETE: {unanswered_line(r)}" if r.get("unanswered") else "")
              + (f"  NOT MEASURED: {too_long_line(r)}" if r.get("too_long") else ""))
        failed_rows = r["info"].get("failed_to_parse") or []
        if failed_rows:  # they are left out of the set, not graded: said here, not only in report.md
            print(f"{'':10s} {len(failed_rows)} rows of the data failed to parse and were left out (reasons: "
                  f"results.json, info.failed_to_parse)")
    # Why a score is not set beside the card's numbers, where anyone reading the scores above sees it.
    for row in comparison_rows(results):
        if row.get("not_comparable"):
            print(f"{row['task']}: not compared with the published numbers: {row['not_comparable']}")
    print(f"report: {out / 'report.md'}")
    failed = 0
    # A prompt refused for its length is refused again on every run: the advice is to shorten it, not to rerun.
    too_long = {name: r for name, r in results["tasks"].items() if r.get("too_long")}
    if too_long:
        reasons = _errors(out, too_long, "too_long")
        remedies = "; ".join(f"{name}: {too_long_remedy(name, r)}" for name, r in too_long.items())
        print(f"axk1 eval: error: {'; '.join(f'{name}: {too_long_line(r)}' for name, r in too_long.items())} (e.g. "
              f"{reasons[0][:300]}); they are graded too_long and those scores are not measurements. A rerun is "
              f"refused the same way ({remedies}); samples are in {out / 'samples.jsonl'}", file=sys.stderr)
        failed = 1
    # A sample without a reply measured the connection, not the model: a score holding one is no measurement.
    incomplete = {name: r for name, r in results["tasks"].items() if r.get("unanswered")}
    if incomplete:
        reasons = _errors(out, incomplete, "request_failed")
        what = "; ".join(f"no request was answered for {name}" if r["unanswered"] == sum(r["statuses"].values())
                         else f"{name}: {unanswered_line(r)}" for name, r in incomplete.items())
        print(f"axk1 eval: error: {what} (e.g. {reasons[0][:300]}); those scores are incomplete, not measurements. "
              f"Run the same command again (same -o) to ask for the unanswered samples only; samples are in "
              f"{out / 'samples.jsonl'}", file=sys.stderr)
        return 1
    return failed


def _errors(out: Path, tasks: dict, status: str) -> list[str]:
    """The distinct errors of the samples of `tasks` with `status`."""
    return sorted({rec.get("error") or "" for rec in _records(out) if rec["task"] in tasks and rec["status"] == status})


def _records(out: Path) -> list[dict]:
    with open(out / "samples.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help=f"evaluate a model on {', '.join(task_names())}", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=None, help="TOML file with defaults for any option below")
    p.add_argument("--model", required=False, metavar=TARGET_METAVAR,
                   help="model folder, hf:<path-or-id>, or openai:<base-url>")
    p.add_argument("--tasks", default="aime25", help=f"comma-separated: {','.join(task_names())} (default %(default)s)")
    p.add_argument("-o", "--output", default="out/eval", metavar="DIR", help="output folder (default %(default)s)")
    # Defaults are the library's (Sampling, RunSettings, OpenAIBackend, TaskOptions), read from them: restated
    # here they drifted apart
    p.add_argument("-n", type=positive_int, default=RunSettings.n, help=f"samples per problem (avg@n, pass@k; default "
                   f"{RunSettings.n})")
    p.add_argument("--temperature", type=float, default=Sampling.temperature,
                   help=f"default {Sampling.temperature}, A.X K1's evaluation setting")
    p.add_argument("--top-p", type=float, default=Sampling.top_p, help=f"default {Sampling.top_p}")
    p.add_argument("--top-k", type=non_negative_int, default=Sampling.top_k, help=f"0 = off (default {Sampling.top_k})")
    p.add_argument("--max-tokens", type=positive_int, default=Sampling.max_tokens, help="completion tokens a sample may use "
                   f"(default {Sampling.max_tokens}, the published protocol's; a model with a small context needs "
                   "less, e.g. --max-tokens 256)")
    p.add_argument("--thinking", choices=("on", "off", "default"), default="default",
                   help="on: prompt ends with <think>; off: with </think>; default: the chat template's choice")
    p.add_argument("--concurrency", type=positive_int, default=OpenAIBackend.concurrency,
                   help="parallel requests to an openai: server (default %(default)s)")
    p.add_argument("--seed", type=int, default=RunSettings.seed,
                   help="sample i of every problem uses seed + i (default %(default)s)")
    p.add_argument("--served-model", default=None, help="model name on the server (default: $AXK1_EVAL_MODEL or "
                   "the first of /models)")
    add_api_key_flags(p, CLIENT_KEY_ENV, "the key sent to an openai: server")
    p.add_argument("--extra-body", default=None, metavar=JSON_METAVAR, help="JSON object merged into every openai: "
                   "request body, e.g. '{\"min_p\": 0.05}'; fields axk1 sets (model, messages, n, seed, temperature, "
                   "top_p, top_k, max_tokens, stream, chat_template_kwargs.enable_thinking) are refused: use their flags")
    p.add_argument("--request-timeout", type=float, default=OpenAIBackend.timeout_s,
                   help="seconds one whole reply from an openai: server may take (a 32K-token generation under load can "
                   "take many minutes; default %(default)s); a request that times out fails its sample "
                   "(request_failed) and is not retried")
    add_dtype_flag(p, "the one in a local model's config.json")
    p.add_argument("--device", default="auto", help="a local model's device (a folder or hf:): auto (the default: "
                   "CUDA when torch sees a GPU), cpu or cuda")
    p.add_argument("--contamination", default=None, metavar="REPORT", help="a report of `axk1 data contamination -o`: "
                   "problems it found in the training corpus are flagged and the others scored apart")
    p.add_argument("--limit", type=positive_int, default=None, help="first N problems of each task (smoke runs)")
    p.add_argument("--grader", default=parameter_default(TaskOptions, "grader_mode"),
                   help="code grading: strict (upstream LCB rules) or tolerant (default %(default)s)")
    p.add_argument("--test-timeout", type=float, default=parameter_default(TaskOptions, "test_timeout_s"),
                   help="seconds per test (LCB upstream: 6; default %(default)s)")
    p.add_argument("--workers", type=positive_int, default=None, help="parallel program executions (default: CPU count)")
    for cls in task_classes():  # each task's own flags, grouped under its names in --help
        if "add_arguments" in vars(cls):
            cls.add_arguments(p.add_argument_group(", ".join(names_of(cls))))
    p.set_defaults(func=_with_config)
    return p


INT_TYPES = (int, positive_int, non_negative_int)  # the flags' types that parse whole numbers


def config_class(parser: argparse.ArgumentParser) -> type:
    """The --config file's dataclass: one field per option of `axk1 eval`, named as the option's long name with
    underscores, typed as the option parses (str, int, float; a comma-separated list may be a TOML array, a DATE a
    TOML date, a JSON object a TOML table). Built from the parser, so the file's keys and the flags can never drift
    apart. None: not set in the file."""
    fields = []
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "config") or action.help == argparse.SUPPRESS:
            continue
        native = {DATE_METAVAR: datetime.date, JSON_METAVAR: dict}.get(action.metavar, list)
        tp = int if action.type in INT_TYPES else action.type if action.type is float else str | native
        fields.append((action.dest, tp | None, dataclasses.field(default=None)))
    return dataclasses.make_dataclass("EvalConfig", fields)


def load_eval_config(path: str | Path, parser: argparse.ArgumentParser) -> dict:
    """The settings a --config file sets, {option dest: value}, its paths resolved against its folder."""
    path = Path(path)
    cfg = build_dataclass(config_class(parser), read_toml(path, "--config file"), str(path))
    values = {k: v for k, v in dataclasses.asdict(cfg).items() if v is not None}
    path_keys, path_or_id_keys, target_keys = set(PATH_KEYS), set(), set(TARGET_KEYS)
    for cls in task_classes():
        path_keys.update(cls.path_keys)
        path_or_id_keys.update(cls.path_or_id_keys)
        target_keys.update(cls.target_keys)
    for key, value in values.items():
        if isinstance(value, list):  # tasks = ["aime25", "lcb"] means --tasks aime25,lcb
            values[key] = value = ",".join(map(str, value))
        elif isinstance(value, datetime.date):  # lcb_start = 2025-02-01 means --lcb-start 2025-02-01
            values[key] = value = value.isoformat()
        elif isinstance(value, dict):  # extra_body = { min_p = 0.05 } means --extra-body '{"min_p": 0.05}'
            values[key] = value = json.dumps(value)
        if key in path_keys or (key in target_keys and not value.startswith(("hf:", "openai:"))):
            values[key] = resolve_path(value, path.parent)
        elif key in path_or_id_keys and (path.parent / value).exists():
            values[key] = resolve_path(value, path.parent)
    for action in parser._actions:  # the file's values meet the same choices and bounds as the flags
        if action.type in INT_TYPES and action.dest in values:
            try:
                action.type(str(values[action.dest]))
            except argparse.ArgumentTypeError as e:
                raise ValueError(f"{path}: {action.dest} = {values[action.dest]!r}: {e}") from None
        if action.choices and action.dest in values and values[action.dest] not in action.choices:
            raise ValueError(f"{path}: {action.dest} = {values[action.dest]!r}; choose from "
                             f"{', '.join(map(str, action.choices))}")
    return values


def typed_options(argv: list[str]) -> set[str]:
    """The dests of the options `argv` (an `axk1 eval ...` command line) gives: parsed again with every default
    replaced by a marker, whatever is not the marker was typed. Comparing values with the defaults instead let the
    file override an option typed with its default value (`--tasks aime25` lost to the file's tasks). The marker is
    no string: argparse would run a string default through the option's type."""
    parser = argparse.ArgumentParser(add_help=False)
    eval_parser = add_eval_parser(parser.add_subparsers())
    untyped = object()
    eval_parser.set_defaults(**dict.fromkeys(vars(parser.parse_args(["eval"])), untyped))
    return {key for key, value in vars(parser.parse_known_args(argv)[0]).items() if value is not untyped}


def _with_config(args: argparse.Namespace) -> int:
    """Fill the options the command line did not give from --config, then run."""
    if args.config:
        parser = argparse.ArgumentParser(add_help=False)
        typed = typed_options(args.argv)
        for key, value in load_eval_config(args.config, add_eval_parser(parser.add_subparsers())).items():
            if key not in typed:
                setattr(args, key, value)
    if not args.model:
        raise ValueError("--model is required (model folder, hf:<path-or-id> or openai:<base-url>)")
    return cmd_eval(args)
