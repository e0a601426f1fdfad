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
import sys
import typing
from pathlib import Path

from axk1.eval.completion_store import FILE
from axk1.eval.metrics import format_stderrs, readable
from axk1.eval.report import comparison_rows, pair_line, too_long_line, too_long_remedy, unanswered_line
from axk1.eval.runner import RunSettings
from axk1.eval.settings import EvalConfig, config_class, eval_config
from axk1.eval.tasks import names_of, options_class, task_classes, task_names


def cmd_eval(cfg: EvalConfig) -> int:
    """Run `cfg` (eval_config's: validated) and print each task's score."""
    from axk1.eval import backend_target  # torch (a local model's device): not needed to build the parser
    from axk1.eval.runner import run_eval

    if not cfg.model:
        raise ValueError("--model is required (model folder, hf:<path-or-id> or openai:<base-url>)")
    backend = backend_target.load_backend(cfg.model, served_model=cfg.served_model, api_key_env=cfg.api_key_env,
                                          concurrency=cfg.concurrency, dtype=cfg.dtype, extra_body=cfg.extra_body,
                                          device=cfg.device, request_timeout_s=cfg.request_timeout)
    out = Path(cfg.output)
    options = options_class()(limit=cfg.limit, grader_mode=cfg.grader, test_timeout_s=cfg.test_timeout,
                              workers=cfg.workers)
    for cls in task_classes(cfg.tasks):  # each task reads its own settings (only the tasks that run)
        cls.configure(cfg, options, out, backend)
    settings = RunSettings(model=cfg.model, tasks=cfg.tasks, n=cfg.n, sampling=cfg.sampling(), seed=cfg.seed,
                           contamination=cfg.contamination)
    results = run_eval(backend, settings, options, out)
    for name, r in results["tasks"].items():
        print(f"{name:10s} {r['score']:6.1f} {format_stderrs(r['metrics'])}  "
              f"({r['metrics']['n_problems']} problems × {r['metrics']['n_samples']})  {readable(r['statuses'])}"
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
    for pair in results.get("pairs", []):
        print(f"like for like: {pair_line(pair)}")
    print(f"report: {out / 'report.md'}")
    failed = 0
    # --thinking on where no reply of a task closed its think block: every sample is no_answer, a score of the
    # server's settings (its chat template ignores the switch), not of the model; exit 0 read as a measurement
    for name, r in results["tasks"].items():
        if r.get("thinking_unclosed"):
            print(f"axk1 eval: error: {r['thinking_unclosed']} (the score is no measurement)", file=sys.stderr)
            failed = 1
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
    add_flags(p, EvalConfig)
    for cls in task_classes():  # each task's own flags, grouped under its names in --help
        if vars(cls).get("Config") is not None:
            add_flags(p.add_argument_group(", ".join(names_of(cls))), cls.Config)
    # No flag has a default here: one that was not typed is absent, so the file's value or the setting's default
    # stands (comparing with the defaults let the file override a flag typed with its default, `--tasks aime25`)
    fields = {f.name for f in dataclasses.fields(config_class())}
    for action in p._actions:
        if action.dest in fields:
            action.default = argparse.SUPPRESS
    p.set_defaults(func=_run)
    return p


def add_flags(parser: argparse._ActionsContainer, cls: type) -> None:
    """A flag for each setting of the dataclass `cls` (fields made by `flag`, axk1/eval/tasks/base.py): named
    --the-field-name, read by its `parse` or as the field's type, its default named in its help."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if meta.get("add"):  # a flag other verbs share (--dtype, --api-key-env)
            meta["add"](parser)
            continue
        help_text = meta.get("help") or ""  # a plain field (no `flag`) is a flag too, without help
        help_text = help_text() if callable(help_text) else help_text
        if f.default is not None:
            help_text += f" (default {f.default})"
        # the first type of `int | None`, `str | list[str]`: what the command line's text is read as
        tp = next((t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if t is not type(None)), None)
        parse = meta.get("parse") or (tp if tp in (int, float) else None)
        kwargs = {"choices": meta["choices"]} if meta.get("choices") else {}
        parser.add_argument(*(meta.get("names") or ("--" + f.name.replace("_", "-"),)), dest=f.name, type=parse,
                            metavar=meta.get("metavar"), help=help_text, **kwargs)


def _run(args: argparse.Namespace) -> int:
    """The settings from the flags typed, the --config file and the defaults, then the run."""
    typed = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_class()) if hasattr(args, f.name)}
    cfg = eval_config(typed, args.config)
    try:
        return cmd_eval(cfg)
    except BaseException:  # read by the CLI's line for Ctrl-C or SIGTERM (axk1/cli_exit.py), not for other errors
        args.interrupt_hint = _kept_hint(Path(cfg.output))
        raise


def _kept_hint(out: Path) -> str:
    """What an interrupted eval kept for its rerun: the completions so far (a rerun asks only for the others), never
    the grades (a rerun grades every completion again)."""
    try:
        with open(out / FILE, "rb") as f:
            kept = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        kept = 0
    if not kept:
        return " (no completion was kept yet: run the same command to start again)"
    return (f" ({kept:,} completion(s) kept in {out / FILE}: run the same command again to go on; it asks only for "
            "the missing ones and grades all of them again)")
