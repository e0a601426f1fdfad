"""Decode throughput of `axk1 serve` with and without a structured-output constraint, on one server.

A fresh axk1-tiny (random weights, the small test tokenizer) is served once; N streaming chat clients send
requests back to back for S seconds, free, then with `response_format` json_schema (SCHEMA: an object whose
strings and array are unbounded, so a reply runs to max_tokens as a free one does, and every step's mask is
computed in earnest), alternating `--rounds` times so that the machine's load falls on both alike. Reports
generated tokens/s and the mean decode batch of each run (the batch from /metrics, counted over the run).

--engine measures the engine alone, in this process (no HTTP, no client): batches of --clients sequences of
--max-tokens tokens each, stepped to the end, free and constrained in turn --rounds times; the median tokens/s of
each kind, and per CPU second of the process (every thread's: on a shared machine the steadier figure).
Interleaving short batches makes a busy machine's drift fall on both alike. With --tokenizer FOLDER the model's
embedding and head are as wide as that tokenizer (axk1-tiny's body otherwise), and the constraint is compiled over
it: what a vocabulary of A.X K1's size (benchmarks/build_tokenizer_163k.py) costs a step.

    python benchmarks/bench_guided.py [--clients 8] [--seconds 30] [--max-tokens 64] [--rounds 1] [--threads 2]
                                      [--engine [--tokenizer /tmp/axk1_tok163k]]
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


def _engine_runs(clients: int, max_tokens: int, rounds: int, threads: int, tokenizer_dir: str | None) -> list[dict]:
    import statistics
    import time

    import llguidance

    import axk1
    from axk1.infer.engine import Engine, SamplingParams
    from axk1.infer.engine_config import EngineConfig
    from axk1.infer.guided import Guide
    from axk1.infer.guided_request import JSON_OPTIONS
    from tests.serve_helpers import train_tokenizer

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if tokenizer_dir:  # axk1-tiny's body under a head and embedding as wide as this tokenizer (eos 2 in both)
        from axk1.text.tokenizer_file import load_tokenizer
        tokenizer = load_tokenizer(Path(tokenizer_dir) / "tokenizer.json")
    else:
        tokenizer = train_tokenizer(512)
    V = tokenizer.get_vocab_size()
    model = axk1.AXK1ForCausalLM(axk1.ModelConfig.from_preset("axk1-tiny").replace(vocab_size=V)).eval()
    guide = Guide(tokenizer, V, [2], None)
    constraint = guide.compile(llguidance.LLMatcher.grammar_from_json_schema(SCHEMA, defaults=JSON_OPTIONS), "json")
    engine = Engine(model, EngineConfig(max_batch=clients, max_model_len=256))
    speeds: dict[str, list[float]] = {"free": [], "json_schema": []}
    cpu_speeds: dict[str, list[float]] = {"free": [], "json_schema": []}  # tokens per CPU second, all threads
    engine.submit([1, 5, 6], SamplingParams(8), lambda *a: None, n=clients)  # warm-up, not counted
    while engine.num_running or engine.num_waiting:
        engine.step()
    for r in range(rounds):
        for name, c in (("free", None), ("json_schema", constraint)):
            params = SamplingParams(max_tokens, temperature=1.0, seed=r, stop_ids=frozenset(), constraint=c)
            seqs = engine.submit([1] + list(range(5, 25)), params, lambda *a: None, n=clients)
            start, cpu = time.perf_counter(), time.process_time()
            while engine.num_running or engine.num_waiting:
                engine.step()
            speeds[name].append(sum(len(s.tokens) for s in seqs) / (time.perf_counter() - start))
            cpu_speeds[name].append(sum(len(s.tokens) for s in seqs) / (time.process_time() - cpu))
    return [{"run": f"engine, {name}", "batches": len(v), "tokens_per_s_median": round(statistics.median(v), 1),
             "tokens_per_s_min_max": [round(min(v), 1), round(max(v), 1)],
             "tokens_per_cpu_s_median": round(statistics.median(cpu_speeds[name]), 1)} for name, v in speeds.items()]


def _server_runs(clients: int, seconds: float, max_tokens: int, rounds: int, threads: int) -> list[dict]:
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = _model_folder("axk1-tiny", Path(tmp) / "axk1-tiny")
        with ServerProcess(folder, "--max-batch", str(clients), "--threads", str(threads),
                           "--max-model-len", "1024", timeout=300) as server:
            for _ in range(rounds):
                for name, body in (("free", FREE), ("json_schema", CONSTRAINED)):
                    before = server.metrics()
                    out = asyncio.run(_load(server.base, folder.name, clients, seconds, max_tokens, extra_body=body))
                    after = server.metrics()
                    steps = after["axk1_decode_steps_total"] - before["axk1_decode_steps_total"]
                    rows = after["axk1_decode_rows_total"] - before["axk1_decode_rows_total"]
                    runs.append({"run": name, "requests_ok": out["ok"], "failed": out["failed"],
                                 "tokens_per_request": round(out["tokens"] / max(1, out["ok"]), 1),
                                 "generated_tokens_per_s": round(out["tokens"] / out["wall_s"], 1),
                                 "mean_decode_batch": round(rows / steps, 1) if steps else 0,
                                 "first_errors": out["errors"][:2]})
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--engine", action="store_true", help="the engine alone, in process (see above)")
    parser.add_argument("--tokenizer", help="--engine: a folder with tokenizer.json, the model's vocabulary made as "
                                            "wide (benchmarks/build_tokenizer_163k.py builds A.X K1's size)")
    args = parser.parse_args()
    if args.engine:
        runs = _engine_runs(args.clients, args.max_tokens, args.rounds, args.threads, args.tokenizer)
    else:
        runs = _server_runs(args.clients, args.seconds, args.max_tokens, args.rounds, args.threads)
    report = {"tokenizer": args.tokenizer or "the 512-token test tokenizer", "clients": args.clients,
              "seconds": None if args.engine else args.seconds, "max_tokens": args.max_tokens,
              "threads": args.threads, "runs": runs,
              "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}"}
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
