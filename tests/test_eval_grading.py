"""AIME grading with hand-written outputs, the AIME loader on test-written problems (and on the real AIME 2025
files when they sit beside the project), and the sampling metrics."""

import json
import math
from itertools import combinations
from pathlib import Path

import pytest

from axk1.eval.backends import Completion
from axk1.eval.math_grader import grade_integer_answer, last_boxed, normalise_integer
from axk1.eval.metrics import pass_at_k, standard_error, summarize
from axk1.text.reasoning import split_reasoning
from axk1.eval.tasks import TaskOptions, get_task
from tests.aime_rows import ROWS, write_aime
from tests.aime_files import AIME_DIR, needs_aime

# The real AIME 2025 files are not shipped with the repository; a checkout that has them beside it checks them too.
ANSWERS = {"2025-I-1": "70", "2025-I-2": "588", "2025-I-14": "60", "2025-II-2": "49", "2025-II-15": "240"}


def _load_both(folder: Path) -> dict:
    return {lang: get_task(name).load(TaskOptions(data={name: str(folder / f"aime25_{lang}.jsonl")}))
            for lang, name in (("en", "aime25"), ("ko", "aime25-ko"))}


def test_aime_data_loads_with_the_deepseek_instruction(tmp_path):
    write_aime(tmp_path)
    aime = _load_both(tmp_path)
    for lang, data in aime.items():
        assert data.info["n_problems"] == len(ROWS[lang]) == len(data.problems)
        assert data.info["source"].endswith(f"aime25_{lang}.jsonl")
        assert {p.id: p.gold for p in data.problems} == {r["id"]: str(int(r["answer"])) for r in ROWS[lang]}
        assert all(p.messages[-1]["content"].endswith(data.info["instruction"]) for p in data.problems)
    assert aime["en"].problems[3].gold == "48"  # "048": AIME's three-digit form, read as the integer
    assert "Please reason step by step" in aime["en"].problems[0].messages[0]["content"]
    assert "단계별로" in aime["ko"].problems[0].messages[0]["content"]
    assert aime["en"].info["dataset_hash"] != aime["ko"].info["dataset_hash"]


@needs_aime
def test_real_aime_files_match_the_answer_key():
    aime = _load_both(AIME_DIR)
    for data in aime.values():
        assert data.info["n_problems"] == 30
        golds = {p.id: p.gold for p in data.problems}
        assert all(golds[pid] == answer for pid, answer in ANSWERS.items())


def test_aime_defaults_to_the_public_copy_and_says_what_to_do_offline(monkeypatch):
    asked = []

    def offline(source, *args, **kwargs):
        asked.append(source)
        raise ConnectionError("no network")

    monkeypatch.setattr("datasets.load_dataset", offline)
    monkeypatch.setattr("axk1.eval.tasks.aime._hub_unreachable", lambda: None)  # the hub answers, the load fails
    with pytest.raises(ValueError, match="'math-ai/aime25' .*ConnectionError.*--aime-data"):
        get_task("aime25").load(TaskOptions())
    assert asked == ["math-ai/aime25"]
    with pytest.raises(ValueError, match="--aime-ko-data"):  # no public Korean copy: a file is required
        get_task("aime25-ko").load(TaskOptions())



def test_aime_without_network_fails_at_once_and_says_to_pass_a_file(monkeypatch):
    # `datasets` retried an unreachable hub with back-off (30 s where DNS fails at once, minutes where packets are
    # dropped) before the error that says to pass --aime-data
    import time

    import datasets.config

    from axk1.eval.tasks.aime import PROBE_TIMEOUT_S

    asked = []
    monkeypatch.setattr("datasets.load_dataset", lambda source, *a, **k: asked.append(source) or [])
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")  # nothing listens there: refused at once
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"hub is not reachable \(127.0.0.1:9: .*--aime-data .*HF_HUB_OFFLINE=1"):
        get_task("aime25").load(TaskOptions())
    # nothing asked of `datasets`; the wait is the probe's own, bounded by its timeout (a refused port answers at
    # once; datasets' retries against an unreachable hub took minutes): generous against that timeout
    assert time.monotonic() - start < PROBE_TIMEOUT_S + 10 and asked == []
    # offline mode asked for: no probe, `datasets` answers from its cache (or fails at once)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr("axk1.eval.tasks.aime._hub_unreachable", lambda: pytest.fail("probed in offline mode"))
    with pytest.raises(ValueError):
        get_task("aime25").load(TaskOptions())  # (the stand-in's empty dataset has no rows)
    assert asked == ["math-ai/aime25"]

CASES = [  # (output, gold, expected status, expected extracted)
    ("So the sum is \\boxed{070}.", "70", "correct", "70"),
    ("First try \\boxed{16}. Re-checking the casework, the answer is \\boxed{588}.", "588", "correct", "588"),
    ("The answer is \\boxed{\\text{588}}.", "588", "correct", "588"),
    ("Angle: \\boxed{60^\\circ}", "60", "correct", "60"),
    ("$\\boxed{49}$", "50", "wrong", "49"),
    ("Therefore the answer is 70.", "70", "correct", "70"),
    ("The value is $\\frac{480}{2}$.", "240", "correct", "240"),
    ("\\boxed{\\frac{480}{2}}", "240", "correct", "240"),
    ("따라서 정답은 70입니다.", "70", "correct", "70"),
    ("최종 답: 588", "588", "correct", "588"),
    ("I could not finish this problem.", "70", "no_answer", None),
    ("<think>maybe \\boxed{5}</think>So the final answer is \\boxed{240}.", "240", "correct", "240"),
    ("<think>maybe \\boxed{240} ... still thinking", "240", "no_answer", None),
]


@pytest.mark.parametrize("output,gold,status,extracted", CASES)
def test_grading_formats(output, gold, status, extracted):
    verdict = grade_integer_answer(output, gold)
    assert verdict.status == status, verdict
    assert verdict.correct == (status == "correct")
    assert verdict.extracted == extracted


def test_graded_against_loaded_items(tmp_path):
    write_aime(tmp_path)
    en = {p.id: p for p in _load_both(tmp_path)["en"].problems}
    task = get_task("aime25")
    options = TaskOptions()
    out = task.grade(en["t-1"], Completion("... so $\\boxed{020}$"), options)
    assert out["status"] == "correct" and out["method"] == "boxed"
    out = task.grade(en["t-5"], Completion("the answer is 807"), options)
    assert out["status"] == "correct" and out["method"] == "number"  # an unboxed integer, read as a box is
    out = task.grade(en["t-2"], Completion("\\boxed{140}", finish_reason="length"), options)
    assert out["status"] == "truncated" and not out["correct"]
    # The prompt opened the think block and the output never closed it: no answer, whatever it contains.
    out = task.grade(en["t-2"], Completion("reasoning \\boxed{140}", think_open=True), options)
    assert out["status"] == "no_answer"
    out = task.grade(en["t-2"], Completion("reasoning</think>\\boxed{140}", think_open=True), options)
    assert out["status"] == "correct"
    out = task.grade(en["t-2"], Completion("", "error", error="HTTP 503"), options)
    assert out["status"] == "request_failed"


def test_boxed_extraction_and_normalisation():
    assert last_boxed("a \\boxed{1} b \\boxed{\\frac{1}{2}} c") == "\\frac{1}{2}"
    assert last_boxed("\\boxed{x^{2}+\\sqrt{4}}") == "x^{2}+\\sqrt{4}"
    assert last_boxed("\\boxed{unbalanced") is None and last_boxed("none") is None
    assert normalise_integer(" 070 ") == 70 and normalise_integer("1,000") == 1000
    assert normalise_integer("$117$") == 117 and normalise_integer("\\frac{1}{2}") is None
    assert normalise_integer("m+n=17") is None
    assert split_reasoning("<think>a</think>b</think>c").answer == "c"
    assert split_reasoning("plain").answer == "plain"


def test_unbiased_pass_at_k_matches_brute_force():
    for n, c, k in [(5, 2, 1), (5, 2, 3), (8, 0, 4), (8, 8, 2), (10, 3, 10), (16, 5, 4)]:
        samples = [True] * c + [False] * (n - c)
        subsets = list(combinations(range(n), k))
        brute = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
        assert math.isclose(pass_at_k(n, c, k), brute, abs_tol=1e-12)
    with pytest.raises(ValueError, match="pass@"):
        pass_at_k(4, 1, 5)


def test_summary_avg_and_standard_error():
    results = {"a": [True, True, False, False], "b": [True, True, True, True], "c": [False] * 4}
    s = summarize(results, ks=(1, 2, 4))
    assert s["n_problems"] == 3 and s["n_samples"] == 4
    assert math.isclose(s["avg@4"], 100 * (0.5 + 1 + 0) / 3)
    assert math.isclose(s["pass@1"], s["avg@4"])
    assert math.isclose(s["pass@4"], 100 * 2 / 3)
    assert math.isclose(s["stderr_problems"], 100 * standard_error([0.5, 1.0, 0.0]))
    assert math.isclose(standard_error([0.5, 1.0, 0.0]), 0.5 / math.sqrt(3))
    # the rerun one: sqrt(Σ p̂(1-p̂) / (n-1)) / P, with only problem a uncertain
    assert math.isclose(s["stderr_rerun"], 100 * math.sqrt(0.25 / 3) / 3)
    with pytest.raises(ValueError, match="same"):
        summarize({"a": [True], "b": [True, False]})


def test_aime_loader_reports_bad_rows(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "problem": "p", "answer": "1/2"}) + "\n")
    with pytest.raises(ValueError, match="not an integer"):
        get_task("aime25").load(TaskOptions(data={"aime25": str(bad)}))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_task("aime25").load(TaskOptions(data={"aime25": str(tmp_path / "missing.jsonl")}))


def test_the_rerun_standard_error_estimates_the_rerun_variance_without_bias():
    """The report's "± s.e." was the spread over problems of their means (standard_error), not how much a rerun on
    the same problems moves the score. Over every outcome of 3 samples on problems solved with p = 0.5 and 0.8 (each
    weighed by its probability), the mean of stderr_rerun² is the variance of the score exactly; the spread over
    problems is not (it holds the problems' difficulty)."""
    import itertools

    probs, n = (0.5, 0.8), 3
    outcomes = list(itertools.product(itertools.product((True, False), repeat=n), repeat=len(probs)))
    weight = lambda outcome: math.prod(p if x else 1 - p for p, row in zip(probs, outcome) for x in row)
    expected = {key: sum(weight(o) * (summarize(dict(enumerate(o)))[key] / 100) ** 2 for o in outcomes)
                for key in ("stderr_rerun", "stderr_problems")}
    variance = sum(p * (1 - p) / n for p in probs) / len(probs) ** 2
    assert math.isclose(expected["stderr_rerun"], variance)
    assert not math.isclose(expected["stderr_problems"], variance, rel_tol=0.1)
