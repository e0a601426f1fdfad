"""LiveCodeBench code generation: official prompts, code from the last fenced block, sandboxed test runs.

Defaults follow A.X K1's anchor: release_v6, contest_date 2025-02-01 .. 2025-05-01, the DeepSeek-R1 user-only
prompt (fixed across models), strict (upstream) grading; `tolerant` grading is opt-in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from axk1.eval.backends import Completion
from axk1.eval.execution import run_tests_many
from axk1.eval.provenance import digest
from axk1.eval.tasks.base import (Problem, Task, TaskData, TaskOptions, answer_record, apply_limit, flag,
                                  register)
from axk1.eval.tasks.lcb_data import in_window, load_problems
from axk1.text.code_blocks import last_python_block
from axk1.text.prose import MIN_HANGUL_SHARE, prose, prose_hangul_share

SYSTEM = ("You are an expert Python programmer. You will be given a question (problem specification) and will "
          "generate a correct Python program that matches the specification and passes all tests.")
R1_LEAD = ("You will be given a question (problem specification) and will generate a correct Python program that "
           "matches the specification and passes all tests.")
WITH_STARTER = ("You will use the following starter code to write the solution to the problem and enclose your code "
                "within delimiters.")
WITHOUT_STARTER = ("Read the inputs from stdin solve the problem and write the answer to stdout (do not directly test "
                   "on the sample inputs). Enclose your code within delimiters as follows. Ensure that when the python "
                   "program runs, it reads the inputs, runs the algorithm and writes output to STDOUT.")
PROMPT_STYLES = ("r1", "generic")
# Problems in each release (docs/evaluation.md, "LiveCodeBench": Releases): a copy with fewer rows (or more) is not
# the set the card measured, whatever the window then holds.
RELEASE_PROBLEMS = {"release_v1": 400, "release_v2": 511, "release_v3": 612, "release_v4": 713, "release_v5": 880,
                    "release_v6": 1055}
UPSTREAM_TEST_TIMEOUT_S = 6.0  # lcb_runner's per-test limit, which the published numbers were graded with


def build_messages(content: str, starter_code: str, style: str = "r1") -> list[dict]:
    sentence = WITH_STARTER if starter_code else WITHOUT_STARTER
    fence = f"```python\n{starter_code if starter_code else '# YOUR CODE HERE'}\n```\n\n"
    if style == "r1":
        return [{"role": "user", "content": f"{R1_LEAD}\n\nQuestion: {content}\n\n{sentence}\n{fence}"}]
    if style == "generic":
        user = (f"### Question:\n{content}\n\n### Format: {sentence}\n{fence}"
                "### Answer: (use the provided format with backticks)\n\n")
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    raise ValueError(f"LCB prompt style must be one of {PROMPT_STYLES}, got {style!r}")


def extract_code_strict(text: str) -> str:
    """Upstream: the lines strictly between the last two lines that contain three backticks ('' if fewer)."""
    lines = text.split("\n")
    fences = [i for i, line in enumerate(lines) if "```" in line]
    if len(fences) < 2:
        return ""
    return "\n".join(lines[fences[-2] + 1:fences[-1]])


def extract_code_tolerant(text: str) -> str:
    """The last complete fenced block tagged python (else the last untagged one), pairing fences in order, so a
    trailing explanation block or an unclosed fence (truncation) does not shift the span (else upstream's rule)."""
    code = last_python_block(text)
    return code if code is not None else extract_code_strict(text)


def response_is_korean(answer: str) -> bool:
    """Its prose (outside code and math) is Korean (for the response-language rate of LCB-ko), by the rule a
    translated statement meets (axk1/text/prose.py's MIN_HANGUL_SHARE)."""
    share = prose_hangul_share(prose(answer))
    return share is not None and share >= MIN_HANGUL_SHARE


def set_caveats(info: dict, release: str) -> list[str]:
    """Why the problems a run graded are not the whole of the card's window: rows of the data that failed to parse,
    problems excluded for another reason than their date (no tests; LCB-ko: a translation refused), or a copy of
    the release with another number of rows than the release has."""
    why = []
    failed = info.get("failed_to_parse") or []
    if failed:
        why.append(f"{len(failed)} rows of the data failed to parse (first: {failed[0].get('question_id')}: "
                   f"{str(failed[0].get('reason', ''))[:80]})")
    kinds = Counter(str(e.get("reason", "")).split(":")[0] for e in info.get("excluded") or []
                    if not str(e.get("reason", "")).startswith("contest_date"))
    if kinds:
        why.append(f"{sum(kinds.values())} problems of the window excluded ("
                   + ", ".join(f"{kind}: {k}" for kind, k in sorted(kinds.items())) + ")")
    rows, expected = info.get("rows_read"), RELEASE_PROBLEMS.get(release)
    if rows is not None and expected is not None and rows != expected:
        why.append(f"{rows} problems in the data, not {release}'s {expected} (a partial or other copy)")
    return why


@dataclass
class LCBOptions(TaskOptions):
    lcb_start: str = "2025-02-01"
    lcb_end: str = "2025-05-01"
    lcb_release: str = "release_v6"
    lcb_prompt: str = "r1"  # "r1" (user-only, the default) or "generic" (system + ### sections)
    lcb_cache: str | None = None  # where decoded tests are re-stored as plain JSON (CLI: DIR/lcb-decoded)


@dataclass
class LCBConfig:
    lcb_data: str | None = flag(None, "code_generation_lite folder (test*.jsonl) or a JSONL/Parquet file",
                                metavar="PATH")
    lcb_release: str = flag(LCBOptions.lcb_release, "LiveCodeBench release: release_v1 .. release_v6, each adding to "
                            "the last; the default is A.X K1's")
    # a --config file may write a TOML date (lcb_start = 2025-02-01): settings.py reads it as the text YYYY-MM-DD
    lcb_start: str | date = flag(LCBOptions.lcb_start, "first contest_date scored, YYYY-MM-DD, inclusive",
                                 metavar="DATE")
    lcb_end: str | date = flag(LCBOptions.lcb_end, "last contest_date scored, YYYY-MM-DD, inclusive", metavar="DATE")
    lcb_prompt: str = flag(LCBOptions.lcb_prompt, "prompt style: r1 (DeepSeek-R1's, user turn only) or generic (a "
                           "system turn and ### sections)", choices=PROMPT_STYLES)
    lcb_cache: str | None = flag(None, "where decoded LCB tests are kept (default: DIR/lcb-decoded)", metavar="DIR")
    path_keys = ("lcb_data", "lcb_cache")  # (a ClassVar: no annotation) resolved by a --config file

    def validate(self) -> None:
        for flag_name, value in (("--lcb-start", self.lcb_start), ("--lcb-end", self.lcb_end)):
            try:
                datetime.fromisoformat(str(value)) if value else None
            except ValueError:
                raise ValueError(f"{flag_name} must be a date such as 2025-02-01, got {value!r}") from None


@register("lcb")
class LCBTask(Task):
    name = "lcb"
    published = "lcb"
    group_by = ("difficulty", "platform")
    Config = LCBConfig
    Options = LCBOptions

    @classmethod
    def configure(cls, cfg, options, out, backend) -> None:
        super().configure(cfg, options, out, backend)
        if cfg.lcb_data:
            options.data["lcb"] = cfg.lcb_data
        options.lcb_cache = cfg.lcb_cache or str(out / "lcb-decoded")

    def extra_scores(self, problems, records, n) -> dict:
        korean = [r["korean_response"] for r in records if "korean_response" in r]
        return {"korean_response_rate": 100 * sum(korean) / len(korean)} if korean else {}

    def report_lines(self, result, out) -> list[str]:
        rate = result.get("korean_response_rate")
        return [] if rate is None else [f"- korean response rate: {rate:.1f}%"]

    def source(self, options: LCBOptions) -> str:
        source = options.data.get("lcb")
        if not source:
            raise ValueError("LiveCodeBench data is not bundled: pass --lcb-data with code_generation_lite's "
                             "test*.jsonl folder (or a file); see docs/evaluation.md, \"LiveCodeBench\"")
        return source

    def select(self, options: LCBOptions):
        problems, failed = load_problems(self.source(options), options.lcb_release, options.lcb_cache)
        kept = [p for p in problems if in_window(p, options.lcb_start, options.lcb_end)]
        excluded = [{"question_id": p.question_id, "reason": f"contest_date {p.contest_date.date()} outside window"}
                    for p in problems if p not in kept]
        excluded += [{"question_id": p.question_id, "reason": "no tests"} for p in kept if not p.tests["inputs"]]
        kept = [p for p in kept if p.tests["inputs"]]
        if not kept:
            unparsed = f", {len(failed)} rows not read (first: {failed[0]['reason'][:200]})" if failed else ""
            raise ValueError(f"no LCB problem has contest_date in [{options.lcb_start}, {options.lcb_end}] "
                             f"({len(problems)} read{unparsed}); check --lcb-start/--lcb-end and the release")
        return kept, excluded, failed

    def label_window(self, options: dict) -> str | None:
        # the run's dates: a row labelled with the card's window (25.2.1-25.5.1) after --lcb-start 2023-01-01 named
        # problems it did not score
        return f"{options.get('lcb_start', LCBOptions.lcb_start)}..{options.get('lcb_end', LCBOptions.lcb_end)}"

    def comparison_caveats(self, options: dict, result: dict) -> list[str]:
        why = []
        defaults = {f: getattr(LCBOptions, f) for f in ("lcb_start", "lcb_end", "lcb_release", "lcb_prompt")}
        window = [options.get("lcb_start", defaults["lcb_start"]), options.get("lcb_end", defaults["lcb_end"])]
        if window != [defaults["lcb_start"], defaults["lcb_end"]]:
            why.append(f"window {window[0]}..{window[1]}, not {defaults['lcb_start']}..{defaults['lcb_end']}")
        for key, what in (("lcb_release", "release"), ("lcb_prompt", "prompt")):
            if options.get(key, defaults[key]) != defaults[key]:
                why.append(f"{what} {options[key]}, not {defaults[key]}")
        if options.get("grader_mode", "strict") != "strict":
            why.append(f"{options['grader_mode']} grader, not strict (upstream's)")
        timeout = options.get("test_timeout_s", UPSTREAM_TEST_TIMEOUT_S)
        if timeout != UPSTREAM_TEST_TIMEOUT_S:
            why.append(f"test timeout {timeout:g} s, not upstream's {UPSTREAM_TEST_TIMEOUT_S:g} s (--test-timeout)")
        return why + set_caveats(result.get("info", {}), options.get("lcb_release", defaults["lcb_release"]))

    def make_problem(self, p, content: str, options: LCBOptions) -> Problem:
        return Problem(p.question_id, build_messages(content, p.starter_code, options.lcb_prompt), None,
                       {"difficulty": p.difficulty, "platform": p.platform, "contest_date": p.contest_date.isoformat(),
                        "tests": p.tests, "n_tests": len(p.tests["inputs"])})

    def load(self, options: LCBOptions) -> TaskData:
        kept, excluded, failed = self.select(options)
        rows = len(kept) + len(excluded) + len(failed)  # every row of the release's files, before the window
        problems = apply_limit([self.make_problem(p, p.content, options) for p in kept], options.limit)
        info = self.info(problems, options, excluded, failed, rows)
        return TaskData(problems, info)

    def info(self, problems: list[Problem], options: LCBOptions, excluded: list, failed: list, rows: int) -> dict:
        return {"source": self.source(options), "release": options.lcb_release, "rows_read": rows,
                "window": [options.lcb_start, options.lcb_end], "n_problems": len(problems),
                "problem_ids_hash": digest(sorted(p.id for p in problems)),
                "dataset_hash": digest([(p.id, p.messages, p.meta["tests"]) for p in problems]),
                "prompt_style": options.lcb_prompt, "prompt_hash": digest([R1_LEAD, SYSTEM, WITH_STARTER,
                                                                          WITHOUT_STARTER, options.lcb_prompt]),
                "grader_mode": options.grader_mode, "test_timeout_s": options.test_timeout_s,
                "excluded": excluded, "failed_to_parse": failed}

    def grade_all(self, pairs: list[tuple[Problem, Completion]], options: LCBOptions) -> list[dict]:
        extract = extract_code_strict if options.grader_mode == "strict" else extract_code_tolerant
        records, jobs, slots = [], [], []
        for problem, completion in pairs:
            record, answer = answer_record(completion)
            if answer is not None:
                code = extract(answer)
                record["extracted"] = code
                record["korean_response"] = response_is_korean(answer)
                if not code.strip():
                    record["status"] = "truncated" if completion.finish_reason == "length" else "no_code"
                else:
                    jobs.append((code, problem.meta["tests"]))
                    slots.append(len(records))
            records.append(record)
        outcomes = run_tests_many(jobs, options.grader_mode, options.test_timeout_s, options.workers,
                                  desc=f"{self.name}: running tests")
        for slot, outcome in zip(slots, outcomes):
            records[slot].update(status=outcome.verdict, correct=outcome.passed,
                                 test_results=outcome.results, detail=(outcome.details or [""])[-1])
        return records
