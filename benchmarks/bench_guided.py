"""Decode throughput of `axk1 serve` with and without a structured-output constraint, on one server.

A fresh axk1-tiny (random weights, the small test tokenizer) is served once; N streaming chat clients send
requests back to back for S seconds, free, then with `response_format` json_schema (SCHEMA: an object whose
strings and array are unbounded, so a reply runs to max_tokens as a free one does, and every step's mask is
computed in earnest), alternating `--rounds` times so that the machine's load falls on both alike. Reports
generated tokens/s and the mean decode batch of each run (the batch from /metrics, counted over the run).

    python benchmarks/bench_guided.py [--clients 8] [--seconds 30] [--max-tokens 64] [--rounds 1] [--threads 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch

from bench_serve import _load, _model_folder
from tests.serve_helpers import ServerProcess

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                           "tags": {"type": "array", "items": {"type": "string"}}},
          "required": ["name", "age", "tags"]}
CONSTRAINED = {"response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA}},
               "chat_template_kwargs": {"enable_thinking": False}}
FREE = {"chat_template_kwargs": {"enable_thinking": False}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = _model_folder("axk1-tiny", Path(tmp) / "axk1-tiny")
        with ServerProcess(folder, "--max-batch", str(args.clients), "--threads", str(args.threads),
                           "--max-model-len", "1024", timeout=300) as server:
            for _ in range(args.rounds):
                for name, body in (("free", FREE), ("json_schema", CONSTRAINED)):
                    before = server.metrics()
                    out = asyncio.run(_load(server.base, folder.name, args.clients, args.seconds, args.max_tokens,
                                            extra_body=body))
                    after = server.metrics()
                    steps = after["axk1_decode_steps_total"] - before["axk1_decode_steps_total"]
                    rows = after["axk1_decode_rows_total"] - before["axk1_decode_rows_total"]
                    runs.append({"run": name, "requests_ok": out["ok"], "failed": out["failed"],
                                 "tokens_per_request": round(out["tokens"] / max(1, out["ok"]), 1),
                                 "generated_tokens_per_s": round(out["tokens"] / out["wall_s"], 1),
                                 "mean_decode_batch": round(rows / steps, 1) if steps else 0,
                                 "first_errors": out["errors"][:2]})
    report = {"clients": args.clients, "seconds": args.seconds, "max_tokens": args.max_tokens,
              "server_threads": args.threads, "runs": runs,
              "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}"}
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
