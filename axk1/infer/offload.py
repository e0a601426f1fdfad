"""Where a request's work off the event loop runs: two thread pools ("lanes"), picked by the request's size.

Decoding and validating a body, rendering a chat and tokenizing its text all run in worker threads, so that the
event loop (/health, every stream) never waits for them. They used to share asyncio's default pool (6 threads on a
2-core machine), first come first served: a dozen clients sending megabyte prompts filled it, and a 3-token
request queued behind them for 50 s. Here the work of a request past `LARGE_BYTES` (its body's size, or its text's
length) runs in the large lane, everything else in the small one, so short requests never queue behind long ones;
the large lane's few threads also bound how many cores the long ones take at once.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
LARGE_BYTES = 64 * 1024  # tokenizing this much text takes ~0.1 s on one core: past it, a request is a long one


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
