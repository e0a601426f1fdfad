"""Does one very large reply stall everyone else while it is built and sent? A real `axk1 serve` on axk1-tiny is asked
for a /v1/completions of n choices with top-k logprobs (n=48 x 1,000 tokens x 20 logprobs: a 30 MB JSON body) while
a probe asks /health every 10 ms. Reports the reply's size and time and the probe's worst and median wait, apart for
the generation and for the reply's making (from the engine's last token, seen as /metrics' running requests
falling to 0, to the reply's last byte): a reply joined, encoded or written in one piece shows up as the worst
/health wait of that second phase. The generation's own waits are the engine thread's Python (sampling, logprobs)
taking the GIL from the event loop.

    python benchmarks/bench_serve_big_reply.py [--n 48] [--tokens 1000] [--logprobs 20] [--runs 3] [--json out]
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

from tests.serve_helpers import ServerProcess, make_model_folder  # noqa: E402


def _get(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path)
    data = conn.getresponse().read()
    conn.close()
    return data


def _probe(port: int, out: list[tuple[float, float]], stop: threading.Event) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        _get(port, "/health")
        out.append((t, time.perf_counter() - t))
        time.sleep(0.01)


def _generation_end(port: int, out: list[float], stop: threading.Event) -> None:
    """When the engine finished the request: /metrics' running requests back to 0 after being above it."""
    seen_running = False
    while not stop.is_set():
        running = any(line.startswith("axk1_num_requests_running ") and float(line.split()[1]) > 0
                      for line in _get(port, "/metrics").decode().splitlines())
        if running:
            seen_running = True
        elif seen_running:
            out.append(time.perf_counter())
            return
        time.sleep(0.02)


def _waits(waits: list[tuple[float, float]], start: float, end: float) -> dict:
    inside = [w for t, w in waits if start <= t + w and t <= end]  # probes whose wait overlaps the phase
    return {"worst_s": round(max(inside), 3), "median_s": round(statistics.median(inside), 4), "probes": len(inside)}


def run(port: int, body: dict) -> dict:
    waits: list[tuple[float, float]] = []
    ended: list[float] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_probe, args=(port, waits, stop)),
               threading.Thread(target=_generation_end, args=(port, ended, stop))]
    for t in threads:
        t.start()
    time.sleep(0.3)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    conn.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    reply = conn.getresponse()
    data = reply.read()
    end = time.perf_counter()
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    assert reply.status == 200 and ended, data[:500]
    return {"reply_mb": round(len(data) / 1e6, 1), "reply_s": round(end - start, 2),
            "making_s": round(end - ended[0], 2), "health_generation": _waits(waits, start, ended[0]),
            "health_making": _waits(waits, ended[0], end)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--logprobs", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    body = {"prompt": [5, 6, 7], "n": args.n, "max_tokens": args.tokens, "logprobs": args.logprobs,
            "ignore_eos": True, "temperature": 1.0}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_model_folder(Path(tmp) / "tiny")
        with ServerProcess(folder, "--max-batch", str(max(32, args.n)), timeout=120) as server:
            for _ in range(args.runs):
                results.append(run(server.port, body))
                print(json.dumps(results[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
