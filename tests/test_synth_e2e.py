"""`axk1 serve` on a small axk1 model as the teacher of `axk1 data synth`, over real HTTP:
output schema, accounting, and a second run answered entirely from the cache (no request reaches the server)."""

import json
import shutil

import pytest

from axk1.cli import main as synth_main
from tests.serve_helpers import ROOT, ServerProcess, make_model_folder

pytestmark = pytest.mark.e2e

DOCS = [
    {"id": "ko-1", "text": "서울특별시는 대한민국의 수도이며 한강이 도시를 가로지른다. " * 4, "metadata": {"language": "ko"}},
    {"id": "en-math", "text": "If 3x + 5 = 20, then 3x = 15 and x = 5. The square of 5 is 25, and 2^3 = 8. " * 3,
     "metadata": {"language": "en", "domain": "math"}},
    {"id": "empty", "text": "   ", "metadata": {}},
    {"id": "short", "text": "Too short.", "metadata": {}},
]


def _recipe(tmp_path):
    prompts = ROOT / "recipes" / "synth" / "prompts"
    text = (ROOT / "recipes" / "synth" / "default.toml").read_text()
    text = text.replace('"prompts/', f'"{prompts}/').replace("max_tokens = 1024", "max_tokens = 12")
    text = text.replace("min_chars = 200", "min_chars = 100").replace("concurrency = 8", "concurrency = 4")
    path = tmp_path / "synth.toml"
    path.write_text(text)
    return path


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_synth_against_axk1_serve_accounts_for_everything_and_caches(tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in DOCS) + "\n{not json\n")
    recipe = _recipe(tmp_path)
    out = tmp_path / "out" / "synth.jsonl"
    folder = make_model_folder(tmp_path / "teacher-tiny")
    with ServerProcess(folder, "--max-batch", "8") as server:
        args = ["data", "synth", str(docs), "--teacher", f"openai:{server.base}", "--recipe", str(recipe),
                "-o", str(out), "--no-progress"]
        code = synth_main(args)
        summary = json.loads((out.parent / "synth.summary.json").read_text())
        kept, rejected = _rows(out), _rows(out.parent / "synth.rejected.jsonl")
        # a tiny random teacher cut at 12 tokens may have all its samples rejected: a run that keeps nothing fails
        assert code == (0 if kept else 1)
        first = {p: (out.parent / p).read_text() for p in ("synth.jsonl", "synth.rejected.jsonl")}
        served = server.metrics()

        # accounting: documents, requests, samples
        assert summary["documents"] == 5
        assert summary["documents_used"] == 2 and sum(summary["excluded"].values()) == 3
        # ko-1: qa + 2 rewrites; en-math: qa + reasoning + 2 rewrites; one passage each
        assert summary["requests"] == 7 and summary["sent"] == 7 and summary["cache_hits"] == 0
        assert summary["generated"] + summary["failed"] == summary["requests"]
        assert summary["generated"] == summary["kept"] + summary["rejected"] == len(kept) + len(rejected)
        assert summary["failed"] == 0
        assert served['axk1_requests_total{endpoint="/v1/chat/completions",status="200"}'] == 7

        # schema: every rejected sample says why, and carries what produced it
        for row in kept + rejected:
            assert {"id", "text", "task", "kind", "language", "fields", "source", "metadata"} <= set(row)
            assert row["source"]["doc_id"] in {"ko-1", "en-math"}
            meta = row["metadata"]
            assert meta["teacher"] == server.base + "/v1" and meta["model"] == folder.name
            assert {"prompt_id", "prompt_sha", "style", "seed", "finish_reason", "usage"} <= set(meta)
        assert all(r["reason"] and "reply" in r for r in rejected)
        reasoning = [r for r in kept + rejected if r["kind"] == "reasoning"]
        assert [r["source"]["doc_id"] for r in reasoning] == ["en-math"]

        # a second run: everything from the cache, no request reaches the server, same files
        shutil.copy(out.parent / "synth.summary.json", tmp_path / "first-summary.json")
        assert synth_main(args) == code
        again = json.loads((out.parent / "synth.summary.json").read_text())
        assert again["sent"] == 0 and again["cache_hits"] == 7
        assert {p: (out.parent / p).read_text() for p in first} == first
        after = server.metrics()
        untouched = [k for k in served if k.startswith("axk1_requests_total") and "/metrics" not in k]
        assert {k: after[k] for k in untouched} == {k: served[k] for k in untouched}
