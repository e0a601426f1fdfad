"""The synth pipeline's kept path and every rejection path, with a teacher whose replies are known.

The teacher here is a small OpenAI-compatible HTTP app that answers from the prompt (a random tiny model cannot
write well-formed samples); the pipeline, HTTP client, cache and checks are the real ones."""

import json

import pytest
from fastapi.responses import JSONResponse

from axk1.synth.pipeline import run_synth
from axk1.synth.recipe import load_synth_recipe
from tests.aime_rows import ROWS, write_aime
from tests.serve_helpers import ROOT, app_server
from tests.synth_helpers import teacher_app

AIME_PROBLEM = ROWS["en"][0]["problem"]
KO = "서울특별시는 대한민국의 수도이며 인구는 약 940만 명이다. 한강이 도시의 가운데를 동서로 가로질러 흐른다. " * 2
EN = "The Han river flows through Seoul from east to west. Seoul has about 9.4 million people and many bridges. " * 2
DOCS = [
    {"id": "ko", "text": KO, "metadata": {"language": "ko"}},
    {"id": "en", "text": EN, "metadata": {"language": "en"}},
    {"id": "en-copy", "text": EN, "metadata": {"language": "en"}},  # same text: its samples duplicate "en"'s
    {"id": "aime", "text": "A contest problem: " + AIME_PROBLEM + " " + EN, "metadata": {"language": "en"}},
    {"id": "drift", "text": KO.replace("한강", "강"), "metadata": {"language": "ko"}},
]


def _reply(prompt: str) -> str:
    passage = prompt.split("Passage:\n", 1)[-1].split("글:\n", 1)[-1]
    if "Question:" in prompt:  # English QA, grounded in the passage's first sentence
        if "contest problem" in passage:
            return f"Question: What is the contest problem?\nAnswer: {AIME_PROBLEM}"
        return f"Question: What flows through Seoul?\nAnswer: {passage.split('. ')[0]}."
    if "질문:" in prompt:
        if " 강이" in passage:  # the "drift" document: the teacher answers in English
            return "질문: 수도는?\n답변: The capital is Seoul, a very large city."
        return "질문: 대한민국의 수도는 어디인가요?\n답변: 대한민국의 수도는 서울특별시이며 인구는 약 940만 명입니다."
    if "Rewrite the passage" in prompt:
        return f"Here is the explanation:\n{passage.strip()}"  # a copy of the source
    return "다음은 설명입니다:\n서울은 우리나라의 수도예요. 큰 강인 한강이 도시 한가운데를 흘러서 다리가 아주 많답니다."


async def _answer(body):
    if "FAIL-ME" in body["messages"][0]["content"]:
        return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, status_code=500)
    content = _reply(body["messages"][0]["content"])
    return {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}}


@pytest.fixture(scope="module")
def teacher():
    calls = []
    with app_server(teacher_app(calls, _answer)) as port:
        yield f"http://127.0.0.1:{port}/v1", calls


def test_kept_and_rejected_samples_with_their_reasons(teacher, tmp_path):
    url, calls = teacher
    recipe = load_synth_recipe(ROOT / "recipes" / "synth" / "default.toml")
    recipe.tasks = [t for t in recipe.tasks if t.name in ("qa", "explain-easy")]
    recipe.passages.min_chars = 100
    docs = tmp_path / "docs.jsonl"
    docs.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in DOCS))
    assert recipe.filters.benchmarks == ["humaneval"]  # the default; AIME comes in as --decontam would bring it
    aime = [str(p) for p in write_aime(tmp_path / "eval").values()]
    summary = run_synth(docs, recipe, url, tmp_path / "out.jsonl", extra_benchmarks=aime, progress=False)
    kept = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    rejected = {(r["source"]["doc_id"], r["task"]): r["reason"]
                for r in map(json.loads, (tmp_path / "out.rejected.jsonl").read_text().splitlines())}

    assert summary.requests == 10 and summary.sent == 10 and len(calls) == 10
    assert summary.generated == summary.kept + summary.rejected == 10
    assert {(k["source"]["doc_id"], k["task"]) for k in kept} == {("ko", "qa"), ("ko", "explain-easy"), ("en", "qa")}
    assert kept[0]["fields"]["question"] == "대한민국의 수도는 어디인가요?" and kept[0]["metadata"]["model"] == "scripted"
    assert kept[1]["fields"]["text"].startswith("서울은")  # the preamble line was stripped
    assert kept[1]["metadata"]["style"] == "중학생"
    assert rejected[("en", "explain-easy")].startswith("dedup: a copy of the source")
    assert rejected[("en-copy", "qa")].startswith("dedup: near-duplicate of")
    assert rejected[("aime", "qa")].startswith("decontamination:") and "aime25" in rejected[("aime", "qa")]
    assert rejected[("drift", "qa")].startswith("language: Hangul ratio")
    assert rejected[("drift", "explain-easy")].startswith("dedup: near-duplicate of")
    assert rejected[("en-copy", "explain-easy")].startswith("dedup: a copy of the source")
    assert rejected[("aime", "explain-easy")].startswith("decontamination:")
    assert summary.rejections == {"dedup": 4, "decontamination": 2, "language": 1}
    table = summary.table()
    assert "qa" in table and "rejected by check" in table

    calls.clear()
    rerun = run_synth(docs, recipe, url, tmp_path / "out.jsonl", extra_benchmarks=aime, progress=False)
    assert rerun.sent == 0 and rerun.cache_hits == 10 and calls == []


def test_failed_requests_are_counted_and_written(teacher, tmp_path):
    url, _ = teacher
    prompt = tmp_path / "p.txt"
    prompt.write_text("FAIL-ME {passage}")
    (tmp_path / "r.toml").write_text(f'[teacher]\nretries = 0\n[passages]\nmin_chars = 10\n'
                                     f'[[tasks]]\nname = "broken"\nkind = "qa"\nprompts = {{ en = "{prompt}" }}\n')
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "d", "text": "Seoul is on the Han river, a wide river."}) + "\n")
    summary = run_synth(docs, load_synth_recipe(tmp_path / "r.toml"), url, tmp_path / "o.jsonl", progress=False)
    assert summary.requests == 1 and summary.failed == 1 and summary.generated == 0
    failed = json.loads((tmp_path / "o.failed.jsonl").read_text())
    assert failed["doc_id"] == "d" and failed["reason"]
    assert failed["reason"].startswith("InternalServerError") and "boom" in failed["reason"]
