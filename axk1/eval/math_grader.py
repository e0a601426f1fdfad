"""AIME grading: the integer in the last \\boxed{}, with math-verify (in a worker process) as the fallback.

Statuses: correct, wrong, no_answer (nothing extractable, or thinking never ended), truncated (the generation
hit its token limit; graded as wrong whatever it contains, since the model did not finish).
"""

from __future__ import annotations

import atexit
import json
import re
import select
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from axk1.eval.reasoning import split_reasoning

WORKER = Path(__file__).with_name("math_verify_worker.py")
STATUSES = ("correct", "wrong", "no_answer", "truncated")


@dataclass
class MathVerdict:
    status: str
    correct: bool
    extracted: str | None  # the answer as found (normalised integer for \boxed, math-verify's value otherwise)
    method: str | None  # "boxed", "math_verify" or None
    boxed_raw: str | None = None  # the last \boxed{...} content before normalisation

    def to_dict(self) -> dict:
        return dict(status=self.status, correct=self.correct, extracted=self.extracted, method=self.method,
                    boxed_raw=self.boxed_raw)


def last_boxed(text: str) -> str | None:
    """Content of the last balanced \\boxed{...} (or \\fbox{...}); None when there is none."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    for start in reversed(starts):
        depth, i = 1, start
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            return text[start:i - 1]
    return None


def normalise_integer(content: str) -> int | None:
    """`070`, `$70$`, `\\text{70}`, `70^\\circ`, `1,000` -> the integer; anything else (fractions, words) -> None."""
    s = content.strip().strip("$")
    s = re.sub(r"\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\^\s*\{?\\circ\}?|\\%|%|\\[,!;: ]|\s", "", s)
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)
    s = s.rstrip(".")
    if not re.fullmatch(r"\d+", s):
        return None
    return int(s)


class MathVerifyWorker:
    """One long-lived math-verify process, shared by threads; restarted after a hang or a crash."""

    def __init__(self, timeout_s: float = 20.0):
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        atexit.register(self.close)

    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True, bufsize=1)
        return self._proc

    def grade(self, pred: str, gold: str) -> dict:
        with self._lock:
            proc = self._start()
            proc.stdin.write(json.dumps({"pred": pred, "gold": gold}) + "\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], self.timeout_s)
            line = proc.stdout.readline() if ready else ""
            if not line:
                self.close()
                return {"parsed": None, "value": None, "correct": False, "error": "math-verify timed out or died"}
            return json.loads(line)

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


_worker: MathVerifyWorker | None = None


def math_verify_worker() -> MathVerifyWorker:
    global _worker
    if _worker is None:
        _worker = MathVerifyWorker()
    return _worker


def grade_integer_answer(output: str, gold: str | int, finish_reason: str = "stop", think_open_in_prompt: bool = False,
                         use_math_verify: bool = True) -> MathVerdict:
    """Grade one raw model output against an integer answer (AIME: 0-999)."""
    gold_int = int(str(gold).strip())
    split = split_reasoning(output, think_open_in_prompt)
    truncated = finish_reason == "length"
    if split.answer is None:
        return MathVerdict("truncated" if truncated else "no_answer", False, None, None)
    boxed = last_boxed(split.answer)
    value = normalise_integer(boxed) if boxed is not None else None
    if value is not None and 0 <= value <= 999:
        extracted, method, correct = str(value), "boxed", value == gold_int
    elif use_math_verify and split.answer.strip():
        reply = math_verify_worker().grade(split.answer, str(gold_int))
        extracted, method, correct = reply["value"], "math_verify" if reply["value"] is not None else None, reply["correct"]
    else:
        extracted, method, correct = None, None, False
    if truncated:
        return MathVerdict("truncated", False, extracted, method, boxed)
    if extracted is None and boxed is None:
        return MathVerdict("no_answer", False, None, None)
    return MathVerdict("correct" if correct else "wrong", correct, extracted if extracted is not None else boxed,
                       method, boxed)
