"""Benchmark decontamination in use: the filter of `axk1 data run` (axk1/data/decontaminate.py) accounts for every
removed document with the set, row and shared text, refuses a benchmark list that cannot work before anything is
written, and still matches in a worker with another hash seed; the audit `axk1 data contamination` names every row a
corpus holds; `axk1 eval --contamination` scores those problems apart. What the matching finds and misses:
test_data_decontaminate.py, whose helpers and page variants this file uses."""

import gzip
import json
from pathlib import Path

import pytest

from axk1.data.decontaminate import DecontaminationConfig, check_benchmarks
from axk1.cli import main
from axk1.data.stats import account, iter_records
from axk1.text.contamination import texts_to_check
from tests.aime_rows import ROWS, write_aime
from tests.decontaminate_helpers import FORUM, STDLIB, humaneval_rows, reformatted, respaced
from tests.korean_corpus import bills, constitution_chapters


def write_pipeline(root: Path, benchmarks: list[str]) -> Path:
    (root / "pipeline.toml").write_text(f"""[run]
output_dir = "out"
stages = ["extract"]
tasks = 1
workers = 1
[[sources]]
type = "jsonl"
path = "in.jsonl"
[[sources]]
type = "code"
path = "code"
[filters]
languages = ["ko", "en"]
[filters.quality]
word_tokenizer = "regex"
max_avg_word_length = 12
[filters.decontamination]
benchmarks = {json.dumps(benchmarks)}
""", encoding="utf-8")
    return root / "pipeline.toml"


def test_the_pipeline_removes_contaminated_documents_and_accounts_for_them(tmp_path, capsys):
    files = write_aime(tmp_path / "bench")
    bill_texts = list(bills().values())[:3]
    chapters = list(constitution_chapters().values())
    en, ko = ROWS["en"][1], ROWS["ko"][1]
    docs = [{"id": f"bill{i}", "text": t} for i, t in enumerate(bill_texts)]
    docs += [{"id": "forum_en", "text": FORUM.format(en["problem"]) + " " + bill_texts[0][:800]},
             {"id": "blog_ko", "text": chapters[1][:600] + "\n\n오늘의 문제: " + respaced(ko["problem"]) + "\n\n" +
              chapters[2][:600]}]
    rows = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    (tmp_path / "in.jsonl").write_text(rows, encoding="utf-8")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "textwrap.py").write_text((STDLIB / "textwrap.py").read_text())
    row = humaneval_rows()[12]
    (tmp_path / "code" / "solutions.py").write_text(reformatted(row["prompt"] + row["canonical_solution"]))
    pipeline = write_pipeline(tmp_path, ["humaneval", "bench/aime25_en.jsonl", "bench/aime25_ko.jsonl"])

    assert main(["data", "run", str(pipeline)]) == 0
    out = tmp_path / "out"
    acc = account(out)
    assert acc.balanced and acc.inputs == len(docs) + 2
    removed = {r["id"]: r["metadata"] for r in iter_records(out / "excluded" / "decontamination")}
    by_id = {i.split("/")[-1]: m for i, m in removed.items()}
    assert sorted(by_id) == ["blog_ko", "forum_en", "solutions.py"], sorted(removed)
    assert by_id["forum_en"]["contamination"]["benchmark"] == "aime25_en.jsonl"
    assert by_id["forum_en"]["contamination"]["row"] == en["id"]
    assert by_id["blog_ko"]["contamination"] | {"ngram": ""} == {"benchmark": "aime25_ko.jsonl", "row": ko["id"],
                                                                   "ngram": ""}
    assert by_id["solutions.py"]["contamination"]["row"] == row["task_id"]
    assert all(m["filter_reason"] == "benchmark_contamination" for m in removed.values())
    assert acc.excluded.get("benchmark_contamination") == 3
    kept = [r["id"] for r in iter_records(out / "clean")]
    assert any(i.endswith("textwrap.py") for i in kept) and sum(i.startswith("bill") for i in kept) == 3
    assert "benchmark_contamination" in capsys.readouterr().out

    # the audit finds in the input what the filter removed, and nothing in what it kept
    bench = ["--benchmark", str(files["en"]), "--benchmark", str(files["ko"])]
    capsys.readouterr()
    assert main(["data", "contamination", str(tmp_path / "in.jsonl"), *bench, "--check", "-o",
                 str(tmp_path / "report.json")]) == 1
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["documents"] == len(docs) and report["contaminated_documents"] == 2
    assert report["benchmarks"]["aime25_en.jsonl"]["found"][en["id"]]["examples"] == ["forum_en"]
    assert report["benchmarks"]["aime25_ko.jsonl"]["found"][ko["id"]]["examples"] == ["blog_ko"]
    assert "2 of 5 documents share a 13-gram" in capsys.readouterr().out
    assert main(["data", "contamination", str(out / "clean"), *bench, "--check"]) == 0

    # the benchmark files shape the output: a relaunch after one changed is a change of settings
    settings = json.loads((out / "settings.json").read_text())
    assert sum(k.startswith("filters.decontamination.benchmarks.") and k.endswith(".sha256") for k in settings) == 2
    files["en"].write_text(files["en"].read_text() + json.dumps({"id": "x", "problem": "a new problem " * 5}) + "\n")
    assert main(["data", "run", str(pipeline)]) == 2
    assert "filters.decontamination.benchmarks" in capsys.readouterr().err


def test_benchmark_lists_that_cannot_work_are_refused_before_anything_is_written(tmp_path, capsys):
    def refused(match, benchmarks, ngram=13, error=ValueError):
        with pytest.raises(error, match=match):
            check_benchmarks(DecontaminationConfig([str(b) for b in benchmarks], ngram))

    refused(r"benchmark file .*missing\.jsonl does not exist", [tmp_path / "missing.jsonl"], error=FileNotFoundError)
    (tmp_path / "broken.jsonl").write_text('{"problem": "a fine problem of enough length"}\n{oops\n')
    refused(r"broken\.jsonl:2: not a JSON line", [tmp_path / "broken.jsonl"])
    (tmp_path / "ids.jsonl").write_text('{"id": 1, "answer": "70"}\n')
    refused("has no text field of 20 or more characters", [tmp_path / "ids.jsonl"])
    (tmp_path / "short.jsonl.gz").write_bytes(gzip.compress(b'{"problem": "x' * 50)[:30])
    refused(r"benchmark file .*short\.jsonl\.gz is a gzip stream that is cut short", [tmp_path / "short.jsonl.gz"])
    refused("ngram = 0: give 1 or more", ["humaneval"], ngram=0)
    # in a run: one line naming the file, and no output folder
    pipeline = write_pipeline(tmp_path, ["bench/aime25_en.jsonl"])
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "hello"}\n')
    (tmp_path / "code").mkdir()
    assert main(["data", "run", str(pipeline)]) == 2
    assert "aime25_en.jsonl does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_audit_names_every_row_a_page_holds_and_counts_what_it_could_not_read(tmp_path, capsys):
    """A page listing a whole contest holds each of its problems: each row is reported, the page once."""
    files = write_aime(tmp_path / "bench")
    long_en = [r for r in ROWS["en"] if len(r["problem"].split()) >= 20]
    page = "\n\n".join(f"Problem {i}. {r['problem']}" for i, r in enumerate(long_en, 1))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with gzip.open(corpus / "part-0.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"id": "contest-page", "text": page}) + "\n")
        f.write(json.dumps({"id": "other", "text": "Nothing to see here, a page about the weather."}) + "\n")
        f.write(json.dumps({"id": "no-text", "body": page}) + "\n")
        f.write("[1, 2]\n")
    assert main(["data", "contamination", str(corpus), "--benchmark", str(files["en"]), "-o",
                 str(tmp_path / "r.json")]) == 0  # no --check: a report, not a gate
    report = json.loads((tmp_path / "r.json").read_text())
    found = report["benchmarks"]["aime25_en.jsonl"]
    assert sorted(found["found"]) == sorted(r["id"] for r in long_en) and found["documents"] == 1
    assert report["documents"] == 2 and report["unreadable_rows"] == {"no `text` string or chat messages": 1, "a JSON list": 1}
    out = capsys.readouterr().out
    assert f"{len(long_en)} of {len(ROWS['en'])} rows found" in out and "not checked: 1 rows (a JSON list)" in out
    assert main(["data", "contamination", str(tmp_path / "nowhere"), "--benchmark", "humaneval"]) == 2
    assert "nowhere does not exist" in capsys.readouterr().err
    (tmp_path / "ids.jsonl").write_text('{"id": "2025-I-1", "answer": "70"}\n')  # the answers file, not the set
    assert main(["data", "contamination", str(corpus), "--benchmark", str(tmp_path / "ids.jsonl")]) == 2
    assert "has no text field of 20 or more characters" in capsys.readouterr().err


def test_the_audit_checks_a_synth_rows_fields_by_the_synth_filters_own_rule(tmp_path):
    """A synth sample keeps its teacher's trace in `fields`, out of its text: the audit reads it as the synth filter
    does (one rule, texts_to_check), and a `fields` that is no object is no text to check."""
    files = write_aime(tmp_path / "bench")
    problem = ROWS["en"][1]["problem"]
    assert texts_to_check("Final answer: 14", {"final_answer": "14", "trace": problem, "n": 3, "empty": ""}) == [
        ("text", "Final answer: 14"), ("fields.trace", problem)]  # "14" is in the text, 3 is no string
    assert texts_to_check("x", "not an object") == [("text", "x")]
    corpus = tmp_path / "synth.jsonl"
    rows = [{"id": "trace", "text": "Final answer: 14", "fields": {"teacher_reasoning": FORUM.format(problem)}},
            {"id": "odd", "text": "Final answer: 14", "fields": FORUM.format(problem)}]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["data", "contamination", str(corpus), "--benchmark", str(files["en"]), "-o",
                 str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["contaminated_documents"] == 1
    assert report["benchmarks"]["aime25_en.jsonl"]["found"][ROWS["en"][1]["id"]]["examples"] == ["trace"]


def test_a_filter_used_here_still_matches_in_a_worker_with_another_hash_seed(tmp_path):
    """The index keys words by Python's string hash, salted per process: an index pickled to a datatrove worker
    would match nothing there. The filter ships without it; the worker builds its own."""
    import os
    import pickle
    import subprocess
    import sys

    from datatrove.data import Document

    from axk1.data.decontaminate import DecontaminationFilter

    files = write_aime(tmp_path)
    flt = DecontaminationFilter(DecontaminationConfig([str(files["en"])]))
    doc = FORUM.format(ROWS["en"][1]["problem"])
    assert flt.filter(Document(doc, "a")) == (False, "benchmark_contamination")  # the index is built here
    (tmp_path / "f.pkl").write_bytes(pickle.dumps(flt))
    code = ("import pickle, sys; from datatrove.data import Document; flt = pickle.load(open(sys.argv[1], 'rb')); "
            "print(flt.filter(Document(sys.argv[2], 'a')))")
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "f.pkl"), doc], capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}, check=True).stdout
        assert "benchmark_contamination" in out


def test_eval_scores_apart_the_problems_the_corpus_held(tmp_path, monkeypatch, capsys):
    """A model that read a problem answers it: the audit's report, given to `axk1 eval --contamination`, flags that
    problem and scores the others apart, so the recitation shows as the gap between the two scores."""
    from axk1.eval.backends import Backend, Completion

    files = write_aime(tmp_path / "bench")
    leaked = ROWS["en"][1]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "forum", "text": FORUM.format(leaked["problem"])}) + "\n")
    report = tmp_path / "contamination.json"
    assert main(["data", "contamination", str(corpus), "--benchmark", str(files["en"]), "-o", str(report)]) == 0

    class Reciter(Backend):
        name = "reciter"

        def generate(self, requests, sampling, done=None):  # right on the problem it read, wrong elsewhere
            return [Completion(f"\\boxed{{{leaked['answer'] if leaked['problem'] in r.messages[-1]['content'] else 1}}}")
                    for r in requests]

    monkeypatch.setattr("axk1.eval.backend_target.load_backend", lambda target, **kw: Reciter())
    out = tmp_path / "eval"
    assert main(["eval", "--model", "reciter", "--tasks", "aime25", "--aime-data", str(files["en"]), "-n", "2",
                 "--contamination", str(report), "-o", str(out)]) == 0
    task = json.loads((out / "results.json").read_text())["tasks"]["aime25"]
    assert task["score"] == 100 / len(ROWS["en"])
    c = task["contamination"]
    assert c["flagged"] == [leaked["id"]] and c["clean_problems"] == len(ROWS["en"]) - 1 and c["clean_score"] == 0
    assert f"1 of {len(ROWS['en'])} problems found in the corpus ({leaked['id']})" in (out / "report.md").read_text()
    (tmp_path / "bad.json").write_text('{"documents": 3}')
    assert main(["eval", "--model", "reciter", "--tasks", "aime25", "--aime-data", str(files["en"]),
                 "--contamination", str(tmp_path / "bad.json"), "-o", str(tmp_path / "e2")]) == 2
    assert "is not a report of `axk1 data contamination -o`" in capsys.readouterr().err
    assert not (tmp_path / "e2" / "samples.jsonl").exists()  # refused before any generation


def test_a_line_nested_too_deep_is_named_not_a_traceback(tmp_path, capsys):
    """`[` x 100,000 on one line: json.loads raises RecursionError, which the corpus and benchmark readers did not
    catch (a traceback), where the other readers say "nested too deep" with the file and line."""
    from axk1.cli import main

    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"text": "fine"}\n' + "[" * 100_000 + "\n")
    good = tmp_path / "docs.jsonl"
    good.write_text(json.dumps({"id": "a", "text": "nothing to see here"}) + "\n")
    for argv in (["data", "contamination", str(deep), "--benchmark", "humaneval"],
                 ["data", "contamination", str(good), "--benchmark", str(deep)]):
        assert main(argv) != 0
        err = capsys.readouterr().err
        assert f"{deep}:2" in err and "nested too deep" in err and "Traceback" not in err, err


def test_a_contamination_report_nested_too_deep_is_named_not_a_traceback(tmp_path, capsys):
    """`axk1 eval --contamination` read the report with a bare json.loads and caught JSONDecodeError only: a file of
    `[` x 100,000 was a RecursionError traceback. It is a one-line error naming the file and how to write one."""
    from axk1.cli import main

    deep = tmp_path / "report.json"
    deep.write_text("[" * 100_000)
    argv = ["eval", "--model", "openai:http://127.0.0.1:9/v1", "--served-model", "m", "--tasks", "passkey",
            "--contamination", str(deep), "-o", str(tmp_path / "ev")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == (f"axk1 eval: error: --contamination {deep} is not valid JSON (nested too deep): write it with "
                   "`axk1 data contamination CORPUS --benchmark SET -o report.json`\n"), err
    assert not (tmp_path / "ev" / "samples.jsonl").exists()


def test_a_gate_that_checked_nothing_fails_and_chat_rows_are_checked(tmp_path, capsys):
    """`data contamination --check` exited 0 when no row had the text field (SFT data: chat rows), checking
    nothing; chat rows (OpenAI `messages`, ShareGPT `conversations`) are checked on their user and assistant text."""
    files = write_aime(tmp_path / "bench")
    en, ko = ROWS["en"][1], ROWS["ko"][1]
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps({"id": "a", "body": en["problem"]}) + "\n", encoding="utf-8")
    bench = ["--benchmark", str(files["en"]), "--benchmark", str(files["ko"])]
    assert main(["data", "contamination", str(plain), *bench, "--check"]) == 2
    assert "nothing was checked" in capsys.readouterr().err
    rows = [{"id": "clean", "messages": [{"role": "user", "content": "What is 2 + 3?"},
                                         {"role": "assistant", "content": "5"}]},
            {"id": "copied-en", "messages": [{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": [{"type": "text", "text": en["problem"]}]},
                                             {"role": "assistant", "content": "70"}]},
            {"id": "copied-ko", "conversations": [{"from": "human", "value": "풀어 주세요."},
                                                  {"from": "gpt", "value": "문제: " + ko["problem"]}]}]
    sft = tmp_path / "sft.jsonl"
    sft.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert main(["data", "contamination", str(sft), *bench, "--check", "-o", str(tmp_path / "r.json")]) == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["documents"], report["chat_rows"], report["contaminated_documents"]) == (3, 3, 2)
    assert report["benchmarks"]["aime25_en.jsonl"]["found"][en["id"]]["examples"] == ["copied-en"]
    assert report["benchmarks"]["aime25_ko.jsonl"]["found"][ko["id"]]["examples"] == ["copied-ko"]
    sft.write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    assert main(["data", "contamination", str(sft), *bench, "--check"]) == 0


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning", "thinking"])
def test_a_chat_rows_trace_is_checked_under_each_name_sft_trains_it_from(tmp_path, field):
    """SFT trains an assistant's trace from `reasoning_content`, vLLM's `reasoning` or gpt-oss' `thinking`
    (text/reasoning.REASONING_FIELDS); the audit read only the first, so a problem copied into a trace under the
    other two was trained and never found."""
    from axk1.data.contamination_audit import audit

    files = write_aime(tmp_path / "bench")
    en = ROWS["en"][1]
    row = {"id": "traced", "messages": [{"role": "user", "content": "Solve the problem."},
                                        {"role": "assistant", "content": "70", field: "Recall: " + en["problem"]}]}
    sft = tmp_path / "sft.jsonl"
    sft.write_text(json.dumps(row) + "\n", encoding="utf-8")
    report = audit([sft], [str(files["en"])], progress=False)
    assert report["contaminated_documents"] == 1, report
    assert report["benchmarks"]["aime25_en.jsonl"]["found"][en["id"]]["examples"] == ["traced"]
