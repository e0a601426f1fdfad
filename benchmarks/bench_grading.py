"""Grading throughput through the task graders (the API every sandbox change must keep): HumanEval's 164 canonical
solutions, and LiveCodeBench-style programs (stdin and call-based) in strict and tolerant mode.

    .venv/bin/python benchmarks/bench_grading.py [--workers 2] [--repeat 3] [--lcb-programs 40]

Prints one JSON object: per part the median wall time over the repeats and programs per second. Every verdict is
checked (all canonical solutions pass, the LiveCodeBench mix gives its known verdicts), so a faster but wrong
grader cannot look good here. Run it on an otherwise quiet machine and record `uptime`'s load with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from axk1.eval.backends import Completion
from axk1.eval.execution import run_tests_many
from axk1.eval.tasks import TaskOptions, get_task

STDIN_OK = "import sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)\n"
STDIN_WRONG = "print(0)\n"
CALL_OK = "class Solution:\n    def add(self, a, b):\n        return [a + b, a * b]\n"


def lcb_jobs(programs: int, n_tests: int) -> tuple[list, list]:
    """Alternating stdin / call-based programs, every tenth one wrong (it stops at its first test)."""
    stdin = {"inputs": [f"{i} {2 * i}\n" for i in range(n_tests)], "outputs": [f"{3 * i}\n" for i in range(n_tests)],
             "fn_name": None}
    call = {"inputs": [f"{i}\n{i + 1}" for i in range(n_tests)],
            "outputs": [json.dumps([2 * i + 1, i * (i + 1)]) for i in range(n_tests)], "fn_name": "add"}
    jobs, want = [], []
    for i in range(programs):
        wrong = i % 10 == 9
        if i % 2:
            jobs.append((STDIN_WRONG if wrong else STDIN_OK, stdin))
        else:
            jobs.append((CALL_OK.replace("a + b,", "a - b,") if wrong else CALL_OK, call))
        want.append("wrong_answer" if wrong else "pass")
    return jobs, want


def bench_humaneval(workers: int) -> float:
    task = get_task("humaneval")
    options = TaskOptions(workers=workers)
    problems = task.load(options).problems
    pairs = [(p, Completion(f"```python\n{p.meta['raw']['prompt'] + p.meta['raw']['canonical_solution']}```"))
             for p in problems]
    start = time.perf_counter()
    records = task.grade_all(pairs, options)
    wall = time.perf_counter() - start
    failed = [(p.id, r["status"]) for p, r in zip(problems, records) if not r["correct"]]
    assert len(problems) == 164 and not failed, failed
    return wall


def bench_lcb(programs: int, n_tests: int, mode: str, workers: int) -> float:
    jobs, want = lcb_jobs(programs, n_tests)
    start = time.perf_counter()
    outcomes = run_tests_many(jobs, mode, timeout_s=6, workers=workers)
    wall = time.perf_counter() - start
    got = [o.verdict for o in outcomes]
    assert got == want, [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w][:5]
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lcb-programs", type=int, default=40)
    parser.add_argument("--lcb-tests", type=int, default=5)
    args = parser.parse_args()
    parts = {"humaneval_164": (164, lambda: bench_humaneval(args.workers))}
    for mode in ("strict", "tolerant"):
        parts[f"lcb_{mode}"] = (args.lcb_programs, lambda m=mode: bench_lcb(args.lcb_programs, args.lcb_tests, m,
                                                                              args.workers))
    result = {"cpu_count": os.cpu_count(), "workers": args.workers, "repeat": args.repeat,
              "load_before": os.getloadavg()[0]}
    for name, (count, fn) in parts.items():
        walls = [fn() for _ in range(args.repeat)]
        median = statistics.median(walls)
        result[name] = {"programs": count, "wall_s": [round(w, 2) for w in walls], "median_s": round(median, 2),
                        "programs_per_s": round(count / median, 1)}
    result["load_after"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
