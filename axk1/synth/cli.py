"""`axk1 data synth <documents.jsonl> --teacher openai:URL --recipe <synth.toml> -o out.jsonl`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from axk1.api_key import CLIENT_KEY_ENV, add_api_key_flags, read_api_key
from axk1.cli_args import positive_int
from axk1.http_json import openai_base_url


def cmd_synth(args: argparse.Namespace) -> int:
    from axk1.synth.pipeline import run_synth
    from axk1.synth.recipe import load_synth_recipe

    # --concurrency and --teacher-model are two overrides by name: applied with the others, before validation
    overrides = list(getattr(args, "overrides", None) or [])
    if args.concurrency is not None:  # positive_int: a 0 was dropped by a truthiness test here, silently
        overrides += ["--teacher.concurrency", str(args.concurrency)]
    if args.teacher_model:
        overrides += ["--teacher.model", json.dumps(args.teacher_model)]  # quoted: a name is a string
    recipe = load_synth_recipe(args.recipe, overrides)
    summary = run_synth(args.documents, recipe, openai_base_url(args.teacher, "--teacher"), args.output, cache_path=args.cache,
                        api_key=read_api_key(args.api_key_env, CLIENT_KEY_ENV), extra_benchmarks=args.decontam,
                        limit=args.limit, progress=not args.no_progress)
    print(summary.table())
    o = summary.outputs
    if summary.requests and summary.failed == summary.requests:
        # nothing generated: a failure for scripts too, with the reasons one file away
        kept = (f"the earlier run's {o['kept']}, {o['summary']} and side files were left as they were"
                if summary.kept_previous else f"{o['kept']} is empty")
        reasons = o["latest_failed"] if summary.kept_previous else o["failed"]
        # the first reason itself: a server's 400 ("ask for at most 776 tokens") names the fix; a guess would not
        print(f"axk1 data synth: error: every one of the {summary.requests} teacher requests failed, the first with: "
              f"{summary.first_failure[:500].rstrip('.')}. All the reasons are in {reasons}; {kept}. Check what it says "
              "(a context too small for [teacher] max_tokens: --teacher.max_tokens N), --teacher (is the server "
              "up?), the model and [teacher] timeout_s", file=sys.stderr)
        return 1
    if summary.generated and not summary.kept:
        # every reply came back and none was kept: as much a failed run as one whose requests all failed
        top = ", ".join(f"{check} {n}" for check, n in sorted(summary.rejections.items(), key=lambda kv: -kv[1])[:3])
        print(f"axk1 data synth: error: none of the {summary.generated} samples generated was kept; rejected by "
              f"check: {top}. Each sample's reason is in {o['rejected']} (its 'reason' and the teacher's 'reply'): "
              "check the teacher and the recipe's prompts and [filters] against them", file=sys.stderr)
        return 1
    if not summary.requests:
        print(f"axk1 data synth: warning: no requests: every document was excluded (see {o['excluded']})",
              file=sys.stderr)
    print(f"kept: {o['kept']}  rejected: {o['rejected']}  failed: {o['failed']}  excluded documents: "
          f"{o['excluded']}  summary: {o['summary']}", file=sys.stderr)
    return 0


def add_synth_parser(data_subparsers) -> argparse.ArgumentParser:
    """Register `synth` under the `data` verb's subparsers."""
    p = data_subparsers.add_parser(
        "synth", help="turn documents into training data with a teacher model (QA, reasoning, rewrites)",
        description="Generate synthetic training data from parsed documents with a teacher behind an OpenAI-compatible "
                    "API: grounded question-answer pairs, multi-step reasoning for STEM/math passages, explanatory "
                    "rewrites for an audience, in Korean and English. Replies are cached (a rerun re-asks only empty "
                    "ones), checked (format, encoding, length, language, grounding, decontamination, dedup) and "
                    "accounted for. Any recipe setting can be overridden as --section.key value (e.g. "
                    "--teacher.temperature 0.2).")
    p.add_argument("documents", help="JSONL (or .jsonl.gz/.zst/.bz2/.xz) rows with text, id, metadata "
                   "(language, domain)")
    p.add_argument("--teacher", required=True, help="openai:URL of the teacher, e.g. openai:http://127.0.0.1:8000/v1")
    p.add_argument("--recipe", required=True, type=Path, help="synth recipe TOML (see recipes/synth/default.toml)")
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="kept samples (plain JSONL: `text` for axk1 train, and for QA and reasoning samples a chat "
                        "row, `messages`, for axk1 sft); .rejected.jsonl, .failed.jsonl, .excluded.jsonl (unusable documents, "
                        "by line) and .summary.json are written beside it (a run where every request fails leaves an "
                        "earlier run's files whole and writes .latest.failed.jsonl); none of them may be an input")
    p.add_argument("--teacher-model", default=None, help="model id to ask (default: the recipe's, else the first listed)")
    add_api_key_flags(p, CLIENT_KEY_ENV, "the teacher's API key")
    p.add_argument("--cache", type=Path, default=None, help="response cache (default: OUTPUT.cache.sqlite)")
    p.add_argument("--decontam", action="append", default=[], metavar="JSONL",
                   help="another evaluation set to decontaminate against (e.g. a LiveCodeBench file); repeatable")
    p.add_argument("--concurrency", type=positive_int, default=None,
                   help="requests in flight, at least 1 (default: the recipe's)")
    p.add_argument("--limit", type=positive_int, default=None, help="read only the first N documents")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    # each reply is committed to the cache as it arrives (axk1/synth/teacher.py::ResponseCache): said after Ctrl-C
    p.set_defaults(func=cmd_synth, accepts_overrides=True, interrupt_hint=" (replies received so far are cached: run "
                   "the same command to go on without asking for them again)")
    return p
