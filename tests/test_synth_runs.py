"""`axk1 data synth` runs as a user meets them: the kept file read as it is by `axk1 sft` (a chat row beside the
text) and by the pretraining pipeline, two runs on one output or cache, a run that keeps nothing, and its progress
in a log. The teacher is a small OpenAI-compatible HTTP app; the pipeline, HTTP client, cache and checks are the real
ones."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from axk1.checkpoint.run_lock import FolderInUse
from axk1.cli import main
from axk1.data.sources import SourceConfig, read_source_file
from axk1.infer.chat import ChatCodec
from axk1.posttrain.chat_data import load_chat_examples
from axk1.synth.pipeline import run_synth
from axk1.synth.recipe import load_synth_recipe
from tests.serve_helpers import ROOT, make_model_folder
from tests.synth_helpers import (GOOD, PROMPT, REASONED, completion_body, docs_file, jsonl_rows, serve_teacher,
                                 synth_recipe)

TRACE = "Each box holds seven balls; two boxes hold fourteen."
started, release = threading.Event(), threading.Event()  # the first HOLD request waits for `release`


async def _answer(body):
    prompt = body["messages"][0]["content"]
    passage = prompt.split("Passage:\n", 1)[-1]
    if "HOLD" in passage and not started.is_set():
        started.set()
        while not release.is_set():
            await asyncio.sleep(0.05)
    if "EMPTY" in passage:
        return completion_body(body["model"], "")
    if "Final answer:" in prompt:  # the reasoning prompt; its task thinks
        return completion_body(body["model"], REASONED, TRACE)
    return completion_body(body["model"],
                           f"Question: Where does the Han river flow?\nAnswer: {passage.split('. ')[0]}.")


@pytest.fixture(scope="module")
def teacher():
    with serve_teacher(_answer) as found:
        yield found


def _args(url, docs, recipe, out, *extra):
    return ["data", "synth", str(docs), "--teacher", f"openai:{url}", "--recipe", str(recipe), "-o", str(out), *extra]


def test_kept_qa_and_reasoning_samples_are_chat_rows_sft_reads_and_text_the_pipeline_reads(teacher, tmp_path):
    """Every kept row was excluded by `axk1 sft` as "no messages": a synth row had text and fields only."""
    url, _ = teacher
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[teacher]\nretries = 0\n[passages]\nmin_chars = 10\n[filters]\nbenchmarks = []\n'
                      f'[[tasks]]\nname = "qa"\nkind = "qa"\nprompts = {{ en = "{PROMPT}" }}\n'
                      f'[[tasks]]\nname = "steps"\nkind = "reasoning"\nthinking = true\n'
                      f'prompts = {{ en = "{PROMPT.with_name("reasoning.en.txt")}" }}\n')
    docs = docs_file(tmp_path, [{"id": "seoul", "text": GOOD}])
    summary = run_synth(docs, load_synth_recipe(recipe), url, tmp_path / "o.jsonl", progress=False)
    assert summary.kept == 2
    qa, steps = jsonl_rows(tmp_path / "o.jsonl")
    codec = ChatCodec.from_folder(make_model_folder(tmp_path / "model"))
    examples, report = load_chat_examples([tmp_path / "o.jsonl"], codec, "keep", 512)
    assert dict(report.excluded) == {} and len(examples) == 2
    decode = codec.tokenizer.decode
    (qa_prompt, qa_reply), (steps_prompt, steps_reply) = [
        (decode(e.ids[:e.n_prompt].tolist(), skip_special_tokens=False),
         decode(e.ids[e.n_prompt:].tolist(), skip_special_tokens=False)) for e in examples]
    assert qa["fields"]["question"] in qa_prompt and qa["fields"]["answer"] in qa_reply
    assert qa["fields"]["answer"] not in qa_prompt and [e.mode for e in examples] == ["non-think", "think"]
    assert steps["fields"]["problem"] in steps_prompt and steps["fields"]["teacher_reasoning"] == TRACE
    assert TRACE in steps_reply and f"Final answer: {steps['fields']['final_answer']}" in steps_reply
    assert steps_reply.index(TRACE) < steps_reply.index(steps["fields"]["solution"])
    # the pretraining pipeline's JSONL reader takes the same rows' text
    read = list(read_source_file(SourceConfig(type="jsonl", path=str(tmp_path), name="synth"), tmp_path / "o.jsonl"))
    assert [d.text for d in read] == [qa["text"], steps["text"]]


HOLDER_ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def test_a_second_run_on_an_output_or_cache_in_use_is_refused_before_asking_anything(teacher, tmp_path):
    """Two runs on one -o (or one cache) each paid for every request, and the one ending last replaced the other's
    files."""
    url, calls = teacher
    docs = docs_file(tmp_path, [{"id": "hold", "text": f"HOLD. {GOOD}"}])
    recipe, out = synth_recipe(tmp_path), tmp_path / "o.jsonl"
    first = subprocess.Popen([sys.executable, "-m", "axk1", *_args(url, docs, recipe, out, "--no-progress")],
                             env=HOLDER_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert started.wait(120), "the first run never asked the teacher"
        asked = len(calls)
        with pytest.raises(FolderInUse, match=rf"{out} is in use by another `axk1 data synth` run \(process "
                                              rf"{first.pid} on .*give this run another -o file"):
            run_synth(docs, load_synth_recipe(recipe), url, out, progress=False)
        cache = tmp_path / "o.jsonl.cache.sqlite"
        with pytest.raises(FolderInUse, match=rf"{cache} is in use .*give this run another --cache file"):
            run_synth(docs, load_synth_recipe(recipe), url, tmp_path / "other.jsonl", cache_path=cache, progress=False)
        assert len(calls) == asked and not (tmp_path / "other.jsonl").exists()
    finally:
        release.set()
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    again = run_synth(docs, load_synth_recipe(recipe), url, out, progress=False)  # the first one gone: free
    assert again.cache_hits == 1 and again.kept == 1


def test_a_run_that_keeps_nothing_fails_naming_the_rejections(teacher, tmp_path, capsys):
    url, _ = teacher
    docs = docs_file(tmp_path, [{"id": f"e{i}", "text": f"EMPTY {i}. {GOOD}"} for i in range(3)])
    assert main(_args(url, docs, synth_recipe(tmp_path), tmp_path / "o.jsonl", "--no-progress")) == 1
    err = capsys.readouterr().err
    assert (f"axk1 data synth: error: none of the 3 samples generated was kept; rejected by check: format 3. Each "
            f"sample's reason is in {tmp_path / 'o.rejected.jsonl'}") in err


def test_progress_in_a_log_is_plain_lines(teacher, tmp_path, capsys):
    """tqdm's carriage-return frames went into a log (stderr not a terminal) as one endless line."""
    url, _ = teacher
    docs = docs_file(tmp_path, [{"id": f"d{i}", "text": f"Document {i} of the river. {GOOD}"} for i in range(3)])
    assert main(_args(url, docs, synth_recipe(tmp_path), tmp_path / "o.jsonl")) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert [line for line in err.splitlines() if line.startswith("teacher:")] == [
        "teacher: 1/3 requests answered", "teacher: 2/3 requests answered", "teacher: 3/3 requests answered"]


def test_a_stop_while_the_outputs_are_renamed_into_place_leaves_one_runs_set(teacher, tmp_path, monkeypatch):
    """The kept, rejected, failed and excluded files and the summary were renamed into place one by one with Ctrl-C
    and SIGTERM free to land between two renames: this run's kept file then stood beside the earlier run's summary
    (and side files), which described other samples. The stop now waits for the last rename and ends the run after."""
    url, _ = teacher
    recipe, out = load_synth_recipe(synth_recipe(tmp_path)), tmp_path / "o.jsonl"
    earlier = docs_file(tmp_path, [{"id": "seoul", "text": GOOD}], name="earlier.jsonl")
    assert run_synth(earlier, recipe, url, out, progress=False).kept == 1
    docs = docs_file(tmp_path, [{"id": "busan", "text": "Busan lies on the coast, where the Nakdong river meets the "
                                                         "sea."}, {"id": "daegu", "text": "Daegu lies inland, in a "
                                                                   "basin ringed by mountains to the north."}])
    real_replace = os.replace

    def ctrl_c_after_the_kept_file(src, dst):
        real_replace(src, dst)
        if Path(dst) == out:
            signal.raise_signal(signal.SIGINT)  # as a user's Ctrl-C at that moment: Python's KeyboardInterrupt

    monkeypatch.setattr(os, "replace", ctrl_c_after_the_kept_file)
    with pytest.raises(KeyboardInterrupt):
        run_synth(docs, recipe, url, out, progress=False)
    summary = json.loads(out.with_name("o.summary.json").read_text())
    assert summary["kept"] == len(jsonl_rows(out)) == 2 and summary["documents"] == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_an_error_while_the_answers_are_sorted_out_leaves_the_earlier_files_and_nothing_else(teacher, tmp_path,
                                                                                             monkeypatch):
    """The outputs were written to o.jsonl.tmp and the like beside their places, and an error while the answers were
    sorted into them left every .tmp file behind. They are now written in a staging folder (file_set.publish_set),
    which goes with the error; the earlier run's files stay as they were."""
    url, _ = teacher
    recipe, out = load_synth_recipe(synth_recipe(tmp_path)), tmp_path / "o.jsonl"
    assert run_synth(docs_file(tmp_path, [{"id": "seoul", "text": GOOD}], name="earlier.jsonl"), recipe, url, out,
                     progress=False).kept == 1
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}

    def sort_out_then_fail(jobs, results, teacher, recipe, checker, summary, rejections, files):
        files["kept"].write('{"half": ')
        raise RuntimeError("a filter broke")

    monkeypatch.setattr("axk1.synth.pipeline._sort_out", sort_out_then_fail)
    with pytest.raises(RuntimeError, match="a filter broke"):
        run_synth(docs_file(tmp_path, [{"id": "busan", "text": GOOD}]), recipe, url, out, progress=False)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert set(after) == set(before) | {"docs.jsonl"}  # no o.jsonl.tmp, o.rejected.jsonl.tmp, ... left
    for name in ("o.jsonl", "o.rejected.jsonl", "o.failed.jsonl", "o.excluded.jsonl", "o.summary.json"):
        assert after[name] == before[name], name  # the cache took the new replies: they are paid for
    assert not [p.name for p in tmp_path.iterdir() if p.is_dir() and "staging" in p.name]
