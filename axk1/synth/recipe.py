"""A synthetic-data recipe, read by the one configuration loader (axk1/toml_file.py, docs/configuration.md) and
validated before anything runs. Paths inside are relative to the recipe file's folder; prompts are files, one per task
and language, with {passage} and {audience} placeholders."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from axk1.sampling_ranges import RULES, sampling_problems
from axk1.text.contamination import BUILTIN
from axk1.toml_file import build_dataclass, load_toml, resolve_declared

KINDS = ("qa", "reasoning", "rewrite")
LANGUAGES = ("ko", "en")


@dataclass
class TeacherConfig:
    model: str = ""  # empty: the first model the server lists
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1024
    concurrency: int = 8
    seed: int = 1234
    timeout_s: float = 300.0
    retries: int = 2
    # send chat_template_kwargs.enable_thinking on every request (false for non-thinking tasks); off: only thinking
    # tasks send it, so hosted APIs that refuse unknown fields work
    thinking_control: bool = False
    max_reply_chars: int = 65_536  # a longer reply is rejected and stored cut to this (a runaway teacher costs no GBs)


@dataclass
class PassageConfig:
    min_chars: int = 200
    max_chars: int = 2000
    max_per_document: int = 4


@dataclass
class TaskConfig:
    name: str
    kind: str
    prompts: dict[str, Path] = field(default_factory=dict)  # language -> prompt file (relative to the recipe)
    languages: list[str] = field(default_factory=lambda: ["auto"])  # "auto": the document's language
    domains: list[str] = field(default_factory=list)  # empty: every document; else metadata.domain in these
    math_heuristic: bool = False  # also take passages that look like math when their domain is not listed
    thinking: bool = False  # ask the teacher to think (chat_template_kwargs.enable_thinking)
    audience: dict[str, str] = field(default_factory=dict)  # language -> audience, for rewrites
    prompt_texts: dict[str, str] = field(default_factory=dict, init=False)  # read from the prompt files at load


@dataclass
class SampleFilterConfig:
    min_chars: int = 20
    max_chars: int = 12000
    min_hangul_ratio: float = 0.4  # Korean samples: Hangul share of letters
    max_hangul_ratio_en: float = 0.05  # English samples
    grounding_min: float = 0.6  # share of the answer's key spans found in the passage
    # share of the sample's char 7-grams (text/ngrams.py) found in the passage at or above this = a copy (an excerpt
    # is 1.0, a rewrite written anew 0.01-0.15: docs/data.md, "Synthetic data")
    copy_containment: float = 0.8
    near_dup_similarity: float = 0.7  # within the output (what it catches, by length: docs/data.md "Synthetic data")
    decontam_ngram: int = 13
    benchmarks: list[str] = field(default_factory=list)  # JSONL files (relative to the recipe) or "humaneval"


@dataclass
class SynthRecipe:
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    passages: PassageConfig = field(default_factory=PassageConfig)
    tasks: list[TaskConfig] = field(default_factory=list)
    filters: SampleFilterConfig = field(default_factory=SampleFilterConfig)
    path: Path | None = field(default=None, init=False)  # the TOML file it was read from (resolved)
    # keys holding paths: relative to the recipe's folder in the file, to the current folder on the command line
    # (axk1/toml_file.py); "humaneval" in the benchmark list is the bundled set, no file
    path_keys: ClassVar[tuple[str, ...]] = ("filters.benchmarks", "tasks.*.prompts")
    builtin_names: ClassVar[dict[str, tuple[str, ...]]] = {"filters.benchmarks": (BUILTIN,)}


def load_synth_recipe(path: str | Path, overrides: list[str] | None = None) -> SynthRecipe:
    """The recipe file with `--section.key value` overrides applied, its prompt files read, every check made."""
    path = Path(path)
    raw = load_toml(path, "recipe", "recipes/synth/default.toml", overrides, SynthRecipe.path_keys,
                    SynthRecipe.builtin_names)
    recipe = build_dataclass(SynthRecipe, raw, str(path))
    recipe.path = path.resolve()
    resolve_declared(recipe, recipe.path.parent)  # the one path rule: relative to the recipe's folder
    validate(recipe, str(path))
    return recipe


def _check_ranges(recipe: SynthRecipe, where: str) -> None:
    """Every number in range, each error naming its field: a zero max_chars would loop forever, a negative
    max_per_document would silently drop passages, a zero timeout would fail every request."""
    t, p, f = recipe.teacher, recipe.passages, recipe.filters
    sampling = sampling_problems(t.temperature, t.top_p)  # the ranges every generator shares
    checks = [
        ("teacher", "concurrency", t.concurrency >= 1, ">= 1"),
        ("teacher", "max_tokens", t.max_tokens >= 1, ">= 1"),
        ("teacher", "temperature", "temperature" not in sampling, RULES["temperature"]),
        ("teacher", "top_p", "top_p" not in sampling, RULES["top_p"]),
        ("teacher", "timeout_s", t.timeout_s > 0, "> 0"),
        ("teacher", "retries", t.retries >= 0, ">= 0"),
        ("teacher", "max_reply_chars", t.max_reply_chars >= 1, ">= 1"),
        ("passages", "min_chars", p.min_chars >= 1, ">= 1"),
        ("passages", "max_chars", p.max_chars >= max(1, p.min_chars), f">= 1 and >= min_chars ({p.min_chars})"),
        ("passages", "max_per_document", p.max_per_document >= 1, ">= 1"),
        ("filters", "min_chars", f.min_chars >= 0, ">= 0"),
        ("filters", "max_chars", f.max_chars >= max(1, f.min_chars), f">= 1 and >= min_chars ({f.min_chars})"),
        ("filters", "min_hangul_ratio", 0 <= f.min_hangul_ratio <= 1, "in [0, 1]"),
        ("filters", "max_hangul_ratio_en", 0 <= f.max_hangul_ratio_en <= 1, "in [0, 1]"),
        ("filters", "grounding_min", 0 <= f.grounding_min <= 1, "in [0, 1]"),
        ("filters", "copy_containment", 0 < f.copy_containment <= 1, "in (0, 1]"),
        ("filters", "near_dup_similarity", 0 < f.near_dup_similarity <= 1, "in (0, 1]"),
        ("filters", "decontam_ngram", f.decontam_ngram >= 1, ">= 1"),
    ]
    for section, key, ok, rule in checks:
        if not ok:
            value = getattr(getattr(recipe, section), key)
            raise ValueError(f"{where} [{section}] {key} = {value!r}: must be {rule} "
                             f"(fix the recipe or the --{section}.{key} override)")


def validate(recipe: SynthRecipe, where: str) -> None:
    """Ranges and names, and the prompt files: each must exist and hold a {passage} placeholder (read here)."""
    _check_ranges(recipe, where)
    if not recipe.tasks:
        raise ValueError(f"{where}: no [[tasks]]: add at least one task (kind = qa, reasoning or rewrite)")
    names = set()
    for i, task in enumerate(recipe.tasks):
        at = f"{where} [[tasks]] #{i + 1}"
        if not task.prompts:
            raise ValueError(f"{at}: 'prompts' must map languages to prompt files, "
                             "e.g. { en = \"prompts/qa.en.txt\" }")
        if task.kind not in KINDS:
            raise ValueError(f"{at}: kind {task.kind!r} is not one of {KINDS}")
        if task.name in names:
            raise ValueError(f"{at}: task name {task.name!r} is used twice")
        names.add(task.name)
        for lang, file in task.prompts.items():
            if lang not in LANGUAGES:
                raise ValueError(f"{at}: prompt language {lang!r} is not one of {LANGUAGES}")
            file = Path(file)  # resolved by the loader
            if not file.exists():
                raise FileNotFoundError(f"{at}: prompt file {file} does not exist")
            task.prompts[lang] = file
            task.prompt_texts[lang] = file.read_text(encoding="utf-8")
            if "{passage}" not in task.prompt_texts[lang]:
                raise ValueError(f"{at}: prompt file {file} has no {{passage}} placeholder")
        for lang in task.languages:
            if lang != "auto" and lang not in task.prompts:
                raise ValueError(f"{at}: language {lang!r} is listed but has no prompt file")
