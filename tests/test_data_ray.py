"""The scale path run for real: the data pipeline on datatrove's Ray executor, on a local Ray cluster started
here, gives the same documents and the same accounting as the local executor."""

import json
import random

import pytest
import ray

from axk1.data.config import config_from_dict
from axk1.data.pdf_render import render_pdf
from axk1.data.pipeline import run_pipeline
from axk1.data.stats import account, iter_records
from axk1.data.textgen import english_document, korean_document, korean_paragraph


def _inputs(root):
    rng = random.Random(3)
    root.mkdir()
    docs = [korean_document(rng, 2, 5) for _ in range(12)] + [english_document(rng, 2, 4) for _ in range(3)]
    docs += [docs[1], "짧다"]  # an exact duplicate and a too-short document
    with open(root / "a.jsonl", "w", encoding="utf-8") as f:
        for i, t in enumerate(docs):
            f.write(json.dumps({"id": f"d{i}", "text": t}, ensure_ascii=False) + "\n")
        f.write("{broken\n")
    (root / "pdf").mkdir()
    render_pdf(root / "pdf" / "p.pdf", [korean_paragraph(rng, 6) for _ in range(3)], header="머리말")
    return len(docs) + 2


def _config(root, out, executor):
    return config_from_dict({
        "run": {"output_dir": str(out), "tasks": 2, "workers": 2, "executor": executor, "start_method": "fork",
                "stages": ["extract", "dedup", "annotate"]},
        "sources": [{"type": "jsonl", "path": str(root / "a.jsonl")}, {"type": "pdf", "path": str(root / "pdf")}],
        "pdf": {"join": "rules", "ocr": "none"},
        "filters": {"quality": {"word_tokenizer": "regex", "min_words": 20}},
        "dedup": {"num_buckets": 2}})  # 14 buckets would be 14 Ray tasks of ~2 s start-up each on 2 cores


def _documents(out):
    return sorted(json.dumps({k: v for k, v in r.items() if k != "metadata"} | {"meta": r.get("metadata", {})},
                             ensure_ascii=False, sort_keys=True) for r in iter_records(out / "documents"))


@pytest.mark.e2e
def test_ray_executor_output_identical_to_local(tmp_path):
    root = tmp_path / "in"
    n_inputs = _inputs(root)
    run_pipeline(_config(root, tmp_path / "local", "local"), progress=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert ray.cluster_resources().get("CPU") == 2  # the cluster the executor runs on is this local one
        run_pipeline(_config(root, tmp_path / "ray", "ray"), progress=False)
    finally:
        ray.shutdown()
    local, on_ray = account(tmp_path / "local"), account(tmp_path / "ray")
    assert local.balanced and on_ray.balanced and on_ray.inputs == local.inputs == n_inputs
    assert on_ray.as_dict() == local.as_dict()
    docs = _documents(tmp_path / "ray")
    assert len(docs) == local.kept > 10 and docs == _documents(tmp_path / "local")
    # every rank of every stage ran (as a Ray task) and left its completion marker, as on the local executor
    def marks(out):
        return {d.name: len(list((d / "completions").iterdir())) for d in (out / "logs").iterdir()}

    assert marks(tmp_path / "ray") == marks(tmp_path / "local") and marks(tmp_path / "ray")["extract"] == 2
