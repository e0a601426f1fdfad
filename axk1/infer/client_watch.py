"""Noticing a client that left while nothing is being written to it: a non-streaming reply until its end, and a
stream until its first token (its headers wait for it: axk1/infer/server.py). The server's routes await their
work beside the ASGI disconnect, so a client that went away has its choices aborted instead of generated for
nobody (20 non-streaming clients that left kept 20 rows generating ~17,800 tokens)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from starlette.requests import Request


async def unless_client_leaves(work: Awaitable[object], request: Request) -> bool:
    """Await `work` while watching for the client's disconnect: True when it finished (its error raised), False
    when the client left first (`work` cancelled)."""
    task, watch = asyncio.ensure_future(work), asyncio.ensure_future(_until_disconnected(request))
    try:
        done, _ = await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (task, watch):
            t.cancel()
        await asyncio.gather(task, watch, return_exceptions=True)
    if task not in done:
        return False
    task.result()  # a generation failure or the shutdown: its APIError (500, 503) goes to the route's handler
    return True


async def _until_disconnected(request: Request) -> None:
    """Return when the client goes away. The body has been read, so the next ASGI message is the disconnect.
    Not Request.is_disconnected(): behind the server's auth_and_count middleware (BaseHTTPMiddleware) it never
    reports a disconnect (Starlette 1.10, uvicorn 0.54: tried): it polls inside an already-cancelled scope, and the
    receive that middleware hands the route opens a task group, so the poll is cancelled before it reads anything."""
    while (await request.receive())["type"] != "http.disconnect":
        await asyncio.sleep(0.05)  # nothing else should come; if it does, never spin the event loop on it
