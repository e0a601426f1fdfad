"""`axk1 eval`'s settings: one flat dataclass, `EvalConfig`, that its flags, its `--config` file and its checks
are built from (docs/configuration.md).

EvalConfig holds the run's own settings; each task adds its own (its `Config`, axk1/eval/tasks/base.py), merged in
flat as FilterConfig merges its filters' tables (axk1/data/config.py), so a key is the long option's name with
underscores (max_tokens = 32768, lcb_start = 2025-02-01) whichever declares it. A setting's value comes from its
flag where one was typed, else from the --config file, else its default. The keys that hold paths are declared
(`path_keys`, `path_or_id_keys`, `target_keys`): in the file a relative path is relative to the file's folder.
`validate` checks every setting, from a flag or from the file alike, before anything runs, and brings each to one
form (tasks a list, extra_body a table, a TOML date its text).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from axk1.api_key import CLIENT_KEY_ENV, add_api_key_flags
from axk1.cli_args import non_negative_int, positive_int
from axk1.dtype_flag import DTYPE_NAMES, add_dtype_flag
from axk1.eval.backends import Sampling
from axk1.eval.openai_backend import OpenAIBackend
from axk1.eval.runner import RunSettings
from axk1.eval.tasks import TaskOptions, flag, task_classes, task_names
from axk1.eval.tasks.base import merged_dataclass
from axk1.json_text import JsonError, parse_json
from axk1.toml_file import build_dataclass, read_toml, resolve_path

# A model target that is no folder; a bare URL too, so that load_backend can name it (read as a path relative to a
# --config file's folder it became a mangled path that "does not exist")
TARGET_PREFIXES = ("hf:", "openai:", "http://", "https://")
KEY_KINDS = ("path_keys", "path_or_id_keys", "target_keys")  # how a --config file resolves a key, by kind
THINKING = {"on": True, "off": False, "default": None}
GRADERS = ("strict", "tolerant")


def _task_list() -> str:
    return f"comma-separated (a TOML array in a --config file): {','.join(task_names())}"


# Defaults are the library's (Sampling, RunSettings, OpenAIBackend, TaskOptions), read from them: restated here
# they drifted apart
@dataclass
class EvalConfig:
    model: str | None = flag(None, "model folder, hf:<path-or-id>, or openai:<base-url>", metavar="TARGET")
    tasks: str | list[str] = flag("aime25", _task_list)
    output: str = flag("out/eval", "output folder", names=("-o", "--output"), metavar="DIR")
    n: int = flag(RunSettings.n, "samples per problem (avg@n, pass@k)", names=("-n",), parse=positive_int)
    temperature: float = flag(Sampling.temperature, "A.X K1's evaluation setting is the default")
    top_p: float = flag(Sampling.top_p, "nucleus sampling")
    top_k: int = flag(Sampling.top_k, "0 = off", parse=non_negative_int)
    max_tokens: int = flag(Sampling.max_tokens, "completion tokens a sample may use (the default is the published "
                           "protocol's; a model with a small context needs less, e.g. --max-tokens 256)",
                           parse=positive_int)
    thinking: str = flag("default", "on: prompt ends with <think>; off: with </think>; default: the chat "
                         "template's choice", choices=tuple(THINKING))
    concurrency: int = flag(OpenAIBackend.concurrency, "parallel requests to an openai: server", parse=positive_int)
    seed: int = flag(RunSettings.seed, "sample i of every problem uses seed + i")
    # --served-model-name too: `axk1 serve`'s name for the same thing
    served_model: str | None = flag(None, "model name on the server (default: $AXK1_EVAL_MODEL or the first of "
                                    "/models); --served-model-name, as `axk1 serve` calls it, is the same flag",
                                    names=("--served-model", "--served-model-name"))
    api_key_env: str = flag(CLIENT_KEY_ENV, "", add=lambda p: add_api_key_flags(
        p, CLIENT_KEY_ENV, "the key sent to an openai: server"))
    # a --config file may write a TOML table (extra_body = { min_p = 0.05 }); validate makes either a table
    extra_body: str | dict[str, Any] | None = flag(
        None, "JSON object merged into every openai: request body, e.g. '{\"min_p\": 0.05}'; fields axk1 sets (model, "
        "messages, n, seed, temperature, top_p, top_k, max_tokens, stream, chat_template_kwargs.enable_thinking) are "
        "refused: use their flags", metavar="JSON")
    request_timeout: float = flag(OpenAIBackend.timeout_s, "seconds one whole reply from an openai: server may take "
                                  "(a 32K-token generation under load can take many minutes); a request that times "
                                  "out fails its sample (request_failed) and is not retried")
    dtype: str | None = flag(None, "", choices=DTYPE_NAMES,
                             add=lambda p: add_dtype_flag(p, "the one in a local model's config.json"))
    device: str = flag("auto", "a local model's device (a folder or hf:): auto (CUDA when torch sees a GPU), cpu or "
                       "cuda")
    contamination: str | None = flag(None, "a report of `axk1 data contamination -o`: problems it found in the "
                                     "training corpus are flagged and the others scored apart", metavar="REPORT")
    limit: int | None = flag(None, "first N problems of each task (smoke runs)", parse=positive_int)
    grader: str = flag(TaskOptions.grader_mode, "code grading: strict (upstream LCB rules) or tolerant",
                       choices=GRADERS)
    test_timeout: float = flag(TaskOptions.test_timeout_s, "seconds per test (LCB upstream: 6)")
    workers: int | None = flag(None, "parallel program executions (default: CPU count)", parse=positive_int)

    # the keys a --config file resolves against its folder (each task's Config adds its own)
    path_keys = ("output", "contamination")  # (ClassVars: no annotation, so no setting)
    path_or_id_keys = ()
    target_keys = ("model",)

    def validate(self) -> None:
        """Check every setting and bring it to one form, then each task's own (its Config's `validate`)."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime.date):  # lcb_start = 2025-02-01 means --lcb-start 2025-02-01
                setattr(self, f.name, value := value.isoformat())
            choices = f.metadata.get("choices")
            if choices and value is not None and value not in choices:
                raise ValueError(f"{f.name} = {value!r}; choose from {', '.join(map(str, choices))}")
            parse = f.metadata.get("parse")
            if parse in (positive_int, non_negative_int) and value is not None:  # the file's bounds are the flag's
                try:
                    parse(str(value))
                except argparse.ArgumentTypeError as e:
                    raise ValueError(f"{f.name} = {value!r}: {e}") from None
        tasks = self.tasks.split(",") if isinstance(self.tasks, str) else self.tasks
        # a task named twice runs once, in its first place: run twice it asked for every sample twice and wrote each
        # sample twice into samples.jsonl
        self.tasks = list(dict.fromkeys(t.strip() for t in tasks if t.strip()))
        unknown = [t for t in self.tasks if t not in task_names()]
        if unknown:
            raise ValueError(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(task_names())}")
        if not self.tasks:
            raise ValueError(f"--tasks names no task; choose from {', '.join(task_names())}")
        self.sampling()  # its ranges (temperature, top_p, top_k), checked before a model loads or a server is asked
        if isinstance(self.extra_body, str):
            try:
                self.extra_body = parse_json(self.extra_body) if self.extra_body else {}
            except JsonError as e:
                raise ValueError(f"--extra-body is not valid JSON: {e}") from None
        if not isinstance(self.extra_body, (dict, type(None))):  # it is merged into the request body, key by key
            raise ValueError(f"--extra-body must be a JSON object such as '{{\"top_k\": 20}}', got "
                             f"{self.extra_body!r}")
        self.extra_body = self.extra_body or {}
        if not self.request_timeout > 0:
            raise ValueError(f"--request-timeout must be > 0 seconds, got {self.request_timeout}")
        if not 0 < self.test_timeout < math.inf:  # 0 or nan graded every program as a timeout, without a word
            raise ValueError(f"--test-timeout must be a number of seconds > 0, got {self.test_timeout}")
        for part in type(self).__mro__:
            if part is not EvalConfig and "validate" in vars(part):
                vars(part)["validate"](self)

    def sampling(self) -> Sampling:
        return Sampling(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k, max_tokens=self.max_tokens,
                        thinking=THINKING[self.thinking])


def config_class() -> type[EvalConfig]:
    """EvalConfig with every registered task's Config merged in: the --config file's keys and the flags."""
    parts = tuple(dict.fromkeys(cls.Config for cls in task_classes() if cls.Config is not None))
    merged = merged_dataclass("EvalConfig", EvalConfig, parts)
    for kind in KEY_KINDS:
        setattr(merged, kind, tuple(key for part in (EvalConfig, *parts) for key in getattr(part, kind, ())))
    return merged


def read_eval_file(path: str | Path) -> EvalConfig:
    """The settings of a --config file (the others at their defaults), type-checked, with the relative paths it
    holds resolved against its folder; not yet validated (flags typed on the command line still replace some)."""
    path = Path(path)
    raw = read_toml(path, "--config file")
    cfg = build_dataclass(config_class(), raw, str(path))
    cls = type(cfg)
    for key in raw:  # only what the file sets: a default (out/eval) stays relative to the current folder
        value = getattr(cfg, key)
        if not isinstance(value, str):
            continue
        if (key in cls.path_keys or (key in cls.target_keys and not value.startswith(TARGET_PREFIXES))
                or (key in cls.path_or_id_keys and (path.parent / value).exists())):
            setattr(cfg, key, resolve_path(value, path.parent))
    return cfg


def eval_config(typed: dict[str, Any], file: str | Path | None = None) -> EvalConfig:
    """The run's settings: `typed` (the flags given on the command line, by field name) over the --config `file`'s
    over the defaults, validated."""
    cfg = dataclasses.replace(read_eval_file(file) if file else config_class()(), **typed)
    cfg.validate()
    return cfg
