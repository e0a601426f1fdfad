"""Evaluation harness speed: sandboxed test executions per second, the wall time to grade 1,000 code samples × 10
tests, and concurrent requests against an OpenAI-compatible HTTP backend.

    .venv/bin/python benchmarks/bench_eval.py [--samples 1000] [--tests 10] [--workers 2]

The HTTP part uses a local standard-library server that answers after a fixed delay (a stand-in for a model's
latency), so it measures the client's concurrency, not a model.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from axk1.eval.backends import Request, Sampling
from axk1.eval.openai_backend import OpenAIBackend
from axk1.eval.execution import run_checked, run_tests, run_tests_many
from axk1.eval.sandbox import run_parallel

SOLUTION = "import sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)\n"


def tests_for(n: int) -> dict:
    return {"inputs": [f"{i} {2 * i}\n" for i in range(n)], "outputs": [f"{3 * i}\n" for i in range(n)],
            "fn_name": None}


def bench_grading(samples: int, n_tests: int, workers: int, mode: str) -> dict:
    tests = tests_for(n_tests)
    jobs = [(SOLUTION if i % 10 else "print(0)", tests) for i in range(samples)]  # 10% wrong (stop early)
    start = time.perf_counter()
    outcomes = run_tests_many(jobs, mode, timeout_s=6, workers=workers, desc=f"grading ({mode})")
    wall = time.perf_counter() - start
    executed = sum(len(o.results) for o in outcomes)
    passed = sum(o.passed for o in outcomes)
    assert passed == samples - len(range(0, samples, 10)), "unexpected verdicts"
    return {"mode": mode, "samples": samples, "tests_per_sample": n_tests, "workers": workers, "wall_s": round(wall, 2),
            "test_executions": executed, "executions_per_s": round(executed / wall, 1),
            "samples_per_s": round(samples / wall, 1)}


def bench_programs(count: int, workers: int) -> dict:
    start = time.perf_counter()
    outcomes = run_parallel(lambda _: run_checked("def one():\n    return 1\n", "assert one() + 1 == 2\n"),
                            range(count), workers)
    wall = time.perf_counter() - start
    assert all(o.passed for o in outcomes)
    single = run_tests(SOLUTION, tests_for(1)).wall_s
    return {"programs": count, "workers": workers, "wall_s": round(wall, 2), "programs_per_s": round(count / wall, 1),
            "one_sandboxed_run_s": round(single, 3)}


class _Slow(BaseHTTPRequestHandler):
    delay_s = 0.1

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.delay_s)
        data = json.dumps({"choices": [{"message": {"content": "\\boxed{1}"}, "finish_reason": "stop"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def bench_http(requests: int, concurrencies: tuple[int, ...]) -> list[dict]:
    ThreadingHTTPServer.request_queue_size = 256  # the default backlog of 5 would stall high concurrency
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    rows = []
    try:
        for c in concurrencies:
            backend = OpenAIBackend(base, model="bench", concurrency=c)
            batch = [Request([{"role": "user", "content": "1+1?"}], seed=i) for i in range(requests)]
            start = time.perf_counter()
            out = backend.generate(batch, Sampling(max_tokens=8))
            wall = time.perf_counter() - start
            assert all(not o.error for o in out)
            rows.append({"concurrency": c, "requests": requests, "server_delay_s": _Slow.delay_s,
                         "wall_s": round(wall, 2), "requests_per_s": round(requests / wall, 1)})
    finally:
        server.shutdown()
        server.server_close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--tests", type=int, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--requests", type=int, default=64)
    args = parser.parse_args()
    results = {"cpu_count": os.cpu_count(), "programs": bench_programs(100, args.workers)}
    results["grading"] = [bench_grading(args.samples, args.tests, args.workers, mode) for mode in ("strict", "tolerant")]
    results["http"] = bench_http(args.requests, (1, 8, 32))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
