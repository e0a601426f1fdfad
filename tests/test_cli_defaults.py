"""A flag that feeds a library function or dataclass defaults to the library's own default: restated in the parser
they drifted (`axk1 generate` stopped at 32 new tokens where generate() stops at 64). Each table maps a flag's dest to
the parameter or field it feeds; a flag added later with a literal default that differs fails here."""

import argparse
import dataclasses
import inspect

import pytest

from axk1.cli import build_parser
from axk1.cli_flag_file import DEFAULTS_KEY, with_flag_file
from axk1.data.tokenizer_config import TokenizerConfig
from axk1.eval.backend_target import load_backend
from axk1.eval.backends import Sampling
from axk1.eval.openai_backend import OpenAIBackend
from axk1.eval.runner import RunSettings
from axk1.eval.settings import config_class
from axk1.eval.tasks import TaskOptions
from axk1.infer.cli import serve_config
from axk1.infer.engine_config import EngineConfig, ServeConfig
from axk1.infer.generate import DEFAULT_MAX_NEW_TOKENS, generate
from axk1.infer.speculative import generate_speculative
from axk1.plan.planner import make_plan
from axk1.plan.search import SearchSpace


def _defaults(*path: str) -> dict:
    """dest -> default of the sub-command `axk1 PATH...`. `axk1 eval`'s and `axk1 serve`'s flags have none (SUPPRESS:
    a flag not typed leaves the --config file's value): theirs are eval's settings' (EvalConfig,
    axk1/eval/settings.py) and those serve's parser held back."""
    parser = build_parser()
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    settings = {f.name: f.default for f in dataclasses.fields(config_class())} if path == ("eval",) else {}
    # a verb with a --config file of its flags (axk1/cli_flag_file.py) holds their defaults back the same way
    settings.update((parser.get_default(DEFAULTS_KEY) or ({}, {}))[0])
    return {a.dest: settings[a.dest] if a.default == argparse.SUPPRESS and a.dest in settings else a.default
            for a in parser._actions}


def parameter_default(function, name: str):
    """The default of `function`'s parameter `name` (of a class: its __init__'s), what a flag feeding it is checked
    against here (the flags themselves take their defaults from constants such as sampling_ranges.py's)."""
    default = inspect.signature(function).parameters[name].default
    if default is inspect.Parameter.empty:
        raise TypeError(f"{function.__qualname__}'s parameter {name} has no default to give a flag")
    return default


def _signature_pairs(function, flags: dict) -> list:
    return [(flag, parameter_default(function, name)) for flag, name in flags.items()]


CASES = {
    "eval": (("eval",), [("temperature", Sampling.temperature), ("top_p", Sampling.top_p), ("top_k", Sampling.top_k),
                         ("max_tokens", Sampling.max_tokens), ("n", RunSettings.n), ("seed", RunSettings.seed),
                         ("concurrency", OpenAIBackend.concurrency), ("request_timeout", OpenAIBackend.timeout_s),
                         *_signature_pairs(load_backend, {"concurrency": "concurrency", "device": "device",
                                                          "request_timeout": "request_timeout_s"}),
                         *_signature_pairs(TaskOptions, {"grader": "grader_mode", "test_timeout": "test_timeout_s"})]),
    "plan": (("plan",), [("arch", SearchSpace.arch), *_signature_pairs(make_plan, {
        name: name for name in ("precision", "law", "seq_len", "serve_gpus", "serve_precision", "min_activation",
                                "downtime", "max_epochs", "min_tokens_per_param", "max_tokens_per_param", "top")})]),
    "data tokenizer train": (("data", "tokenizer", "train"), [("vocab_size", TokenizerConfig.vocab_size),
                                                              ("min_frequency", TokenizerConfig.min_frequency)]),
    # --max-batch 32 was written three times (the flag, build_server's and Engine's parameters), the block and
    # prefill sizes as help text ("default: 16") beside the engine's constants
    "serve": (("serve",), [*[(name, getattr(EngineConfig, name)) for name in (
        "max_batch", "max_model_len", "cache_tokens", "block_size", "prefill_chunk", "speculative")],
        ("no_prefix_caching", not EngineConfig.prefix_caching), ("served_model_name", ServeConfig.served_name),
        ("device", ServeConfig.device), ("read_timeout", ServeConfig.read_timeout),
        ("shutdown_timeout", ServeConfig.shutdown_timeout), ("enable_weight_updates", ServeConfig.weight_updates)]),
}


@pytest.mark.parametrize("command", CASES)
def test_flags_default_to_the_library_defaults(command):
    path, pairs = CASES[command]
    defaults = _defaults(*path)
    for flag, library in pairs:
        assert defaults[flag] == library, f"axk1 {command} --{flag.replace('_', '-')}"


def test_serve_at_its_flags_defaults_is_the_default_config():
    assert serve_config(with_flag_file(build_parser().parse_args(["serve", "folder"]))) == ServeConfig("folder")


def test_generate_without_a_limit_makes_as_many_tokens_as_the_library():
    """`axk1 generate` leaves --max-new-tokens unset to stay within the context; unset, it is generate()'s limit."""
    assert _defaults("generate")["max_new_tokens"] is None
    assert parameter_default(generate, "max_new_tokens") == parameter_default(
        generate_speculative, "max_new_tokens") == DEFAULT_MAX_NEW_TOKENS == 64


def test_generate_sampling_left_out_is_the_librarys_without_a_generation_config(tmp_path):
    """The sampling flags are unset (a folder's generation_config.json may fill them: flag_sampling); a folder
    without one samples with generate()'s and generate_speculative()'s own defaults."""
    from axk1.infer.generation_config import flag_sampling

    names = ("temperature", "top_p", "top_k")
    assert all(_defaults("generate")[name] is None for name in names)
    sampling, taken = flag_sampling(tmp_path, 512, 1000, None, None, None, None)
    assert taken == [] and sampling["max_new_tokens"] == DEFAULT_MAX_NEW_TOKENS
    for function in (generate, generate_speculative):
        assert {name: sampling[name] for name in names} == {name: parameter_default(function, name) for name in names}


def test_parameter_default_refuses_a_parameter_without_one():
    with pytest.raises(TypeError, match="has no default"):
        parameter_default(generate, "model")


def _parsers(parser: argparse.ArgumentParser, path: tuple = ()):
    """(path, parser) of `axk1` and every sub-command under it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_option_says_what_it_does_and_its_default():
    """`merge -o` had no text, generate's --temperature/--top-p/--seed and serve's --port/--max-batch hid their
    defaults, eval's --lcb-*/--passkey-* flags said nothing. Each argument has help text (a flag hidden on purpose,
    SUPPRESS, aside), and each with a default other than None/False/[] names it ("default", or %(default)s)."""
    missing = []
    for path, parser in _parsers(build_parser()):
        for a in parser._actions:
            if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) or a.help == argparse.SUPPRESS:
                continue
            name = f"axk1 {' '.join(path)} {'/'.join(a.option_strings) or a.dest}"
            if not a.help:
                missing.append(f"{name}: no help")
            elif a.default not in (None, False, [], argparse.SUPPRESS) and "default" not in a.help.lower():
                missing.append(f"{name}: default {a.default!r} not shown")
    assert not missing, "\n".join(missing)
