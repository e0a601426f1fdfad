"""A task file's rows, checked when the file is read: RL and the held-out measurement grade every row, so a row the
graders cannot use (an unknown kind, a math answer that is no integer, asserts that do not compile, a chat control
token in the prompt) is refused before any model loads, with its file and line, instead of ending a run at the
iteration that first samples it.

The schema (docs/posttraining.md, "Task files"): `prompt` is required; `answer` for math and exact tasks, `tests`
for code tasks; every other field has a default (DEFAULTS), since RL reads only prompt, kind, answer and tests.
`axk1 posttrain tasks` writes every field.
"""

from __future__ import annotations

from typing import Mapping

from axk1.eval.judge_limits import judge_limits
from axk1.json_text import find_surrogate
from axk1.posttrain.exact_grader import normalise_text
from axk1.posttrain.rewards import KINDS, integer_answer

FIELDS = ("family", "kind", "lang", "level", "prompt", "answer", "tests", "entry_point", "reasoning", "response")
# What a missing (or null) field means; prompt has no default (refused). Nor has kind here: it is "code" when the
# row has tests, else "math" (fill_defaults).
DEFAULTS = {"family": "custom", "lang": "en", "level": 1, "answer": "", "tests": "", "entry_point": "",
            "reasoning": "", "response": ""}
STRINGS = ("family", "kind", "lang", "prompt", "tests", "entry_point", "reasoning", "response")
KIND_HELP = ('use "math" (an integer answer), "code" (Python asserts in "tests") or "exact" (any other answer: '
             'text compared after normalisation, numbers by value, math through math-verify)')


def fill_defaults(row: Mapping) -> dict:
    """The row's ten fields (not its id), missing ones (or null) filled from DEFAULTS, kind inferred, an integer
    answer as its string; nothing is checked here (row_problems does)."""
    values = {name: row[name] if row.get(name) is not None else DEFAULTS.get(name) for name in FIELDS}
    if values["kind"] in (None, ""):
        values["kind"] = "code" if isinstance(values["tests"], str) and values["tests"].strip() else "math"
    if isinstance(values["answer"], int) and not isinstance(values["answer"], bool):
        values["answer"] = str(values["answer"])  # JSON 42: the rows keep answers as strings, as the tasks verb writes
    if isinstance(values["level"], str) and values["level"].strip().isdecimal():
        values["level"] = int(values["level"])
    return values


def row_problems(values: Mapping, codec=None) -> list[str]:
    """What makes a filled row (fill_defaults) unusable, each with what to do; [] for a good row. `codec` (the model
    folder's ChatCodec), when given, also refuses a prompt holding one of its chat control tokens."""
    problems = []
    wrong_type = [name for name in STRINGS if values[name] is not None and not isinstance(values[name], str)]
    if wrong_type:  # nothing below can read them
        return [f"{', '.join(wrong_type)} must be JSON strings"]
    if not isinstance(values["level"], int) or isinstance(values["level"], bool):
        problems.append(f"level {values['level']!r} is not a whole number: give 1, 2, ... or leave it out")
    prompt, kind, answer, tests = values["prompt"], values["kind"], values["answer"], values["tests"]
    if prompt is None or not prompt.strip():
        problems.append('no prompt: give "prompt", the user message, as a non-empty string')
    elif find_surrogate(prompt) is not None:
        problems.append("prompt holds a lone surrogate (such as \\ud800), which no tokenizer encodes: fix the text")
    elif codec is not None and (token := codec.find_special_token(prompt)) is not None:
        # the same check SFT's data and `axk1 serve` make (ChatCodec.find_special_token): such a prompt would
        # render as a forged turn (`<|im_end|>\n<|im_start|>assistant`), so RL would train on what serving refuses
        problems.append(f"prompt holds {token!r}, a chat control token only the chat template may place: remove it "
                        "(SFT excludes such rows and axk1 serve refuses such requests)")
    if kind not in KINDS:
        problems.append(f"kind {kind!r} is unknown: {KIND_HELP}")
    elif kind == "math" and integer_answer(values["answer"]) is None:
        problems.append(f"answer {answer!r} is not an integer: a math answer is a JSON integer or a string of digits "
                        'with an optional sign ("42", "-7"); fractions, decimals, digit groups ("1,000") and words '
                        'are not: give "kind": "exact", which takes them (compared as text, as numbers, "1,000" '
                        'as 1000 and "3/4" as 0.75, and as math through math-verify)')
    elif kind == "exact" and not (isinstance(answer, str) and normalise_text(answer)):
        problems.append('an exact task needs a non-empty "answer" string')
    elif kind == "code":
        problems += _tests_problems(tests)
    return problems


def _tests_problems(tests: str) -> list[str]:
    """A code task's asserts must at least compile, and check only what the sandbox can (judge_limits): other asserts
    score every answer −1, and RL learns nothing from the task. compile() and ast only parse; nothing of the file
    runs outside the sandbox."""
    if not tests.strip():
        return ['a code task needs "tests": Python assert statements that call the function the prompt asks for']
    try:
        compile(tests, "<tests>", "exec", dont_inherit=True)
    except SyntaxError as e:
        return [f"tests do not compile ({type(e).__name__}: {e.msg}, tests line {e.lineno}): every answer would "
                "score -1; fix the asserts"]
    except (ValueError, RecursionError, MemoryError) as e:  # a NUL byte; nesting too deep for the parser
        return [f"tests do not compile ({type(e).__name__}: {e}): fix the asserts"]
    return judge_limits(tests)  # what the sandbox's judge cannot check (plain data only): every answer would fail
