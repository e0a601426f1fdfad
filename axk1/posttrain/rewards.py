"""Verifiable rewards for RL and the held-out measurement: R = R_correct (±1) + R_format (0 or −1).

Correctness reuses the evaluation graders: math through the AIME grader (the integer in the last \\boxed{}, with
math-verify as the fallback), code through the evaluation sandbox's checked run: the answer's code runs in one
confined process, the task's asserts in the sandbox's judge on plain copies of what its functions return, so the
program decides nothing (an exit, a forged message or an object equal to everything fails; see execution.py).

A third kind, "exact", is for a user's answers that are not integers ("Tokyo", "3/4", "1,000", "\\sqrt{2}"): the
answer is read from the text after the think block (the last \\boxed{} if there is one, else what an answer label
states, else the last non-empty line) and compared with the task's as text, as a number, or through math-verify
(exact_grader.py). No other kind, and no user code: a reward is one of these graders.

Format (A.X K1's R_format): in think mode the prompt opened `<think>`, so the output must close it exactly once and
never open another; in non-think mode the prompt carried the empty think block, so the output must contain no
think tag at all. An output cut off at the token limit is wrong (it never finished), whatever it contains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from axk1.eval.execution import run_checked
from axk1.eval.math_grader import grade_integer_answer
from axk1.eval.sandbox import Limits, run_parallel
from axk1.posttrain.exact_grader import exact_correct
from axk1.text.code_blocks import last_python_block
from axk1.text.reasoning import split_reasoning
from axk1.text.tokenizer_file import THINK_CLOSE, THINK_OPEN

CODE_LIMITS = Limits(wall_s=10.0, cpu_s=5, memory_mb=512)
KINDS = ("math", "code", "exact")  # what score() grades; a task file's rows are checked against it when read
_INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass
class Score:
    correct: bool
    format_ok: bool
    status: str        # correct | wrong | no_answer | truncated | format
    reward: float

    def to_dict(self) -> dict:
        return {"correct": self.correct, "format_ok": self.format_ok, "status": self.status, "reward": self.reward}


def format_ok(text: str, thinking: bool) -> bool:
    if thinking:
        return text.count(THINK_CLOSE) == 1 and THINK_OPEN not in text
    return THINK_OPEN not in text and THINK_CLOSE not in text


def answer_part(text: str, thinking: bool) -> str:
    """The answer as evaluation (and math's grader) reads it (axk1.text.reasoning.split_reasoning): after the
    last `</think>`, up to a `<think>` reopened there; a think-mode completion that never closes its block has
    none (code in an unfinished trace was graded, and rewarded, as the answer)."""
    return split_reasoning(text, thinking).answer or ""


def extract_code(answer: str) -> str | None:
    """The answer's program (the tasks ask for one fenced block): its last python-tagged block, else its last
    untagged one (axk1/text/code_blocks.py, as LiveCodeBench's tolerant extractor); None when there is none (a
    ```cpp block or a trailing output block is not taken for the program)."""
    return last_python_block(answer)


def integer_answer(answer: object) -> int | None:
    """A math task's answer as the grader compares it, or None: a JSON integer, or a string of ASCII digits with an
    optional sign, surrounding whitespace ignored ("42", " -7", "+3", "007" is 7). Fractions ("3/4"), decimals
    ("4.0"), digit groups ("1,000", "1_000"), other scripts' digits and words are None, and a task file holding
    one is refused when it is read (tasks.read_tasks), not when a rollout first samples it."""
    if isinstance(answer, bool):  # JSON true is not the integer 1
        return None
    if isinstance(answer, int):
        return answer
    if isinstance(answer, str) and _INTEGER.fullmatch(answer.strip()):
        try:
            return int(answer.strip())
        except ValueError:  # past Python's int-from-string digit limit
            return None
    return None


def math_correct(text: str, gold: str, finish_reason: str, thinking: bool) -> tuple[bool, str]:
    gold_int = integer_answer(gold)
    if gold_int is None:  # read_tasks refuses such a row; a task built in memory may still hold one
        raise ValueError(f"math answer {gold!r} is not an integer: give digits with an optional sign, or use kind "
                         "\"exact\" (a fraction, decimal, digit-grouped number, expression or text answer)")
    verdict = grade_integer_answer(text, gold_int, finish_reason, think_open_in_prompt=thinking)
    return verdict.correct, verdict.status


def code_correct(text: str, tests: str, finish_reason: str, thinking: bool) -> tuple[bool, str]:
    if finish_reason == "length":
        return False, "truncated"
    code = extract_code(answer_part(text, thinking))
    if code is None:
        return False, "no_answer"
    outcome = run_checked(code, tests, limits=CODE_LIMITS)
    return (True, "correct") if outcome.passed else (False, "wrong")


def score(task: dict, text: str, finish_reason: str, thinking: bool, format_penalty: float = -1.0) -> Score:
    """The reward of one completion of `task` (a VerifiedTask row: kind, answer, tests)."""
    if task["kind"] == "math":
        correct, status = math_correct(text, task["answer"], finish_reason, thinking)
    elif task["kind"] == "code":
        correct, status = code_correct(text, task["tests"], finish_reason, thinking)
    elif task["kind"] == "exact":
        correct, status = exact_correct(text, task["answer"], finish_reason, thinking)
    else:
        raise ValueError(f"task {task.get('id')} has kind {task['kind']!r}; rewards know {', '.join(KINDS)}")
    ok = format_ok(text, thinking)
    if not ok and status == "correct":
        status = "format"  # right answer, broken tags: counted correct, penalised by the format term
    return Score(correct, ok, status, (1.0 if correct else -1.0) + (0.0 if ok else format_penalty))


def reward_range(format_penalty: float, overlong: str, overlong_buffer: int) -> tuple[float, float]:
    """The lowest and highest reward a recipe gives: +1 right and well formatted; −1 wrong, plus format_penalty for
    broken tags, plus down to −1 more for length under overlong = "penalty" (rl_rollout.py adds it)."""
    length = -1.0 if overlong == "penalty" and overlong_buffer else 0.0
    return -1.0 + min(format_penalty, 0.0) + length, 1.0


def score_all(items: list[tuple[dict, str, str, bool]], format_penalty: float = -1.0,
              workers: int | None = None) -> list[Score]:
    """Scores (task, text, finish_reason, thinking) items; code runs in parallel sandboxes."""
    return run_parallel(lambda it: score(*it, format_penalty=format_penalty), items, workers)
