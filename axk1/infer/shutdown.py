"""How `axk1 serve` ends on SIGTERM or Ctrl-C, as vLLM's `--shutdown-timeout` has it: uvicorn stops accepting
connections at once (a new client's connection is refused, and a load balancer tries another server), the requests
in flight may finish within the timeout (0: none may), and then each one still running ends cleanly: a stream
with an SSE error object ("the server is shutting down") and `[DONE]`, a non-streaming request with a 503 error,
its choices aborted in the engine; one log line says how many.

Before, uvicorn gave them 5 s and then cancelled their tasks: every client got a chunked reply cut off without an
error or `[DONE]` (a queued stream had only its role chunk), and the log got one CancelledError traceback a stream.
uvicorn's own cancel stays as a backstop, a few seconds after ours.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn

from axk1.infer.choices import Generation

log = logging.getLogger("axk1.infer.server")
BACKSTOP_S = 5  # what uvicorn still waits, after the timeout, before it cancels what is left
MESSAGE = "the server is shutting down: send the request again to another server, or once this one is back"


class Shutdown:
    """The requests in flight (the routes add and discard them), ended `timeout` seconds after the exit signal."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self.live: set[Generation] = set()
        self.expired = False  # the timeout has passed: a request that reaches generation now is ended at once

    def track(self, gen: Generation) -> None:
        """`gen` is in flight until the route discards it from `live`."""
        self.live.add(gen)
        if self.expired:  # its body was still being read when the others were ended
            gen.interrupt(MESSAGE)

    def begin(self) -> None:
        """On the event loop, once the exit signal came: end the requests still running at the timeout."""
        asyncio.get_running_loop().call_later(self.timeout, self._end_running)

    def _end_running(self) -> None:
        self.expired = True
        if self.live:
            log.warning("shutting down: %d request(s) still running after --shutdown-timeout %g s were ended "
                        "with an error (503)", len(self.live), self.timeout)
        for gen in list(self.live):
            gen.interrupt(MESSAGE)


class DrainingServer(uvicorn.Server):
    """uvicorn's server that tells `shutdown` when it starts to shut down (after the exit signal, on the loop)."""

    def __init__(self, config: uvicorn.Config, shutdown: Shutdown) -> None:
        super().__init__(config)
        self.app_shutdown = shutdown

    async def shutdown(self, sockets: Any = None) -> None:
        self.app_shutdown.begin()
        await super().shutdown(sockets)
