"""A task file's rows, checked when the file is read: RL and the held-out measurement grade every row, so a row the
graders cannot use (an unknown kind, a math answer that is no integer, asserts that do not compile, a chat control
token in the prompt) is refused before any model loads, with its file and line, instead of ending a run at the
iteration that first samples it.

The schema (docs/posttraining.md, "Task files"): `prompt` is required; `answer` for math and exact tasks, `tests`
for code tasks; every other field has a default (DEFAULTS), since RL reads only prompt, kind, answer and tests.
`axk1 posttrain tasks` writes every field. A file's lines come through `task_lines` (compressed or not; a stream cut
short, a tar or UTF-16 text refused whole).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from axk1.atomic_file import write_text_atomic
from axk1.compressed_file import STREAM_ERRORS, damaged
from axk1.eval.judge_limits import judge_limits
from axk1.json_text import find_surrogate, without_bom
from axk1.posttrain.chat_formats import HEAD, decompressor, refuse_not_text, text_head
from axk1.posttrain.exact_grader import normalise_text
from axk1.posttrain.rewards import KINDS, integer_answer
from axk1.text.tokenizer_file import THINK_CLOSE, THINK_OPEN

FIELDS = ("family", "kind", "lang", "level", "prompt", "answer", "tests", "entry_point", "reasoning", "response")
# What a missing (or null) field means; prompt has no default (refused). Nor has kind here: it is "code" when the
# row has tests, else "math" (fill_defaults).
DEFAULTS = {"family": "custom", "lang": "en", "level": 1, "answer": "", "tests": "", "entry_point": "",
            "reasoning": "", "response": ""}
STRINGS = ("family", "kind", "lang", "prompt", "tests", "entry_point", "reasoning", "response")
KIND_HELP = ('use "math" (an integer answer), "code" (Python asserts in "tests") or "exact" (any other answer: '
             'text compared after normalisation, numbers by value, math through math-verify)')


class WrittenNumber(float):
    """A JSON number with a fraction or an exponent, read (json's parse_float) as a float that keeps the text it was
    written in: an exact answer is graded as that text, and a float drops digits (0.12345678901234567891 is
    0.12345678901234568 as one) that the grader, comparing decimals as exact fractions, would then miss."""
    __slots__ = ("text",)

    def __new__(cls, text: str) -> "WrittenNumber":
        number = super().__new__(cls, text)
        number.text = text
        return number


def _number_text(answer: object) -> str | None:
    """A JSON number answer as the string the rows keep (None when it is none, or not finite): its text as written
    when read by read_tasks, else the integer's digits or the shortest text that reads back as the same float."""
    if isinstance(answer, bool):  # JSON true is no number
        return None
    if isinstance(answer, WrittenNumber):
        return answer.text
    if isinstance(answer, int):
        return str(answer)
    if isinstance(answer, float) and math.isfinite(answer):  # NaN and Infinity (JSON extensions) stay refused
        return repr(answer)
    return None


def fill_defaults(row: Mapping) -> dict:
    """The row's ten fields (not its id), missing ones (or null) filled from DEFAULTS, kind inferred, a number
    answer as its string; nothing is checked here (row_problems does)."""
    values = {name: row[name] if row.get(name) is not None else DEFAULTS.get(name) for name in FIELDS}
    if values["kind"] in (None, ""):
        values["kind"] = "code" if isinstance(values["tests"], str) and values["tests"].strip() else "math"
    if (text := _number_text(values["answer"])) is not None:
        values["answer"] = text  # JSON 42 or 0.75: the rows keep answers as strings, as the tasks verb writes
    if isinstance(values["level"], str) and values["level"].strip().isdecimal():
        values["level"] = int(values["level"])
    return values


def row_problems(values: Mapping, codec=None, keys: Sequence[str] | None = None) -> list[str]:
    """What makes a filled row (fill_defaults) unusable, each with what to do; [] for a good row. `codec` (the model
    folder's ChatCodec), when given, also refuses a prompt holding one of its chat control tokens. `keys`: the row's
    own keys, named when it has no prompt (a GSM8K row has 'question' and 'answer')."""
    problems = []
    wrong_type = [name for name in STRINGS if values[name] is not None and not isinstance(values[name], str)]
    if isinstance(values["prompt"], list):  # TRL's conversational prompt, a list of messages
        wrong_type.remove("prompt")
        problems.append('prompt is a list of messages (a chat prompt, as TRL\'s conversational rows give it), which '
                        'a task file does not take: give the user message as the string "prompt" (a task is one user '
                        'turn; a system message or earlier turns are not supported)')
    if wrong_type or problems:  # nothing below can read them
        return problems + ([f"{', '.join(wrong_type)} must be JSON strings"] if wrong_type else [])
    if not isinstance(values["level"], int) or isinstance(values["level"], bool):
        problems.append(f"level {values['level']!r} is not a whole number: give 1, 2, ... or leave it out")
    prompt, kind, answer, tests = values["prompt"], values["kind"], values["answer"], values["tests"]
    if prompt is None or not prompt.strip():
        has = "" if keys is None or "prompt" in keys else \
            f" (the row has {', '.join(repr(k) for k in keys[:8]) or 'no keys'})"
        problems.append(f'no prompt{has}: give "prompt", the user message, as a non-empty string')
    elif find_surrogate(prompt) is not None:
        problems.append("prompt holds a lone surrogate (such as \\ud800), which no tokenizer encodes: fix the text")
    elif codec is not None and (token := codec.find_special_token(prompt)) is not None:
        # the same check SFT's data and `axk1 serve` make (ChatCodec.find_special_token): such a prompt would
        # render as a forged turn (`<|im_end|>\n<|im_start|>assistant`), so RL would train on what serving refuses
        problems.append(f"prompt holds {token!r}, a chat control token only the chat template may place: remove it "
                        "(SFT excludes such rows and axk1 serve refuses such requests)")
    problems += _think_tag_problems(values["reasoning"], values["response"])
    if kind in ("math", "exact") and tests.strip():  # graded by the answer alone: the asserts would never run
        problems.append(f'"kind": "{kind}" with "tests": a {kind} task is graded by its answer and its tests would be '
                        'ignored: give "kind": "code" to grade by the tests, or drop "tests"')
    if kind not in KINDS:
        problems.append(f"kind {kind!r} is unknown: {KIND_HELP}")
    elif kind == "math" and integer_answer(values["answer"]) is None:
        problems.append(f"answer {answer!r} is not an integer: a math answer is a JSON integer or a string of digits "
                        'with an optional sign ("42", "-7"); fractions, decimals, digit groups ("1,000") and words '
                        'are not: give "kind": "exact", which takes them (compared as text, as numbers, "1,000" '
                        'as 1000 and "3/4" as 0.75, and as math through math-verify)')
    elif kind == "exact":
        problems += _exact_problems(answer)
    elif kind == "code":
        problems += _tests_problems(tests)
    return problems


def _think_tag_problems(reasoning: str, response: str) -> list[str]:
    """`axk1 posttrain chat` makes the reasoning a turn's reasoning_content and the response its content; the
    template writes the think block around them, so a tag of their own would train as a second one, and SFT excludes
    the row ("think tag in answer", chat_data.check_turn): refused here, where the row can be named, instead of
    written and dropped later."""
    return [f"{name} holds {tag}: SFT excludes the chat row written from it (\"think tag in answer\"), as the template "
            f"writes the think block around the reasoning itself: remove the tag"
            for name, text in (("reasoning", reasoning), ("response", response))
            if (tag := next((t for t in (THINK_OPEN, THINK_CLOSE) if t in text), None))]


def _exact_problems(answer: object) -> list[str]:
    """An exact answer is text or a finite JSON number (fill_defaults has made a number its text)."""
    if isinstance(answer, bool):
        return [f"answer {json.dumps(answer)} is a JSON boolean, not an answer the model can write: give it as a "
                'string ("yes", "true") or use a number']
    if isinstance(answer, float):
        return [f"answer {json.dumps(answer)} is not a finite number: give the answer the model must write as a "
                "string, or a finite JSON number"]
    if not (isinstance(answer, str) and normalise_text(answer)):
        return ['an exact task needs a non-empty "answer": a string or a JSON number']
    return []


def _tests_problems(tests: str) -> list[str]:
    """A code task's asserts must at least compile, and check only what the sandbox can (judge_limits): other asserts
    score every answer −1, and RL learns nothing from the task. compile() and ast only parse; nothing of the file
    runs outside the sandbox."""
    if not tests.strip():
        return ['a code task needs "tests": Python assert statements that call the function the prompt asks for']
    if "\0" in tests:  # compile's error names no line for it (lineno None), so it is found here
        line = tests.count("\n", 0, tests.index("\0")) + 1
        return [f"tests line {line} holds a NUL character (\\u0000 in the JSON), which no Python source may hold: "
                "remove it"]
    try:
        compile(tests, "<tests>", "exec", dont_inherit=True)
    except SyntaxError as e:
        where = f", tests line {e.lineno}" if e.lineno else ""
        return [f"tests do not compile ({type(e).__name__}: {e.msg}{where}): every answer would score -1; fix the "
                "asserts"]
    except (ValueError, RecursionError, MemoryError) as e:  # nesting too deep for the parser
        return [f"tests do not compile ({type(e).__name__}: {e}): fix the asserts"]
    return judge_limits(tests)  # what the sandbox's judge cannot check (plain data only): every answer would fail


# How many bad rows an error lists per task file; past that every bad row of the file goes to BAD_ROWS_SUFFIX.
SHOWN_BAD_ROWS = 20
# Beside the task file, under one name that the next read overwrites: a new temporary file each time (delete=False)
# left one behind per try, somewhere the user does not look.
BAD_ROWS_SUFFIX = ".bad-rows.txt"


def bad_rows_error(files: list[tuple[str, int, list[str]]]) -> str:
    """One error for the bad rows of every file (path, rows, bad-row lines) as path:line, task id and what to do:
    SHOWN_BAD_ROWS a file, and past that all of that file's in PATH.bad-rows.txt beside it, named (five shown: a
    user fixed five, met the next five)."""
    parts = []
    for path, n_rows, bad in (f for f in files if f[2]):
        more = ""
        if len(bad) > SHOWN_BAD_ROWS:
            more = f"\n  ... and {len(bad) - SHOWN_BAD_ROWS} more: {_write_bad_rows(path, bad)}"
        parts.append(f"{len(bad)} of {n_rows} rows of the task file {path} cannot be used:\n"
                     + "\n".join(bad[:SHOWN_BAD_ROWS]) + more)
    return ("\n".join(parts) + "\nfix or remove them; the task row schema is in docs/posttraining.md "
            "(\"Task files\")")


def drop_stale_bad_rows(path: str, n_bad: int) -> None:
    """A list of bad rows an earlier read wrote beside the task file, removed once the file has too few bad rows to
    need one (the error shows them all, or there is none): it listed rows the user has since fixed."""
    if n_bad <= SHOWN_BAD_ROWS:
        with contextlib.suppress(OSError):  # none there (the usual case), or a read-only folder: nothing to do
            os.remove(path + BAD_ROWS_SUFFIX)


def _write_bad_rows(path: str, bad: list[str]) -> str:
    """Every bad row of the task file written to PATH.bad-rows.txt (replaced whole), and where, for the error."""
    listed = path + BAD_ROWS_SUFFIX
    try:
        write_text_atomic(listed, "".join(line.strip() + "\n" for line in bad))
    except OSError as e:  # a read-only folder: the counts above still say how many
        return (f"every bad row could not be listed in {listed} ({e.strerror or e}); fix the rows shown and read "
                "the file again")
    return f"every bad row of this file is listed in {listed}"


def task_lines(path: Path) -> Iterator[bytes]:
    """The file's lines, decompressed as chat data files are (chat_formats.decompressor: gzip, zstd, bzip2, xz, told
    by the first bytes) and without a byte-order mark at their start (json_text.without_bom); a stream cut short,
    or content that is not UTF-8 text (a tar, UTF-16: chat_formats.refuse_not_text), is a ValueError naming the
    file, not a traceback nor a line-by-line error."""
    with path.open("rb") as f:
        head = f.read(HEAD)
    opener, kind = decompressor(head)
    try:
        refuse_not_text(path, text_head(opener, path) if kind else head, "the task file",
                        "a JSONL of tasks (optionally .gz/.zst/.bz2/.xz)")
        with opener(path) as stream:
            yield from map(without_bom, stream)
    except STREAM_ERRORS as e:
        if not kind:  # a plain file's read error is the disk's, not the data's
            raise
        raise damaged(path, kind.strip(), e, "compress it again from the JSONL", what="the task file") from None
