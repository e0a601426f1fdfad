"""Shared by the synth tests: a scripted OpenAI-compatible teacher served on a free port, its replies, a synth
recipe, document files and the JSONL rows a run writes."""

import json
from contextlib import contextmanager

from fastapi import FastAPI, Request

from axk1.synth.pipeline import run_synth
from axk1.synth.recipe import load_synth_recipe
from tests.serve_helpers import ROOT, app_server

PROMPT = ROOT / "recipes" / "synth" / "prompts" / "qa.en.txt"


GOOD = "Seoul lies on the Han river, which flows through the city from east to west."


REASONED = ("Problem: A box holds 3 red and 4 blue balls. How many balls are in two such boxes?\nSolution:\n"
            "1. One box holds 3 + 4 = 7 balls.\n2. Two boxes hold 2 x 7 = 14 balls.\nFinal answer: 14")


def completion_body(model, content, reasoning=None, finish="stop"):
    """An OpenAI chat.completion body whose one choice says `content` (and `reasoning`, if given)."""
    message = {"role": "assistant", "content": content, **({"reasoning_content": reasoning} if reasoning else {})}
    return {"id": "x", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def teacher_app(calls, answer):
    """A scripted OpenAI-compatible teacher: /v1/models, and /v1/chat/completions answered by `answer(body)` (a
    coroutine returning the reply), every request body appended to `calls`."""
    app = FastAPI()

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": "scripted", "object": "model", "created": 0, "owned_by": "t"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        calls.append(body)
        return await answer(body)

    return app


@contextmanager
def serve_teacher(answer):
    """`teacher_app(calls, answer)` served on a free port: yields (its /v1 url, the request bodies it got)."""
    calls = []
    with app_server(teacher_app(calls, answer)) as port:
        yield f"http://127.0.0.1:{port}/v1", calls


def synth_recipe(tmp_path, extra="", kind="qa", benchmarks="[]"):
    """A synth recipe file with one task of `kind` (its English prompt), `extra` TOML in [teacher]."""
    path = tmp_path / "r.toml"
    prompt = PROMPT.with_name(f"{kind}.en.txt")
    path.write_text(f'[teacher]\nretries = 0\n{extra}\n[passages]\nmin_chars = 10\n'
                    f'[filters]\nbenchmarks = {benchmarks}\n'
                    f'[[tasks]]\nname = "{kind}"\nkind = "{kind}"\nprompts = {{ en = "{prompt}" }}\n')
    return path


def docs_file(tmp_path, rows, name="docs.jsonl"):
    """A documents file of `rows`: a dict is one JSON line, bytes are written as they are."""
    path = tmp_path / name
    path.write_bytes(b"".join(r if isinstance(r, bytes) else (json.dumps(r) + "\n").encode() for r in rows))
    return path


def jsonl_rows(path):
    """The JSON rows of a JSONL file, blank lines skipped."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def synth_run(tmp_path, url, docs, extra="", out="o.jsonl"):
    """run_synth of `docs` against the teacher at `url`, with synth_recipe(tmp_path, extra), into tmp_path/out."""
    return run_synth(docs, load_synth_recipe(synth_recipe(tmp_path, extra)), url, tmp_path / out, progress=False)
