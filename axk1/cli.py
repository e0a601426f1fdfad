"""The `axk1` command: one verb per capability. Thin: parse, call the library, print."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

from axk1.cli_args import positive_int
from axk1.data.cli import add_data_parser

# The model-side verbs import torch; they are imported in build_parser(), after the data-only fast path in
# main(), so that `axk1 data ...` starts without torch (docs/data.md, "Cost").


def _config_from(spec: str):
    """The config `axk1 params SPEC` counts, and the size fields it takes from the defaults (not from SPEC)."""
    from axk1.config import CONFIG_NAME, ModelConfig
    from axk1.params import defaulted_size_fields

    path = Path(spec)
    if path.is_dir() or path.suffix == ".json":
        config = ModelConfig.from_pretrained(path)  # checks the file; its keys are read again below
        keys = set(json.loads((path / CONFIG_NAME if path.is_dir() else path).read_text()))
        return config, defaulted_size_fields(keys)
    if path.suffix == ".toml":  # a recipe: the model its [model] table builds
        from axk1.toml_file import build_dataclass, read_toml, resolve_keys
        from axk1.train.recipe import RecipeModelConfig

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


def _parse_prompt(text: str, model_dir: Path):
    """Token ids ("1, 5 9") pass through; other text needs the folder's tokenizer.json."""
    pieces = text.replace(",", " ").split()
    if pieces and all(p.lstrip("-").isdigit() for p in pieces):
        return [int(p) for p in pieces], None
    tokenizer_file = model_dir / "tokenizer.json"
    if not tokenizer_file.exists():
        raise ValueError(
            f"--prompt is text but {model_dir} has no tokenizer.json: pass token ids (e.g. --prompt '1 42 7') "
            "or add a tokenizer to the folder (`axk1 export CHECKPOINTS DIR --tokenizer out/data/tokenizer` copies "
            "the data pipeline's in)"
        )
    from axk1.text.tokenizer_file import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_file)
    return tokenizer.encode(text).ids, tokenizer


def cmd_generate(args: argparse.Namespace) -> int:
    from axk1.checkpoint.hf import load_model
    from axk1.config import DTYPES
    from axk1.infer.generate import DEFAULT_MAX_NEW_TOKENS, generate
    from axk1.infer.chat import ChatCodec
    from axk1.infer.generation_config import reply_stop_ids
    from axk1.infer.speculative import generate_speculative
    from axk1.device import resolve_device

    if sum((args.compile, args.cuda_graph, args.speculative)) > 1:
        raise ValueError("--compile, --cuda-graph and --speculative are different decode loops: choose one")
    device = resolve_device(args.device, "--device")
    model_dir = Path(args.model_dir)
    model = load_model(model_dir, dtype=DTYPES[args.dtype] if args.dtype else None, device=device,
                       with_mtp=args.speculative)
    ids, tokenizer = _parse_prompt(args.prompt, model_dir)
    start = time.perf_counter()
    # the ids that end a reply where `axk1 serve` ends one: config.json's eos, generation_config.json's and the
    # tokenizer's end of turn (A.X K1's config.json names another id: generation ran past <|im_end|> to the limit)
    codec = ChatCodec.from_folder(model_dir) if tokenizer else None
    turn_end = codec.token_id(codec.eos_token) if codec is not None and codec.eos_token else None
    stop_ids = reply_stop_ids(model_dir, model.config.eos_token_ids, model.config.vocab_size, turn_end)
    # asked for: as asked (more than the context leaves is refused, naming how many fit); the default: within it,
    # as the server's (a prompt within the default's tokens of the context was refused for a limit nobody set)
    limit = args.max_new_tokens if args.max_new_tokens is not None else min(
        DEFAULT_MAX_NEW_TOKENS, max(1, model.config.max_position_embeddings - len(ids)))
    sampling = dict(max_new_tokens=limit, temperature=args.temperature, top_p=args.top_p,
                    top_k=args.top_k, seed=args.seed, stop_ids=stop_ids)
    if args.speculative:
        result = generate_speculative(model, ids, **sampling)
    else:
        result = generate(model, [ids], **sampling, compile=args.compile, cuda_graph=args.cuda_graph)
    elapsed = time.perf_counter() - start
    tokens = result.tokens[0]
    print(tokenizer.decode(tokens) if tokenizer else " ".join(map(str, tokens)))
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

    if args.trials < 1 or (args.steps and min(args.steps) < 1):
        raise SystemExit("axk1 demo-long: --steps and --trials must be >= 1")
    result = run_long_context_demo(Path(args.output), **({"steps": tuple(args.steps)} if args.steps else {}),
                                   trials=args.trials)
    print(f"report: {result['report']}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse's parser (its sub-parsers are of the same class), whose usage error goes through _report_error:
    once per launch under torchrun, not once per rank."""

    def error(self, message: str):
        _report_error(f"{self.format_usage()}{self.prog}: error: {message}")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from axk1.cli_args import parameter_default
    from axk1.config import DTYPES
    from axk1.infer.generate import DEFAULT_MAX_NEW_TOKENS, generate
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
    p.add_argument("--prompt", required=True, help="token ids ('1 42 7') or text when the folder has tokenizer.json")
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help=f"tokens to generate at most (default {DEFAULT_MAX_NEW_TOKENS}, or what the context leaves)")
    # the sampling defaults are generate()'s own, read from it so that the two cannot drift apart
    p.add_argument("--temperature", type=float, default=parameter_default(generate, "temperature"), help="0 = greedy")
    p.add_argument("--top-p", type=float, default=parameter_default(generate, "top_p"))
    p.add_argument("--top-k", type=int, default=parameter_default(generate, "top_k"), help="0 = no limit")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--dtype", choices=sorted(DTYPES), default=None, help="default: the dtype in config.json")
    p.add_argument("--device", default="auto", help="auto (CUDA when torch sees a GPU, else cpu), cpu or cuda")
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

    p = sub.add_parser("demo", help="the spine end to end on a small model: data, pretraining, export, generation",
                       description="The whole spine on axk1-mini, on a laptop CPU: starter data through the pipeline, "
                                   "three pretraining stages, export, generation, then post-training (SFT in both "
                                   "modes, merge, GSPO) and held-out accuracy. Starts over in its output folder.")
    p.add_argument("-o", "--output", default="out", help="output folder (default: out)")
    p.add_argument("--steps", type=positive_int, default=None, help="stop pretraining after this many steps (default: the "
                   "whole demo recipe, ~5 minutes on 2 cores); post-training then runs in its quick smoke form")
    p.add_argument("--no-posttrain", action="store_true", help="stop at the base model (skip SFT, merge, RL)")
    p.add_argument("--web", metavar="DIR", default=None, help="the web domain from the saved pages under DIR "
                   "(written to a WARC, then read by the pipeline's warc source) instead of generated prose")
    p.set_defaults(func=cmd_demo)

    help_ = ("context extension shown: passkey retrieval of a model trained at 256 tokens, then with YaRN x4, then "
             "after a YaRN stage at 1,024 (heat-maps; about 6 minutes on 2 cores)")
    p = sub.add_parser("demo-long", help=help_, description=help_[0].upper() + help_[1:] + ".")
    p.add_argument("-o", "--output", default="out/long-context", help="output folder (default: out/long-context)")
    p.add_argument("--steps", type=positive_int, nargs=2, default=None, metavar=("SHORT", "LONG"),
                   help="training steps at 256 tokens and in the YaRN stage at 1,024 (default: 1500 100)")
    p.add_argument("--trials", type=positive_int, default=20, help="passkey prompts per (length, depth) cell")
    p.set_defaults(func=cmd_demo_long)
    return parser


def recipe_overrides(args: argparse.Namespace, extra: list[str]) -> list[str]:
    """A recipe verb's `--section.key value` overrides; its `--device` flag is one more ([run] device), last so that
    it wins over a --run.device given too."""
    if getattr(args, "accepts_overrides", False) and getattr(args, "device", None):
        return [*extra, "--run.device", args.device]
    return extra


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
    argv = sys.argv[1:] if argv is None else list(argv)
    _passive_omp_wait()
    parser = _data_parser(argv) if argv[:1] == ["data"] else build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = recipe_overrides(args, extra)
    try:
        return args.func(args)
    except BaseException as e:
        if isinstance(e, BrokenPipeError) and e.filename is None:  # `axk1 ... | head`: the reader has what it wanted
            try:  # as a shell tool ends: quietly, and without Python's second complaint at exit (stdout flush)
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError):
                pass
            return 141  # 128 + SIGPIPE
        if not _interrupted(e):
            if not isinstance(e, (ValueError, OSError)):
                if _launched() and _peer_failed(e):  # not this rank's error: the failed rank's is the one to read
                    print(f"axk1 {args.command}: rank {os.environ.get('RANK')} stopped: another rank of the launch "
                          f"failed (its error is above, and torchrun's summary names it)", file=sys.stderr)
                    return _leave(1)
                if _launched():  # a failed rank: its traceback, then out at once (`_leave`)
                    traceback.print_exc()
                    return _leave(1)
                raise
            what = f"{e.strerror}: {e.filename}" if isinstance(e, OSError) and e.strerror and e.filename else e
            _report_error(f"axk1 {args.command}: error: {what}")  # a bad value, a missing file, ...
            return _leave(2)
    # Ctrl-C: a line, not a traceback, and for a run with checkpoints the way back. (Landing inside a checkpoint
    # save it surfaces as torch.save's RuntimeError, raised while the KeyboardInterrupt is handled, or as DCP's
    # CheckpointException, which carries it per rank.)
    again = " (checkpoints saved so far are kept: run the same command with --resume to go on)" \
        if hasattr(args, "resume") else ""
    if hasattr(args, "newest_checkpoint"):  # axk1 train knows: --resume with none to resume from would fail
        again = (" (no checkpoint was saved yet: run the same command to start again)" if args.newest_checkpoint is None
                 else f" (the newest checkpoint is step {args.newest_checkpoint}: run the same command with --resume "
                      "to go on)")
    if os.environ.get("RANK", "0") == "0":  # under torchrun every rank is interrupted: one line is enough
        print(f"\naxk1 {args.command}: interrupted{again}", file=sys.stderr)
    return _leave(130)


# what a collective raises on a rank whose peer died (gloo's and NCCL's words for it)
_PEER_GONE = ("Connection reset by peer", "Connection closed by peer", "connectFullMesh", "remote process exited",
              "Broken pipe")


def _peer_failed(e: BaseException) -> bool:
    """Whether `e`, or what caused it, is a collective that lost a peer rank."""
    while e is not None:
        if isinstance(e, RuntimeError) and any(words in str(e) for words in _PEER_GONE):
            return True
        e = e.__cause__ or e.__context__
    return False


def _launched() -> bool:
    """Whether this process is a torchrun rank that joined its process group; torch is not imported to find out
    (and a test's in-process group, outside torchrun, is not a launch)."""
    dist = sys.modules.get("torch.distributed")
    return ("TORCHELASTIC_RUN_ID" in os.environ and dist is not None and dist.is_available()
            and dist.is_initialized())


def _leave(code: int) -> int:
    """`code`; a failed torchrun rank, its process group still up, ends here instead (os._exit), so that no group
    destructor runs at interpreter shutdown, where it could wait on the other ranks or abort
    (axk1/parallel/distributed.py::process_groups)."""
    if not _launched():
        return code
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _report_error(line: str) -> None:
    """Prints a verb's error line; under torchrun, once per launch. Every rank reads the same recipe and fails the
    same way, so N ranks used to print N copies: of the ranks that fail with this very line, only the first to get
    here prints it (a rank with another error still prints its own). Every rank still exits non-zero. The line also
    goes to the rank's torchrun error file, so that torchrun's closing summary names the error instead of "To enable
    traceback see: ..."."""
    first = _first_to_report(line)
    if first:
        print(line, file=sys.stderr)
    error_file = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if error_file:  # the format torchrun's ProcessFailure reads; a failed write only loses the summary's line
        said = line if first else "the same error on another rank (printed above)"
        # the others' a second later: torchrun's summary takes the earliest (whole seconds) as the root cause
        when = str(int(time.time()) + (0 if first else 1))
        record = {"message": {"message": said, "extraInfo": {"py_callstack": said, "timestamp": when}}}
        try:
            Path(error_file).write_text(json.dumps(record))
        except OSError:
            pass


def _first_to_report(line: str) -> bool:
    """Whether this rank is the first of its launch to fail with `line`: a counter per line in torchrun's own
    store, which exists before (and without) any process group, on every node. Outside torchrun, or when the store
    cannot be reached, True: a duplicate line is better than none."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True" or os.environ.get("WORLD_SIZE", "1") == "1":
        return True
    try:
        from datetime import timedelta

        from torch.distributed import TCPStore

        store = TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                         timeout=timedelta(seconds=5))
        # a restarted attempt (torchrun --max-restarts) prints its errors afresh
        restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        key = f"axk1/error/{restart}/{hashlib.sha256(line.encode()).hexdigest()}"
        return store.add(key, 1) == 1
    except Exception:  # noqa: BLE001 - the store is gone or unreachable: print rather than say nothing
        return True


def _interrupted(e: BaseException | None) -> bool:
    """Whether a KeyboardInterrupt is what set off this exception: itself, its context or cause chain, or a rank's
    failure inside DCP's CheckpointException, with that failure's own chain (Ctrl-C in a synchronous save surfaced
    as a rank's RuntimeError raised while the interrupt was handled: a traceback, exit 1)."""
    if e is None:
        return False
    from axk1.checkpoint.save_failure import causes  # (torch: imported only once something has failed)

    return any(isinstance(c, KeyboardInterrupt) for c in causes(e))


if __name__ == "__main__":
    sys.exit(main())
