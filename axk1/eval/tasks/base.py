"""What every task provides: problems (prompts + gold), a grader, and the fields its scores split by."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from axk1.eval.backends import Completion
from axk1.eval.reasoning import split_reasoning


@dataclass
class Problem:
    id: str
    messages: list[dict]
    gold: Any
    meta: dict = field(default_factory=dict)  # difficulty, platform, tests, ... (tests are not written to samples)


@dataclass
class TaskData:
    problems: list[Problem]
    info: dict  # source, dataset hash, prompt hash, counts, excluded items with reasons, ...


@dataclass
class TaskOptions:
    data: dict[str, str] = field(default_factory=dict)  # task name -> local file/folder or HF dataset id
    limit: int | None = None  # first N problems only (smoke runs)
    grader_mode: str = "strict"  # code tasks: "strict" (upstream rules) or "tolerant"
    test_timeout_s: float = 6.0
    workers: int | None = None  # parallel program executions (default: CPU count)
    lcb_start: str = "2025-02-01"
    lcb_end: str = "2025-05-01"
    lcb_release: str = "release_v6"
    lcb_prompt: str = "r1"  # "r1" (user-only, the default) or "generic" (system + ### sections)
    lcb_cache: str | None = None  # where decoded LCB tests are re-stored as plain JSON
    translation_cache: str | None = None  # lcb-ko: JSON cache of translations
    translator: Any = None  # lcb-ko: a Backend that translates (default: the model under evaluation)
    passkey_lengths: tuple[int, ...] = (256, 512)
    passkey_depths: tuple[float, ...] = (0.0, 0.5, 1.0)
    passkey_trials: int = 2


class Task:
    name = "task"
    group_by: tuple[str, ...] = ()  # meta fields that scores are split by
    published: str | None = None  # key into the published-numbers table

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
        record.update(status="request_failed", error=completion.error)
        return record, None
    answer = split_reasoning(completion.text, completion.think_open).answer
    if answer is None:
        record["status"] = "truncated" if completion.finish_reason == "length" else "no_answer"
    return record, answer


def digest(obj) -> str:
    """Short content hash for provenance (dataset, prompts, translations)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:16]


def apply_limit(problems: list[Problem], limit: int | None) -> list[Problem]:
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")
    return problems if limit is None else problems[:limit]
