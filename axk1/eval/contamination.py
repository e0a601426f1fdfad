"""A score beside the score on the problems the training data never held. `axk1 data contamination CORPUS
--benchmark SET -o report.json` lists the rows of each evaluation set a corpus holds (docs/data.md, "Benchmark
decontamination"); `axk1 eval --contamination report.json` then flags those problems in every task by id and scores
the others apart, so a model that recites what it read shows as a gap between the two numbers.

A problem is flagged when its id is a row found in any set of the report: the English and Korean AIME files share
ids, and a model that read a problem in one language has seen it in both.
"""

from __future__ import annotations

from pathlib import Path

from axk1.eval.metrics import format_stderr, summarize
from axk1.json_text import read_json_file

WRITE_IT = "write it with `axk1 data contamination CORPUS --benchmark SET -o report.json`"


def load_found_rows(path: str | Path) -> dict[str, list[str]]:
    """Row id -> the sets it was found in, from a report of `axk1 data contamination -o`; errors name the file."""
    path = Path(path)
    try:
        report = read_json_file(path, WRITE_IT, what="--contamination")
        sets = report["benchmarks"]
        found: dict[str, list[str]] = {}
        for name, entry in sets.items():
            for row in entry["found"]:
                found.setdefault(str(row), []).append(name)
    except FileNotFoundError:
        raise FileNotFoundError(f"--contamination {path} does not exist: {WRITE_IT}") from None
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"--contamination {path} is not a report of `axk1 data contamination -o` "
                         f"({type(e).__name__}: {e}): {WRITE_IT}") from None
    return found


def contamination_result(found: dict[str, list[str]], by_problem: dict[str, list[bool]], source: str) -> dict:
    """The flagged problems of one task and the score (avg@n, in percent) on the others."""
    flagged = sorted(pid for pid in by_problem if pid in found)
    clean = {pid: v for pid, v in by_problem.items() if pid not in found}
    result = {"report": source, "flagged": flagged, "clean_problems": len(clean)}
    if clean:
        n = len(next(iter(clean.values())))
        summary = summarize(clean)
        result.update(clean_score=summary[f"avg@{n}"], clean_stderr=summary["stderr_problems"])
    return result


def report_line(result: dict) -> str:
    c = result["contamination"]
    total = len(c["flagged"]) + c["clean_problems"]
    if not c["flagged"]:
        return f"- contamination ({c['report']}): none of the {total} problems was found in the corpus"
    shown = ", ".join(c["flagged"][:10]) + (" …" if len(c["flagged"]) > 10 else "")
    rest = (f"avg@n on the other {c['clean_problems']}: {c['clean_score']:.1f} ± "
            f"{format_stderr(c['clean_stderr'])} s.e. over problems (all: {result['score']:.1f})" if c["clean_problems"]
            else "no problem is left to score apart")
    return f"- contamination ({c['report']}): {len(c['flagged'])} of {total} problems found in the corpus ({shown}); " \
           + rest
