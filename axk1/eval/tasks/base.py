"""What every task provides: problems (prompts + gold), a grader, the fields its scores split by, and the registry
`axk1 eval` reads its tasks from.

A task registers itself by name (`@register("name")` on its class) and owns the rest: its settings as two small
dataclasses, `Config` (what a user sets: its flags and `--config` keys, axk1/eval/settings.py) and `Options` (what
its `load` and `grade` read, a `TaskOptions`), how the one becomes the other (`configure`), and anything it adds to
the scores and the report (`extra_scores`, `report_lines`). A new task is one module plus its import line in
axk1/eval/tasks/__init__.py; nothing else names it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, ClassVar

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


def flag(default: Any, help: str, *, names: tuple[str, ...] = (), parse: Callable[[str], Any] | None = None,
         choices: tuple = (), metavar: str | None = None, add: Callable | None = None) -> Any:
    """A setting of a `Config` dataclass (`axk1 eval`'s or a task's) with what its flag needs: `help` (its default
    is appended), `names` (default `--the-field-name`), `parse` (what reads the command line's text; default by
    the field's type), `choices`, `metavar`; `add(parser)` adds a flag a helper shared with other verbs builds.
    The flags are built from these fields (axk1/eval/cli.py), so a setting and its flag cannot drift apart."""
    meta = {"help": help, "names": names, "parse": parse, "choices": choices, "metavar": metavar, "add": add}
    return field(default=default, metadata=meta)


@dataclass
class TaskOptions:
    """What one run tells its tasks. These settings every task shares; a task that reads more declares them in a
    subclass (its `Options`, e.g. LCBOptions' lcb_start), and the run's options are one instance of every
    registered task's `Options` together (`options_class`)."""
    data: dict[str, str] = field(default_factory=dict)  # task name -> local file/folder or HF dataset id
    limit: int | None = None  # first N problems only (smoke runs)
    grader_mode: str = "strict"  # code tasks: "strict" (upstream rules) or "tolerant"
    test_timeout_s: float = 6.0
    workers: int | None = None  # parallel program executions (default: CPU count)

    def to_dict(self) -> dict:
        """Every setting with a plain value, defaults included, for config.json (objects such as a translator
        backend are left out: their task records a description in its info)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()
                if v is None or isinstance(v, (str, int, float, bool, list, tuple, dict))}


SHARED_OPTIONS = tuple(f.name for f in dataclasses.fields(TaskOptions))  # set by the run, not by one task


class Task:
    name = "task"  # set to the registered name when built by get_task
    group_by: tuple[str, ...] = ()  # meta fields that scores are split by
    published: str | None = None  # key into the published-numbers table (axk1/eval/report.py)
    # The task this one translates (lcb-ko: lcb), whose problems share its ids: run together, the two are also scored
    # on the problems both measured (runner.paired_scores), so the report compares them like for like
    counterpart: str | None = None
    # the flag that shortens its prompts, for a too_long sample's advice (passkey's --passkey-lengths); "": a
    # benchmark's problems are what they are, only --max-tokens and the context can change
    length_flag = ""
    # The settings this class adds for a user to set: a dataclass of `flag` fields, one flag and one --config key
    # each, listed under its names in `axk1 eval --help` (None: none of its own; a subclass declares only its new
    # ones). Its `path_keys`, `path_or_id_keys` and `target_keys` class attributes name the keys a --config file
    # resolves against its folder (a path; a file there or else a Hugging Face dataset id; a model folder unless
    # hf:... or openai:...), its `validate(self)` checks them before anything runs.
    Config: ClassVar[type | None] = None
    # What its load and grade read: TaskOptions, or a subclass adding its own settings with their defaults. Two
    # tasks may declare one setting only with one default.
    Options: ClassVar[type] = TaskOptions

    @classmethod
    def configure(cls, cfg: Any, options: TaskOptions, out: Path, backend: Any) -> None:
        """Move the run's settings (`cfg`, the EvalConfig of axk1/eval/settings.py) into this class's `options`
        (options.data[name], its own fields); called when one of its names runs. `out` is the run's folder,
        `backend` the model under evaluation. The default copies each of its Options' own settings from the
        setting of the same name."""
        for f in dataclasses.fields(cls.Options):
            if f.name not in SHARED_OPTIONS and hasattr(cfg, f.name):
                setattr(options, f.name, getattr(cfg, f.name))

    def extra_scores(self, problems: list[Problem], records: list[dict], n: int) -> dict:
        """Results this task adds beside score, metrics and statuses (written to results.json)."""
        return {}

    def report_lines(self, result: dict, out: Path) -> list[str]:
        """Lines for this task's section of report.md from its result (plots go into `out`)."""
        return []

    def label_window(self, options: dict) -> str | None:
        """The span of problems this run scored, as its report row names it (LiveCodeBench's contest dates from
        config.json's `options`); None for a task with no window."""
        return None

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
        if record["status"] == "no_answer":
            record["detail"] = no_answer_reason(completion)
    return record, answer


def no_answer_reason(completion: Completion) -> str:
    """Why a reply gave nothing to grade (a no_answer sample's detail): a sample that said nothing else left the
    reader to guess between an empty reply, unfinished thinking and an answer the grader could not read."""
    if not completion.text.strip():
        return "the reply was empty (the server sent no content, or null)"
    if split_reasoning(completion.text, completion.think_open).answer is None:
        return "the reply never ended its thinking (no </think>), so it gives no answer"
    return "no answer could be read from the reply"


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
        old_api = [a for a in ("option_defaults", "add_arguments") if a in vars(cls)]
        if old_api:  # the API before the settings were dataclasses: its flags would silently not exist
            raise TypeError(f"eval task {cls.__name__} declares {', '.join(old_api)}: declare its settings as a "
                            "Config dataclass and what load/grade read as Options instead (docs/evaluation.md, "
                            "'Adding a task')")
        known = _defaults(klass for c in task_classes() for klass in (c.Options, c.Config) if klass)
        for key, default in _defaults(klass for klass in (cls.Options, cls.Config) if klass).items():
            if key in known and known[key] != default:
                raise ValueError(f"{cls.__name__} declares option {key!r} = {default!r}; another task has it as "
                                 f"{known[key]!r}")
        TASKS[name] = (cls, kwargs)
        return cls
    return add


def _defaults(classes) -> dict[str, Any]:
    """{setting: its default} of dataclasses (a default_factory's value built)."""
    out = {}
    for klass in classes:
        for f in dataclasses.fields(klass):
            out[f.name] = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return out


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


def options_class() -> type[TaskOptions]:
    """One dataclass holding the `Options` of every registered task: the run's options, which each task reads as
    its own (config.json records them all, the defaults of the tasks that did not run included)."""
    return merged_dataclass("TaskOptions", TaskOptions, tuple(cls.Options for cls in task_classes()))


@lru_cache(maxsize=None)
def merged_dataclass(name: str, base: type, parts: tuple[type, ...]) -> type:
    """A dataclass with `base`'s fields and those of each of `parts`, flat (each its subclass or a plain
    dataclass), as FilterConfig merges its filters' tables (axk1/data/config.py); `base` itself when the parts
    add nothing. A part another part derives from is left out (it is in that one already)."""
    parts = tuple(p for p in dict.fromkeys(parts)
                  if p is not base and not any(o is not p and issubclass(o, p) for o in parts))
    if not parts:
        return base
    # base first, so that its methods (EvalConfig.validate) are the merged class's
    merged = dataclasses.make_dataclass(name, [], bases=parts if all(issubclass(p, base) for p in parts)
                                        else (base, *parts))
    merged.__module__ = base.__module__  # where pickle and error messages find it
    return merged
