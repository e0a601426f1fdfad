"""Benchmark rows and their disguised copies, shared by the decontamination tests (tests/test_data_decontaminate*.py):
HumanEval's rows, a function reformatted as another repository would hold it, Korean respaced, a forum post around
a problem, the standard library (code no benchmark was copied from)."""

import gzip
import json
import re
import sysconfig
from pathlib import Path

from axk1.text.contamination import humaneval_file

STDLIB = Path(sysconfig.get_paths()["stdlib"])


FORUM = "Posted by a visitor in the problem-of-the-day thread. {} Any hints? I tried casework and got stuck."


def humaneval_rows() -> list[dict]:
    """HumanEval's rows, from the file the package ships."""
    with gzip.open(humaneval_file(), "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def reformatted(code: str) -> str:
    """The same function as a copy in someone's repository: two-space indents, the other docstring quotes."""
    code = code.replace('"""', "'''")
    return re.sub(r"^( +)", lambda m: " " * (len(m.group(1)) // 2), code, flags=re.M)


def respaced(text: str) -> str:
    """Korean as another writer spaces it: a space after every third Hangul syllable besides the original ones."""
    out, count = [], 0
    for ch in text:
        out.append(ch)
        if "가" <= ch <= "힣":
            count += 1
            if count % 3 == 0:
                out.append(" ")
    return "".join(out)
