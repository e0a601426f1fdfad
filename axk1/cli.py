"""The `axk1` command: one verb per capability. Thin: parse, call the library, print."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from axk1.cli_args import check_utf8, positive_int
from axk1.cli_exit import exit_process, run_verb, sigterm_raises, starting
from axk1.cli_report import report_error
from axk1.data.cli import add_data_parser
from axk1.sampling_ranges import DEFAULT_MAX_NEW_TOKENS, DEFAULT_TEMPERATURE, DEFAULT_TOP_K, DEFAULT_TOP_P

# The verbs' parsers are imported in build_parser(), after the data-only fast path in main(). None of them imports
# torch: a verb imports what it runs when it runs (`axk1 --help` took ~2 s of torch and torch.distributed, now well
# under one; tests/test_cli_startup.py), and `axk1 data ...` builds only its own parser (docs/data.md, "Start-up cost").


def _config_from(spec: str):
    """The config `axk1 params SPEC` counts, and the size fields it takes from the defaults (not from SPEC)."""
    from axk1.config import CONFIG_NAME, ModelConfig
    from axk1.json_text import read_json_file
    from axk1.params import defaulted_size_fields

    path = Path(spec)
    if path.is_dir() or path.suffix == ".json":
        config = ModelConfig.from_pretrained(path)  # checks the file; its keys are read again below
        keys = set(read_json_file(path / CONFIG_NAME if path.is_dir() else path, "fix the file"))
        return config, defaulted_size_fields(keys)
    if path.suffix == ".toml":  # a recipe: the model its [model] table builds
        # the table alone, not load_recipe(path).model: that refuses an SFT/RL recipe, a recipe of [model] only and
        # an init_from folder without weights yet, none of which changes the counts; RecipeModelConfig checks its
        # own table (one source, overrides that are ModelConfig fields). params takes no overrides to apply.
        from axk1.toml_file import build_dataclass, read_toml, resolve_keys
        from axk1.train.recipe_sections import RecipeModelConfig

        model = build_dataclass(RecipeModelConfig, read_toml(path, "recipe").get("model", {}), "recipe.model")
        resolve_keys(model, ("config", "init_from"), path.parent)
        config = model.build_config()
        if model.preset:
            return config, {}
        _, defaulted = _config_from(model.config or model.init_from)
        set_here = set(model.overrides) | ({"num_nextn_predict_layers"} if model.mtp_depth > 0 else set())
        return config, {k: v for k, v in defaulted.items() if k not in set_here}
    return ModelConfig.from_preset(spec), {}


def cmd_params(args: argparse.Namespace) -> int:
    from axk1.params import count_parameters, format_table

    config, defaulted = _config_from(args.model)
    counts = count_parameters(config, with_mtp=True)
    if defaulted:  # a partial config.json would otherwise read as a model it is not (mostly the 519B one)
        values = ", ".join(f"{k} = {json.dumps(v)}" for k, v in defaulted.items())
        print(f"axk1 params: note: {args.model} does not set {len(defaulted)} of the fields that size the model: "
              f"counted with the defaults, the 519B model's ({values}); set them in the file for its real counts",
              file=sys.stderr)
    print(json.dumps({**counts, "defaulted": defaulted}, indent=2) if args.json
          else format_table(counts, f"parameters of {args.model}"))
    return 0


def _parse_ids(text: str, flag: str) -> list[int]:
    pieces = text.replace(",", " ").split()
    if not pieces or not all(p.isdigit() for p in pieces):
        raise ValueError(f"{flag} takes token ids, whole numbers >= 0 such as '1 42 7' or '1,42,7': got {text!r}")
    return [int(p) for p in pieces]


def _parse_prompt(args: argparse.Namespace, model_dir: Path):
    """(ids, tokenizer, text_out). The rule: --prompt-ids is token ids; --prompt is text whenever the folder has
    tokenizer.json (its digits are text too: "2024" used to go in as the id 2024) and, with no tokenizer to read
    text, token ids. The tokenizer, when there is one, also gives the stop ids of a --prompt-ids run."""
    tokenizer_file = model_dir / "tokenizer.json"
    tokenizer = None
    if tokenizer_file.exists():
        from axk1.text.tokenizer_file import load_tokenizer

        tokenizer = load_tokenizer(tokenizer_file)
    if args.prompt_ids is not None:
        return _parse_ids(args.prompt_ids, "--prompt-ids"), tokenizer, False
    if tokenizer is not None:
        return tokenizer.encode(args.prompt).ids, tokenizer, True
    try:
        return _parse_ids(args.prompt, "--prompt"), None, False
    except ValueError:
        if all(p.lstrip("-").isdigit() for p in args.prompt.replace(",", " ").split()):
            raise  # numbers, not text: "-1" is a bad id, not text that needs a tokenizer
        raise ValueError(
            f"--prompt is text but {model_dir} has no tokenizer.json: pass token ids (e.g. --prompt-ids '1 42 7') "
            "or add a tokenizer to the folder (`axk1 export CHECKPOINTS DIR --tokenizer out/data/tokenizer` copies "
            "the data pipeline's in)"
        ) from None


def _check_chat_flags(args: argparse.Namespace) -> None:
    """--think, --no-think and --system set the chat template's variables: without --chat there is none. The texts
    are UTF-8 (cli_args.check_utf8)."""
    check_utf8("--prompt", args.prompt)
    check_utf8("--system", args.system)
    if not args.chat:
        if args.think is not None:
            raise ValueError(f"{'--think' if args.think else '--no-think'} sets the chat template's enable_thinking, "
                             "so it goes with --chat: add --chat")
        if args.system is not None:
            raise ValueError("--system is a chat's system message, so it goes with --chat: add --chat")
    elif args.prompt is None:
        raise ValueError("--chat asks the --prompt text as a user message, and --prompt-ids are fed as they are: "
                         "pass --prompt TEXT, or drop --chat")


def _print_reply(codec, tokens: list[int], reasoning: bool) -> None:
    """A chat reply split as `axk1 serve` splits it: the reasoning on stderr under a "reasoning:" line, the answer
    alone on stdout (so `> answer.txt` keeps the answer)."""
    from axk1.infer.local_chat import split_reply

    trace, answer = split_reply(codec, tokens, reasoning)
    if trace is not None:
        print(f"reasoning:\n{trace}\n", file=sys.stderr, flush=True)
    if answer is None:
        print("axk1 generate: note: the reply ended inside its reasoning, so it has no answer: raise "
              "--max-new-tokens, or pass --no-think", file=sys.stderr)
    print(answer or "")


def cmd_generate(args: argparse.Namespace) -> int:
    from axk1.checkpoint.hf import load_model
    from axk1.dtype_flag import flag_dtype
    from axk1.infer.generate import generate
    from axk1.infer.chat import ChatCodec
    from axk1.infer.generation_config import flag_sampling, reply_stop_ids
    from axk1.infer.speculative import generate_speculative
    from axk1.device import resolve_device

    if sum((args.compile, args.cuda_graph, args.speculative)) > 1:
        raise ValueError("--compile, --cuda-graph and --speculative are different decode loops: choose one")
    _check_chat_flags(args)
    device = resolve_device(args.device, "--device")
    model_dir = Path(args.model_dir)
    chat = None
    if args.chat:  # before the model loads: a folder that cannot chat is refused at once
        from axk1.infer.local_chat import chat_codec, chat_prompt

        codec = chat_codec(ChatCodec.from_folder(model_dir), model_dir)
        chat = chat_prompt(codec, args.prompt, args.system, args.think)
    model = load_model(model_dir, dtype=flag_dtype(args.dtype), device=device,
                       with_mtp=args.speculative)
    if chat is not None:
        ids, tokenizer, text_out = chat.ids, codec.tokenizer, True
    else:
        ids, tokenizer, text_out = _parse_prompt(args, model_dir)
        codec = ChatCodec.from_folder(model_dir) if tokenizer else None
        if text_out:
            from axk1.infer.local_chat import chat_hint

            hint = chat_hint(codec, args.prompt)
            if hint:
                print(hint, file=sys.stderr)
    if args.show_prompt:
        shown = chat.text if chat is not None else args.prompt if text_out else " ".join(map(str, ids))
        print(f"prompt ({len(ids)} tokens):\n{shown}", file=sys.stderr)
    start = time.perf_counter()
    # the ids that end a reply where `axk1 serve` ends one: config.json's eos, generation_config.json's and the
    # tokenizer's end of turn (A.X K1's config.json names another id: generation ran past <|im_end|> to the limit)
    # (a chat's end of turn is the server's: the eos token, else <|im_end|>)
    turn_end = codec.turn_end if chat is not None else (
        codec.token_id(codec.eos_token) if codec is not None and codec.eos_token else None)
    stop_ids = reply_stop_ids(model_dir, model.config.eos_token_ids, model.config.vocab_size, turn_end)
    # a flag left out: generation_config.json's value (a limit within the context, as the server's), else the default
    sampling, taken = flag_sampling(model_dir, model.config.vocab_size, model.config.context_length - len(ids),
                                    args.temperature, args.top_p, args.top_k, args.max_new_tokens,
                                    as_server=chat is not None)
    if taken:
        print(f"{model_dir / 'generation_config.json'}: {', '.join(taken)} (a flag overrides it)", file=sys.stderr)
    sampling.update(seed=args.seed, stop_ids=stop_ids)
    if args.speculative:
        result = generate_speculative(model, ids, **sampling)
    else:
        result = generate(model, [ids], **sampling, compile=args.compile, cuda_graph=args.cuda_graph)
    elapsed = time.perf_counter() - start
    tokens = result.tokens[0]
    if chat is not None:
        _print_reply(codec, tokens, chat.reasoning)
    else:
        print(tokenizer.decode(tokens) if text_out else " ".join(map(str, tokens)))  # as the prompt came: text or ids
    drafts = (f", MTP drafts kept {result.accepted}/{result.drafted} ({100 * result.acceptance_rate:.0f}%)"
              if args.speculative else "")
    print(f"[{len(tokens)} tokens in {elapsed:.2f}s, {len(tokens) / elapsed:.1f} tok/s, finish: "
          f"{result.finish_reasons[0]}{drafts}]", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from axk1.demo import run_demo

    run_demo(Path(args.output), steps=args.steps, posttrain=not args.no_posttrain, web=args.web)
    return 0


def cmd_demo_long(args: argparse.Namespace) -> int:
    from axk1.long_context import run_long_context_demo

    result = run_long_context_demo(Path(args.output), **({"steps": tuple(args.steps)} if args.steps else {}),
                                   trials=args.trials)
    print(f"report: {result['report']}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse's parser (its sub-parsers are of the same class), whose usage error goes through _report_error:
    once per launch under torchrun, not once per rank."""

    def error(self, message: str):
        report_error(f"{self.format_usage()}{self.prog}: error: {message}")
        raise SystemExit(2)


def _build_parser() -> argparse.ArgumentParser:
    from axk1.cli_args import non_negative_float, sampling_seed
    from axk1.dtype_flag import add_dtype_flag
    from axk1.eval.cli import add_eval_parser
    from axk1.infer.cli import add_serve_parser
    from axk1.plan.cli import add_plan_parser
    from axk1.posttrain.cli import add_posttrain_parsers
    from axk1.synth.cli import add_synth_parser
    from axk1.train.cli import add_export_parser, add_train_parser

    parser = _Parser(prog="axk1", description="Build, train, evaluate and serve A.X K1-style MoE models.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("params", help="total and activated parameters of a preset, config.json or recipe (meta device)")
    p.add_argument("model", help="a preset name (axk1-519b, axk1-mini, ...), a config.json, a model folder, or a "
                   "recipe .toml (the model its [model] table builds)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_params)

    p = sub.add_parser("generate", help="generate from a model folder (HF layout)")
    p.add_argument("model_dir", help="model folder (config.json + safetensors; tokenizer.json to take text)")
    prompt = p.add_mutually_exclusive_group(required=True)
    prompt.add_argument("--prompt", help="the prompt: text (digits included) when the folder has tokenizer.json, and "
                        "the reply is printed as text; token ids ('1 42 7') when it has none")
    prompt.add_argument("--prompt-ids", metavar="IDS", help="the prompt as token ids ('1 42 7' or '1,42,7'), with or "
                        "without a tokenizer; the reply is printed as ids")
    p.add_argument("--chat", action="store_true", help="ask --prompt as one user message, in the folder's chat "
                   "template as `axk1 serve` renders it (axk1's default template for a folder without one, as serve "
                   "falls back); the reasoning is printed on stderr, the answer on stdout")
    p.add_argument("--think", action=argparse.BooleanOptionalAction, default=None, help="with --chat: the "
                   "template's enable_thinking on or off (default: the template's own default)")
    p.add_argument("--system", metavar="TEXT", default=None, help="with --chat: a system message before the prompt")
    p.add_argument("--show-prompt", action="store_true", help="print the prompt the model is given (with --chat: "
                   "the rendered template) on stderr")
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help=f"tokens to generate at most (default: generation_config.json's max_new_tokens, else "
                   f"{DEFAULT_MAX_NEW_TOKENS}; within what the context leaves)")
    # the sampling defaults are generate()'s own (sampling_ranges.py: its signature's, without importing torch)
    p.add_argument("--temperature", type=non_negative_float, default=None,
                   help=f"0 = greedy (default: generation_config.json's, else {DEFAULT_TEMPERATURE})")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling: the smallest set of tokens holding "
                   f"this probability (default: generation_config.json's, else {DEFAULT_TOP_P})")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest tokens, 0 = no limit "
                   f"(default: generation_config.json's, else {DEFAULT_TOP_K})")
    p.add_argument("--seed", type=sampling_seed, default=None, help="the sampling's seed, for a reply that can be repeated "
                   "(default: none, a fresh draw each run; greedy needs none)")
    add_dtype_flag(p)
    p.add_argument("--device", default="auto", help="auto (the default: CUDA when torch sees a GPU, else cpu), cpu or "
                   "cuda")
    p.add_argument("--compile", action="store_true", help="torch.compile the decode step (slow start, faster steps)")
    p.add_argument("--cuda-graph", action="store_true",
                   help="decode through one captured CUDA graph (a GPU's eager step waits on kernel launches; on CPU "
                        "the same static step runs uncaptured)")
    p.add_argument("--speculative", action="store_true",
                   help="draft one token a step with the folder's MTP module (mtp.safetensors; `axk1 export "
                        "--keep-mtp`) and verify it with the main model: the same output, fewer steps")
    p.set_defaults(func=cmd_generate)

    add_plan_parser(sub)
    add_serve_parser(sub)
    add_eval_parser(sub)
    add_data_parser(sub, extra=[add_synth_parser])
    add_train_parser(sub)
    add_export_parser(sub)
    add_posttrain_parsers(sub)

    p = sub.add_parser("demo", help="the spine end to end on a small model: data, pretraining, export, generation, post-training",
                       description="The whole spine on axk1-mini, on a laptop CPU: starter data through the pipeline, "
                                   "three pretraining stages, export, generation, then post-training (SFT in both "
                                   "modes, merge, mode-overlap SFT, GSPO) and held-out accuracy. Starts over in its output folder.")
    p.add_argument("-o", "--output", default="out", help="output folder (default: out)")
    p.add_argument("--steps", type=positive_int, default=None, help="stop pretraining after this many steps (default: the "
                   "whole demo recipe, ~3-5 minutes on 2 cores); post-training then runs in its quick smoke form")
    p.add_argument("--no-posttrain", action="store_true", help="stop at the base model (skip SFT, merge, RL)")
    p.add_argument("--web", metavar="DIR", default=None, help="the web domain from the saved pages under DIR "
                   "(written to a WARC, then read by the pipeline's warc source) instead of generated prose")
    p.set_defaults(func=cmd_demo)

    help_ = ("context extension shown: passkey retrieval of a model trained at 256 tokens, then with YaRN x4, then "
             "after a YaRN stage at 1,024 (heat-maps; 6-8 minutes on 2 cores)")
    p = sub.add_parser("demo-long", help=help_, description=help_[0].upper() + help_[1:] + ".")
    p.add_argument("-o", "--output", default="out/long-context", help="output folder (default: out/long-context)")
    p.add_argument("--steps", type=positive_int, nargs=2, default=None, metavar=("SHORT", "LONG"),
                   help="training steps at 256 tokens and in the YaRN stage at 1,024 (default: 1500 100)")
    p.add_argument("--trials", type=positive_int, default=20,
                   help="passkey prompts per (length, depth) cell (default %(default)s)")
    p.set_defaults(func=cmd_demo_long)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """Every verb's parser. Building it imports the verbs' modules (no torch, but still a fraction of a second): main
    does it inside cli_exit.starting, where a stop signal is a line and its exit code, not a traceback."""
    return _build_parser()


def recipe_overrides(args: argparse.Namespace, extra: list[str]) -> list[str]:
    """A recipe verb's `--section.key value` overrides; its `--device` flag is one more ([run] device), last so that
    it wins over a --run.device given too."""
    if getattr(args, "accepts_overrides", False) and getattr(args, "device", None):
        return [*extra, "--run.device", args.device]
    return extra


def chosen_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The deepest sub-parser the command line chose (`axk1 data run`: data run's), whose prog names the verb in an
    error; the top parser's said only `axk1: error: unrecognized arguments` for a verb's unknown flag."""
    while True:
        verbs = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        chosen = getattr(args, verbs.dest, None) if verbs is not None else None
        if chosen not in (verbs.choices if verbs is not None else {}):
            return parser
        parser = verbs.choices[chosen]


def _data_parser(argv: list[str]) -> argparse.ArgumentParser:
    """Only `axk1 data ...`: what `axk1 data` runs needs none of the model stack (nor, but for `data synth` and
    help, the synth package, whose import costs ~0.2-0.5 s)."""
    parser = _Parser(prog="axk1", description="Build, train, evaluate and serve A.X K1-style MoE models.")
    extra = []
    if len(argv) < 2 or argv[1] in ("synth", "-h", "--help"):
        from axk1.synth.cli import add_synth_parser

        extra.append(add_synth_parser)
    add_data_parser(parser.add_subparsers(dest="command", required=True), extra=extra)
    return parser


def _passive_omp_wait() -> None:
    """OpenMP threads that wait at a barrier sleep instead of spinning, unless the user chose otherwise. libgomp's
    default spins about 300,000 times first: on a machine whose cores are busy with other work (2 shared cores here,
    a data job beside training on a node) the waiting thread burns the time slice the thread it waits for needs.
    A 12-step demo training run (threads = 2) beside one CPU hog took 204 s and 274 s spinning, 44 s and 67 s
    passive (benchmarks/RESULTS.md). libgomp reads this once, when torch loads it, so it is set before any
    import of torch; a process that imported torch already keeps its policy."""
    if "torch" not in sys.modules and "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def main(argv: list[str] | None = None) -> int:
    """The command; without `argv` the process's own command line (the `axk1` script, `python -m axk1`), after
    which the process exits: a finished run, or a verb a signal stopped, ends the process here with its handlers
    still in force (cli_exit.exit_process). Called with `argv` (in-process), every handler is put back."""
    own_command_line = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    _passive_omp_wait()
    with sigterm_raises(until_exit=own_command_line):  # from the start: SIGTERM in the imports is a line (starting)
        with starting():
            args = _parse(argv)
        code = run_verb(args)  # the verb's function has returned: its work is done (cli_exit.finished_run)
    exit_process(code)  # a finished or stopped run, on its own command line: the exit, its handlers kept
    return code


def _parse(argv: list[str]) -> argparse.Namespace:
    """The command line's verb and flags, a recipe verb's `--section.key value` overrides in args.overrides."""
    parser = _data_parser(argv) if argv[:1] == ["data"] else build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_overrides", False):
        # the verb's parser says it: `axk1 generate: error: ...`, as every other error of a verb is worded
        chosen_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:  # a mistyped flag is named now, with the nearest real one, not when the recipe is read
        from axk1.toml_file import parse_overrides

        verb = chosen_parser(parser, args)
        try:
            parse_overrides(extra, flags=verb._option_string_actions)
        except ValueError as e:
            verb.error(str(e))
    args.overrides = recipe_overrides(args, extra)
    return args


if __name__ == "__main__":
    sys.exit(main())
