"""Where a request's work off the event loop runs: two thread pools ("lanes"), picked by the request's size.

Decoding and validating a body, rendering a chat and tokenizing its text all run in worker threads, so that the
event loop (/health, every stream) never waits for them. They used to share asyncio's default pool (6 threads on a
2-core machine), first come first served: a dozen clients sending megabyte prompts filled it, and a 3-token
request queued behind them for 50 s. Here the work of a request past `LARGE_BYTES` (its body's size, or its text's
length) runs in the large lane, everything else in the small one, so short requests never queue behind long ones;
the large lane's few threads also bound how many cores the long ones take at once. A reply is encoded in pieces
and sent in chunks (`json_chunks`, `json_reply`), so that a thread encoding a big one lets the event loop run
between them, and the loop never copies it whole.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.responses import Response, StreamingResponse

T = TypeVar("T")
LARGE_BYTES = 64 * 1024  # tokenizing this much text takes ~0.1 s on one core: past it, a request is a long one
CHUNK_CHARS = 1 << 20  # a reply's body is encoded and sent in chunks of about this many characters (json_chunks)


class Lanes:
    """The small and the large lane; `run(size, fn, ...)` runs `fn` in the one `size` (bytes or characters) picks."""

    def __init__(self, small: int = 4, large: int = 2, threshold: int = LARGE_BYTES) -> None:
        self.threshold = threshold
        self.small = ThreadPoolExecutor(small, thread_name_prefix="axk1-small")
        self.large = ThreadPoolExecutor(large, thread_name_prefix="axk1-large")

    def pool(self, size: int) -> ThreadPoolExecutor:
        return self.large if size > self.threshold else self.small

    async def run(self, size: int, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool(size), functools.partial(fn, *args, **kwargs))


def body_size(request: Any) -> int:
    """The bytes of a request's body, noted by the server as it read them (server._read_body): what picks the lane
    of the request's work."""
    return request.state.body_size


def json_chunks(value: Any, depth: int = 5) -> list[bytes]:
    """`value` as JSONResponse writes it (compact, UTF-8, no NaN), for a reply built in a worker thread, in chunks of
    about `CHUNK_CHARS` (joined, exactly JSONResponse's bytes). The C encoder holds the GIL for the whole value it is
    given (0.6 s for a 35 MB reply of n=32 x 1,000 tokens with 20 top logprobs), which froze the event loop even
    from a thread; so the top `depth` levels (reply, choices, a choice, its logprobs, their lists) are joined here
    and only what lies below them is encoded in one call, each piece short enough for the loop to get the GIL back
    in between. The pieces are joined and encoded a chunk at a time, not as one string: joining and encoding 30 MB
    at once held the GIL another ~0.15 s, and the body is sent chunk by chunk (`json_reply`)."""
    chunks: list[bytes] = []
    group: list[str] = []
    size = 0
    for piece in _pieces(value, depth, []):
        group.append(piece)
        size += len(piece)
        if size >= CHUNK_CHARS:
            chunks.append("".join(group).encode())
            group, size = [], 0
    if group or not chunks:
        chunks.append("".join(group).encode())
    return chunks


def json_reply(chunks: list[bytes]) -> Response:
    """A JSON reply of `json_chunks`' chunks: JSONResponse's bytes and headers (Content-Length, application/json),
    its body handed to the connection a chunk at a time as the client takes it. Written whole, a 30 MB body was
    copied twice on the event loop (the HTTP layer joins what it sends, the transport buffers what the socket does
    not take) and held in the transport's buffer all at once for a slow client."""
    if len(chunks) == 1:
        return Response(chunks[0], media_type="application/json")

    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return StreamingResponse(body(), media_type="application/json",
                             headers={"content-length": str(sum(len(c) for c in chunks))})


def _pieces(value: Any, depth: int, out: list[str]) -> list[str]:
    if depth == 0 or not isinstance(value, (dict, list)) or not value:
        out.append(json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")))
    elif isinstance(value, dict):
        for i, (key, item) in enumerate(value.items()):
            out.append(("{" if i == 0 else ",") + json.dumps(str(key), ensure_ascii=False) + ":")
            _pieces(item, depth - 1, out)
        out.append("}")
    else:
        for i, item in enumerate(value):
            out.append("[" if i == 0 else ",")
            _pieces(item, depth - 1, out)
        out.append("]")
    return out
