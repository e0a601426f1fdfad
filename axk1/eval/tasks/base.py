"""What every task provides: problems (prompts + gold), a grader, the fields its scores split by, and the registry
`axk1 eval` reads its tasks from.

A task registers itself by name (`@register("name")` on its class) and owns the rest: the settings it reads
(`option_defaults`), its command-line flags (`add_arguments`) and how parsed flags become its data and settings
(`configure`), and anything it adds to the scores and the report (`extra_scores`, `report_lines`). A new task is one
module plus its import line in axk1/eval/tasks/__init__.py; nothing else names it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from axk1.eval.backends import TOO_LONG, Completion
from axk1.text.reasoning import split_reasoning


@dataclass
class Problem:
    id: str
    messages: list[dict]
    gold: Any
    meta: dict = field(default_factory=dict)  # difficulty, platform, tests, ... (tests are not written to samples)
    # Why the problem could not be put to the model this run (an LCB-ko translation request that failed): it stays
    # in the set, its samples request_failed without a request, so the score is incomplete rather than the set
    # quietly smaller; the next run tries again.
    unavailable: str | None = None


@dataclass
class TaskData:
    problems: list[Problem]
    info: dict  # source, dataset hash, prompt hash, counts, excluded items with reasons, ...


class TaskOptions:
    """What one run tells its tasks. The settings several tasks share are plain attributes. The others belong to
    the task that declares them in `option_defaults` (lcb_start, passkey_lengths, ...): they are given here as
    keywords, read as attributes too (`options.lcb_start`), and read as the task's default when not given, so a
    task adds a setting in its own module without touching this class."""

    def __init__(self, data: dict[str, str] | None = None, limit: int | None = None, grader_mode: str = "strict",
                 test_timeout_s: float = 6.0, workers: int | None = None, **settings: Any):
        self.data = dict(data or {})  # task name -> local file/folder or HF dataset id
        self.limit = limit  # first N problems only (smoke runs)
        self.grader_mode = grader_mode  # code tasks: "strict" (upstream rules) or "tolerant"
        self.test_timeout_s = test_timeout_s
        self.workers = workers  # parallel program executions (default: CPU count)
        self.settings: dict[str, Any] = {}
        for key, value in settings.items():
            self.set(key, value)

    def set(self, key: str, value: Any) -> None:
        known = declared_options()
        if key not in known:
            raise TypeError(f"unknown task option {key!r}; the registered tasks declare {', '.join(sorted(known))}")
        self.settings[key] = value

    def __getattr__(self, key: str) -> Any:
        # Called only when ordinary lookup fails, i.e. for task settings. "settings" itself is excluded so that a
        # half-built object (copy, pickle) raises AttributeError instead of recursing.
        if key != "settings" and not key.startswith("__"):
            known = declared_options()
            if key in known:
                return self.settings.get(key, known[key])
        raise AttributeError(f"{type(self).__name__!s} has no option {key!r}")

    def to_dict(self) -> dict:
        """Every setting with a plain value, defaults included, for config.json (objects such as a translator
        backend are left out: their task records a description in its info)."""
        values = {"data": self.data, "limit": self.limit, "grader_mode": self.grader_mode,
                  "test_timeout_s": self.test_timeout_s, "workers": self.workers,
                  **declared_options(), **self.settings}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()
                if v is None or isinstance(v, (str, int, float, bool, list, tuple, dict))}


class Task:
    name = "task"  # set to the registered name when built by get_task
    group_by: tuple[str, ...] = ()  # meta fields that scores are split by
    published: str | None = None  # key into the published-numbers table (axk1/eval/report.py)
    # the flag that shortens its prompts, for a too_long sample's advice (passkey's --passkey-lengths); "": a
    # benchmark's problems are what they are, only --max-tokens and the context can change
    length_flag = ""
    # This class's own settings and their defaults, read as options.<key>. A subclass declares only the ones it
    # adds; two classes may not declare one key with different defaults.
    option_defaults: ClassVar[dict[str, Any]] = {}
    # The keys of this class's own flags (dests) that a --config file resolves against its folder (axk1/eval/cli.py):
    # paths; a file or else a Hugging Face dataset id; a model target (a folder unless hf:... or openai:...)
    path_keys: ClassVar[tuple[str, ...]] = ()
    path_or_id_keys: ClassVar[tuple[str, ...]] = ()
    target_keys: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def add_arguments(cls, parser: argparse._ActionsContainer) -> None:
        """Add the flags this class introduces to `axk1 eval` (called once per class that defines it, so a
        subclass adds only its own). Name a flag holding a path in `path_keys`, one that may be a file or a Hugging
        Face id in `path_or_id_keys`, a model in `target_keys`: a --config file resolves its value by that
        (axk1/eval/cli.py); give a flag taking a date YYYY-MM-DD `metavar="DATE"`, so the file may write a TOML
        date."""

    @classmethod
    def configure(cls, args: argparse.Namespace, options: TaskOptions, out: Path, backend: Any) -> None:
        """Move this class's parsed flags into `options` (options.data[name], options.set(key, value)); called
        when one of its names runs. `out` is the run's folder, `backend` the model under evaluation. The default
        copies every declared setting whose flag has the same name."""
        for klass in cls.__mro__:
            for key in vars(klass).get("option_defaults", {}):
                if hasattr(args, key):
                    options.set(key, getattr(args, key))

    def extra_scores(self, problems: list[Problem], records: list[dict], n: int) -> dict:
        """Results this task adds beside score, metrics and statuses (written to results.json)."""
        return {}

    def report_lines(self, result: dict, out: Path) -> list[str]:
        """Lines for this task's section of report.md from its result (plots go into `out`)."""
        return []

    def comparison_caveats(self, options: dict, result: dict) -> list[str]:
        """Why this run of the task differs from the published protocol (config.json's `options`, the task's
        result): each reason keeps its score apart from the published one in the report. Sampling, -n and --limit
        are checked for every task (axk1/eval/report.py)."""
        return []

    def load(self, options: TaskOptions) -> TaskData:
        raise NotImplementedError

    def grade(self, problem: Problem, completion: Completion, options: TaskOptions) -> dict:
        """-> {"status", "correct", "extracted", ...}; statuses are task-specific but always include "correct"."""
        raise NotImplementedError

    def grade_all(self, pairs: list[tuple[Problem, Completion]], options: TaskOptions) -> list[dict]:
        return [self.grade(p, c, options) for p, c in pairs]


def answer_record(completion: Completion) -> tuple[dict, str | None]:
    """The record a grader starts from, and the answer to grade: None (with the status set) when the request
    failed, or the output stopped inside its reasoning or before any answer."""
    record = {"status": None, "correct": False, "extracted": None}
    if completion.error:
        return failed_record(completion), None
    answer = split_reasoning(completion.text, completion.think_open).answer
    if answer is None:
        record["status"] = "truncated" if completion.finish_reason == "length" else "no_answer"
    return record, answer


def failed_record(completion: Completion) -> dict:
    """The record of a sample whose request got no reply: `too_long` where the model's context refused its prompt
    (the same request meets the same refusal every run), else `request_failed` (unanswered: a rerun asks again)."""
    status = "too_long" if completion.finish_reason == TOO_LONG else "request_failed"
    return {"status": status, "correct": False, "extracted": None, "error": completion.error}


def apply_limit(problems: list[Problem], limit: int | None) -> list[Problem]:
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")
    return problems if limit is None else problems[:limit]


# ---- the registry ------------------------------------------------------------------------------------------------
TASKS: dict[str, tuple[type[Task], dict[str, Any]]] = {}  # name -> (class, constructor keywords), in import order


def register(name: str, **kwargs: Any):
    """Class decorator: `--tasks name` builds cls(**kwargs). Stacked, it registers one class under several names
    (AIME: `aime25` with lang="en", `aime25-ko` with lang="ko")."""
    def add(cls: type[Task]) -> type[Task]:
        if name in TASKS:
            raise ValueError(f"eval task {name!r} is registered twice ({TASKS[name][0].__name__}, {cls.__name__})")
        known = declared_options()
        for klass in cls.__mro__:
            for key, default in vars(klass).get("option_defaults", {}).items():
                if key in known and known[key] != default:
                    raise ValueError(f"{cls.__name__} declares option {key!r} = {default!r}; another task has it as "
                                     f"{known[key]!r}")
        TASKS[name] = (cls, kwargs)
        return cls
    return add


def task_names() -> list[str]:
    return list(TASKS)


def task_classes(names: list[str] | None = None) -> list[type[Task]]:
    """The classes behind `names` (default: every registered task), each once, in registration order."""
    chosen = TASKS if names is None else {n: TASKS[n] for n in names if n in TASKS}
    return list(dict.fromkeys(cls for cls, _ in chosen.values()))


def names_of(cls: type[Task]) -> list[str]:
    return [name for name, (klass, _) in TASKS.items() if klass is cls]


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
    cls, kwargs = TASKS[name]
    task = cls(**kwargs)
    task.name = name
    return task


def declared_options() -> dict[str, Any]:
    """Every registered task's settings with their defaults."""
    out: dict[str, Any] = {}
    for cls in task_classes():
        for klass in reversed(cls.__mro__):
            out.update(vars(klass).get("option_defaults", {}))
    return out
