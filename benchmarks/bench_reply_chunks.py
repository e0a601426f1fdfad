"""How long does the event loop wait while a big non-streaming reply is encoded and sent, whole or in chunks? A
synthetic reply shaped as the server's (n=48 choices x 1,000 tokens, 20 top logprobs each: 31 MB of JSON) is
encoded by a worker thread with offload.json_chunks, as one string (CHUNK_CHARS past the reply: what the server did
before) and in ~1 MiB chunks, then sent by a real uvicorn (in this process, behind an HTTP middleware as the
server's) as one Response or as offload.json_reply's chunks, while a task on the event loop sleeps 1 ms at a time.
Reports the loop's worst wait beyond its sleep in each phase. (End to end, with generation:
benchmarks/bench_serve_big_reply.py.)

    python benchmarks/bench_reply_chunks.py [--n 48] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi import FastAPI  # noqa: E402
from fastapi.responses import Response  # noqa: E402

from axk1.infer import offload  # noqa: E402
from tests.serve_helpers import app_server  # noqa: E402

WHOLE = 1 << 62  # CHUNK_CHARS past any reply: one join and one encode of it all, as before


def reply(n: int, tokens: int = 1000, top: int = 20) -> dict:
    rng = random.Random(0)
    words = ["Ġthe", "서울", "ĠSeoul", "ing", "한강", "ab"]
    return {"id": "cmpl-x", "object": "text_completion", "choices": [{
        "index": i, "text": "".join(rng.choice(["the ", "서울 ", "a"]) for _ in range(tokens)), "finish_reason": "length",
        "logprobs": {"tokens": [rng.choice(words) for _ in range(tokens)],
                     "token_logprobs": [-rng.random() for _ in range(tokens)],
                     "top_logprobs": [{f"{j}{rng.choice(words)}": -rng.random() for j in range(top)}
                                      for _ in range(tokens)], "text_offset": list(range(tokens))}}
        for i in range(n)], "usage": {"prompt_tokens": 3, "completion_tokens": n * tokens}}


class LoopLag:
    """The event loop's worst wait beyond a 1 ms sleep, since the last reset."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, loop.time() - t - 0.001)


async def encode_lag(value: dict, chunk_chars: int) -> tuple[float, float]:
    lag = LoopLag()
    task = asyncio.create_task(lag.run())
    offload.CHUNK_CHARS = chunk_chars
    start = time.perf_counter()
    await asyncio.get_running_loop().run_in_executor(None, offload.json_chunks, value)
    took = time.perf_counter() - start
    task.cancel()
    return took, lag.worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    value, default = reply(args.n), offload.CHUNK_CHARS
    chunks = offload.json_chunks(value)
    body = b"".join(chunks)
    print(f"reply: {len(body) / 1e6:.1f} MB, {len(chunks)} chunks")
    for _ in range(args.rounds):
        for name, chunk_chars in (("whole", WHOLE), ("chunks", default)):
            took, worst = asyncio.run(encode_lag(value, chunk_chars))
            print(f"encode {name}: {took:.2f} s, loop's worst wait {worst * 1000:.0f} ms")
    offload.CHUNK_CHARS = default

    app, lag = FastAPI(), LoopLag()

    @app.middleware("http")
    async def passing(request, call_next):  # the server's auth_and_count is such a middleware
        return await call_next(request)

    @app.get("/whole")
    async def whole() -> Response:
        return Response(body, media_type="application/json")

    @app.get("/chunks")
    async def chunked() -> Response:
        return offload.json_reply(chunks)

    @app.get("/start")
    async def start() -> dict:
        asyncio.create_task(lag.run())
        return {}

    with app_server(app) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/start")
        conn.getresponse().read()
        for _ in range(args.rounds):
            for name in ("whole", "chunks"):
                time.sleep(0.2)
                lag.worst = 0.0
                start_s = time.perf_counter()
                conn.request("GET", "/" + name)
                got = conn.getresponse().read()
                took = time.perf_counter() - start_s
                assert got == body
                print(f"send {name}: {took:.2f} s, loop's worst wait {lag.worst * 1000:.0f} ms")


if __name__ == "__main__":
    main()
