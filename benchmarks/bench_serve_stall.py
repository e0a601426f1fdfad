"""Does one costly request body stall everyone else? A real `axk1 serve` on axk1-tiny gets bodies of ~1.4 MB made of
340,000 empty JSON lists in a field it ignores (under the size limit: all of it must be parsed and checked), from 1
and then 8 clients at once, while a probe asks /health every 10 ms. Reports each body's answer time and the probe's
worst and median latency: a check that runs on the event loop shows up as /health waiting as long as the checks.
`--context 131072` extends the model with YaRN to A.X K1's context, whose byte limit is 8 MiB; `--string` sends
one long string in the ignored field instead of lists.

    python benchmarks/bench_serve_stall.py [--items 340000] [--clients 1,8] [--context N] [--string] [--json out]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import axk1  # noqa: E402
from tests.serve_helpers import ServerProcess, make_model_folder, yarn_extended  # noqa: E402


def _post(port: int, body: bytes) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    t = time.perf_counter()
    conn.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status, time.perf_counter() - t


def _probe(port: int, out: list[float], stop: threading.Event) -> None:
    while not stop.is_set():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        t = time.perf_counter()
        conn.request("GET", "/health")
        conn.getresponse().read()
        conn.close()
        out.append(time.perf_counter() - t)
        time.sleep(0.01)


def run(port: int, body: bytes, clients: int) -> dict:
    latencies: list[float] = []
    answers: list[tuple[int, float]] = []
    stop = threading.Event()
    probe = threading.Thread(target=_probe, args=(port, latencies, stop))
    probe.start()
    time.sleep(0.3)
    workers = [threading.Thread(target=lambda: answers.append(_post(port, body))) for _ in range(clients)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    probe.join()
    return {"clients": clients, "statuses": sorted({s for s, _ in answers}),
            "body_answer_s_max": round(max(t for _, t in answers), 3),
            "health_worst_s": round(max(latencies), 3), "health_median_s": round(statistics.median(latencies), 4),
            "health_probes": len(latencies)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, default=340_000)
    p.add_argument("--clients", default="1,8")
    p.add_argument("--context", type=int, default=None, help="extend axk1-tiny's 1,024 tokens to this with YaRN")
    p.add_argument("--string", action="store_true", help="one string of --items x 3 bytes instead of lists")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    field = b'"' + b"a" * (3 * args.items) + b'"' if args.string else b"[" + b",".join([b"[]"] * args.items) + b"]"
    body = b'{"model": "tiny", "prompt": "a", "max_tokens": 1, "x": ' + field + b"}"
    config = axk1.ModelConfig.from_preset("axk1-tiny")
    extra = []
    if args.context:
        config = yarn_extended(config, args.context / config.max_position_embeddings)
        extra = ["--cache-tokens", str(args.context)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_model_folder(Path(tmp) / "tiny", config=config)
        with ServerProcess(folder, "--served-model-name", "tiny", *extra) as server:
            _post(server.port, body)  # warm-up
            rows = [run(server.port, body, int(c)) for c in args.clients.split(",")]
    result = {"body_bytes": len(body), "rows": rows}
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
