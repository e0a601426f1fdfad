"""Passkey retrieval: a 5-digit number hidden at several depths in filler of several lengths.

Length is in approximate tokens (4 characters each: the filler is plain English). Accuracy per (length, depth)."""

from __future__ import annotations

import random

from axk1.eval.backends import Completion
from axk1.eval.reasoning import split_reasoning
from axk1.eval.tasks.base import Problem, Task, TaskData, TaskOptions, apply_limit, digest

FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
LEAD = ("There is an important piece of information hidden inside a lot of irrelevant text. Find it and memorise "
        "it; I will ask you about it.\n\n")
QUESTION = "\n\nWhat is the pass key? Reply with the number only."
CHARS_PER_TOKEN = 4


def haystack(length_tokens: int, depth: float, key: int) -> str:
    n_chars = max(len(FILLER), length_tokens * CHARS_PER_TOKEN)
    filler = (FILLER * (n_chars // len(FILLER) + 1))[:n_chars]
    cut = filler.rfind(". ", 0, int(len(filler) * depth) + 1)
    cut = 0 if cut < 0 or depth == 0 else cut + 2
    needle = f"The pass key is {key}. Remember it. {key} is the pass key. "
    return filler[:cut] + needle + filler[cut:]


class PasskeyTask(Task):
    name = "passkey"
    group_by = ("length", "depth")

    def load(self, options: TaskOptions) -> TaskData:
        if any(d < 0 or d > 1 for d in options.passkey_depths):
            raise ValueError(f"passkey depths must be within 0..1, got {options.passkey_depths}")
        rng = random.Random(1234)
        problems = []
        for length in options.passkey_lengths:
            for depth in options.passkey_depths:
                for trial in range(options.passkey_trials):
                    key = rng.randint(10000, 99999)
                    content = LEAD + haystack(length, depth, key) + QUESTION
                    problems.append(Problem(f"len{length}-depth{depth:g}-{trial}", [{"role": "user", "content": content}],
                                            str(key), {"length": length, "depth": depth}))
        problems = apply_limit(problems, options.limit)
        info = {"source": "generated (seed 1234)", "n_problems": len(problems), "lengths": list(options.passkey_lengths),
                "depths": list(options.passkey_depths), "trials": options.passkey_trials,
                "dataset_hash": digest([(p.id, p.gold) for p in problems]), "prompt_hash": digest([LEAD, QUESTION])}
        return TaskData(problems, info)

    def grade(self, problem: Problem, completion: Completion, options: TaskOptions) -> dict:
        if completion.error:
            return {"status": "request_failed", "correct": False, "extracted": None, "error": completion.error}
        answer = split_reasoning(completion.text, completion.think_open).answer
        if answer is None:
            return {"status": "truncated" if completion.finish_reason == "length" else "no_answer", "correct": False,
                    "extracted": None}
        found = problem.gold in answer
        return {"status": "correct" if found else "wrong", "correct": found, "extracted": answer[:80]}
