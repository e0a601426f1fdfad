"""A synthetic-data recipe: TOML validated into dataclasses before anything runs. Paths inside are relative to
the recipe file; prompts are files, one per task and language, with {passage} and {audience} placeholders."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axk1.toml_file import read_toml

KINDS = ("qa", "reasoning", "rewrite")
LANGUAGES = ("ko", "en")


@dataclass
class TeacherSpec:
    model: str = ""  # empty: the first model the server lists
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1024
    concurrency: int = 8
    seed: int = 1234
    timeout_s: float = 300.0
    retries: int = 2


@dataclass
class PassageSpec:
    min_chars: int = 200
    max_chars: int = 2000
    max_per_document: int = 4


@dataclass
class TaskSpec:
    name: str
    kind: str
    prompts: dict[str, Path]  # language -> prompt file
    prompt_texts: dict[str, str]
    languages: list[str] = field(default_factory=lambda: ["auto"])  # "auto": the document's language
    domains: list[str] = field(default_factory=list)  # empty: every document; else metadata.domain in these
    math_heuristic: bool = False  # also take passages that look like math when their domain is not listed
    thinking: bool = False  # ask the teacher to think (chat_template_kwargs.enable_thinking)
    audience: dict[str, str] = field(default_factory=dict)  # language -> audience, for rewrites


@dataclass
class FilterSpec:
    min_chars: int = 20
    max_chars: int = 12000
    min_hangul_ratio: float = 0.4  # Korean samples: Hangul share of letters
    max_hangul_ratio_en: float = 0.05  # English samples
    grounding_min: float = 0.6  # share of the answer's key spans found in the passage
    copy_similarity: float = 0.9  # char 5-gram Jaccard with the passage at or above this = a copy
    near_dup_similarity: float = 0.8  # within the output
    decontam_ngram: int = 13
    benchmarks: list[str] = field(default_factory=list)  # JSONL files (relative to the recipe) or "humaneval"


@dataclass
class SynthRecipe:
    path: Path
    teacher: TeacherSpec
    passages: PassageSpec
    tasks: list[TaskSpec]
    filters: FilterSpec


def _build(cls, data: dict[str, Any], where: str):
    known = set(cls.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
    try:
        return cls(**data)
    except TypeError as e:
        raise ValueError(f"{where}: {e}") from None


def load_recipe(path: str | Path) -> SynthRecipe:
    path = Path(path)
    data = read_toml(path, "recipe", "recipes/synth/default.toml")
    unknown = set(data) - {"teacher", "passages", "tasks", "filters"}
    if unknown:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)} (known: teacher, passages, tasks, filters)")
    teacher = _build(TeacherSpec, data.get("teacher", {}), f"{path} [teacher]")
    passages = _build(PassageSpec, data.get("passages", {}), f"{path} [passages]")
    filters = _build(FilterSpec, data.get("filters", {}), f"{path} [filters]")
    if teacher.concurrency < 1 or teacher.max_tokens < 1:
        raise ValueError(f"{path} [teacher]: concurrency and max_tokens must be >= 1")
    if not data.get("tasks"):
        raise ValueError(f"{path}: no [[tasks]]: add at least one task (kind = qa, reasoning or rewrite)")
    tasks, names = [], set()
    for i, raw in enumerate(data["tasks"]):
        where = f"{path} [[tasks]] #{i + 1}"
        raw = dict(raw)
        prompts = raw.pop("prompts", None)
        if not isinstance(prompts, dict) or not prompts:
            raise ValueError(f"{where}: 'prompts' must map languages to prompt files, e.g. {{ en = \"prompts/qa.en.txt\" }}")
        task = _build(TaskSpec, {**raw, "prompts": {}, "prompt_texts": {}}, where)
        if task.kind not in KINDS:
            raise ValueError(f"{where}: kind {task.kind!r} is not one of {KINDS}")
        if task.name in names:
            raise ValueError(f"{where}: task name {task.name!r} is used twice")
        names.add(task.name)
        for lang, file in prompts.items():
            if lang not in LANGUAGES:
                raise ValueError(f"{where}: prompt language {lang!r} is not one of {LANGUAGES}")
            file = (path.parent / file).resolve()
            if not file.exists():
                raise FileNotFoundError(f"{where}: prompt file {file} does not exist")
            task.prompts[lang] = file
            task.prompt_texts[lang] = file.read_text(encoding="utf-8")
            if "{passage}" not in task.prompt_texts[lang]:
                raise ValueError(f"{where}: prompt file {file} has no {{passage}} placeholder")
        for lang in task.languages:
            if lang != "auto" and lang not in task.prompts:
                raise ValueError(f"{where}: language {lang!r} is listed but has no prompt file")
        tasks.append(task)
    return SynthRecipe(path.resolve(), teacher, passages, tasks, filters)
