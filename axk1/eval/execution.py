"""Grade programs against tests in the sandbox: one confined run per (program, test set), in parallel.

The verdict is decided by the sandbox's judge process from what the program answered (its outputs, plain copies of
its return values), never from its exit status or anything it can write (axk1/eval/sandbox_child.py).

Verdicts: pass, wrong_answer, time_limit, runtime_error, compile_error, global_timeout, no_code, judge_error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from axk1.eval.sandbox import Limits, run_judge, run_parallel

MODES = ("strict", "tolerant")
VERDICTS = ("pass", "wrong_answer", "time_limit", "runtime_error", "compile_error", "global_timeout", "no_code",
            "judge_error")


@dataclass
class TestOutcome:
    verdict: str
    results: list = field(default_factory=list)  # per test: True or an upstream code (-1 .. -5)
    details: list = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


def _verdict(results: list, details: list) -> str:
    if not results:
        return "judge_error"  # an empty result list would pass vacuously upstream; it must not here
    for code, detail in zip(results, details or [""] * len(results)):
        if code is True:
            continue
        if code == -2:
            return "compile_error" if str(detail).startswith("compile error") else "wrong_answer"
        return {-1: "global_timeout", -3: "time_limit", -4: "runtime_error"}.get(code, "judge_error")
    return "pass"


def check_tests(tests: dict) -> None:
    for key in ("inputs", "outputs"):
        if not isinstance(tests.get(key), list):
            raise ValueError(f"tests need a list under {key!r}; got {type(tests.get(key)).__name__}")
    if len(tests["inputs"]) != len(tests["outputs"]):
        raise ValueError(f"tests have {len(tests['inputs'])} inputs but {len(tests['outputs'])} outputs")
    if not tests["inputs"]:
        raise ValueError("tests are empty: a program with no tests cannot be graded")


def run_tests(code: str | None, tests: dict, mode: str = "strict", timeout_s: float = 6.0,
              memory_mb: int = 2048, stop_at_first_failure: bool = True) -> TestOutcome:
    """Run `code` on tests {"inputs": [...], "outputs": [...], "fn_name": name or None}.

    The whole run is bounded by upstream's global timeout (timeout + 1) * n_tests + 5 seconds."""
    if mode not in MODES:
        raise ValueError(f"grader mode must be one of {MODES}, got {mode!r}")
    check_tests(tests)
    if not code or not code.strip():
        return TestOutcome("no_code")
    n = len(tests["inputs"])
    wall = (timeout_s + 1) * n + 5
    limits = Limits(wall_s=wall, cpu_s=int(wall) + 1, memory_mb=memory_mb)
    payload = {"kind": "tests", "code": code, "tests": tests, "mode": mode, "timeout_s": timeout_s,
               "stop_at_first_failure": stop_at_first_failure}
    result = run_judge(payload, limits)
    if result.timed_out:
        return TestOutcome("global_timeout", [-1] * n, ["global timeout"], result.wall_s)
    if "results" not in result.report:
        why = result.report.get("judge_error") or result.stderr[-500:] or f"judge exited {result.returncode}"
        return TestOutcome("judge_error", [-5], [why], result.wall_s)
    results, details = result.report["results"], result.report["details"]
    return TestOutcome(_verdict(results, details), results, details, result.wall_s)


CHECK_CODES = {"pass": True, "wrong_answer": -2, "runtime_error": -4, "judge_error": -5}


def run_checked(code: str, tests: str, entry_point: str | None = None, timeout_s: float = 10.0,
                memory_mb: int = 1024, limits: Limits | None = None, trusted: str | None = None) -> TestOutcome:
    """A solution and its asserts (HumanEval: `tests` defines check(candidate), called on `entry_point`; RL tasks:
    asserts over the solution's functions by name). The solution runs first, in the runner; the asserts run in
    the judge on plain copies of what its functions return, so they always run and compare builtin values.

    `trusted`: the task's own helper code (HumanEval: the prompt without the entry point), run in the judge; the
    names it defines are what the tests see, whatever the solution defines under them."""
    if not code or not code.strip():
        return TestOutcome("no_code")
    payload = {"kind": "check", "code": code, "tests": tests, "entry_point": entry_point, "trusted": trusted}
    limits = limits or Limits(wall_s=timeout_s, cpu_s=int(timeout_s) + 1, memory_mb=memory_mb)
    result = run_judge(payload, limits)
    if result.timed_out:
        return TestOutcome("time_limit", [-3], ["time limit"], result.wall_s)
    verdict = result.report.get("verdict")
    if verdict not in CHECK_CODES:
        why = result.report.get("judge_error") or result.stderr[-500:] or f"judge exited {result.returncode}"
        return TestOutcome("judge_error", [-5], [why], result.wall_s)
    return TestOutcome(verdict, [CHECK_CODES[verdict]], [result.report.get("detail", "")], result.wall_s)


def run_tests_many(jobs: list[tuple[str | None, dict]], mode: str = "strict", timeout_s: float = 6.0,
                   workers: int | None = None, desc: str | None = None) -> list[TestOutcome]:
    return run_parallel(lambda job: run_tests(job[0], job[1], mode, timeout_s), jobs, workers, desc)
