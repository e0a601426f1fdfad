"""A deadline for a request's headers, which uvicorn does not have.

uvicorn closes a keep-alive connection that stays idle, but a connection that has sent part of a request line or of
its headers (or that sends a byte after a response, which stops the keep-alive timer) is kept for as long as the
client likes: 1,500 such connections stayed open for minutes, and under a file-descriptor limit of 256 the
server stopped accepting anyone (`Too many open files`). This protocol, uvicorn's own h11 protocol with one timer,
closes a connection whose request headers have not all arrived `header_timeout` seconds after it opened or after
its last response. The body has its own deadline in the server (`ServerState.read_timeout`).

The other way round, a client that stops reading a streamed reply: the engine went on generating for it (288K
tokens for 40 such streams, 0.7 GB held) and the connection stayed open for as long as the client kept it. Once the
transport's write buffer is full, the protocol is paused; a connection that stays paused `write_timeout` seconds
is aborted, which the route sees as the client's disconnect (its choices are aborted, their cache rows freed).
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("axk1.infer.server")


def timed_h11(header_timeout: float, write_timeout: float | None = None) -> type[H11Protocol]:
    """uvicorn's h11 protocol class with a `header_timeout`-second deadline for each request's headers and a
    `write_timeout`-second one (default: header_timeout) for a client that reads nothing of its response (for
    `uvicorn.run(..., http=...)`)."""
    write_timeout = header_timeout if write_timeout is None else write_timeout

    class TimedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _stalled: asyncio.TimerHandle | None = None

        def pause_writing(self) -> None:
            super().pause_writing()
            if self._stalled is None:
                self._stalled = self.loop.call_later(write_timeout, self._abort_stalled)

        def resume_writing(self) -> None:
            super().resume_writing()
            self._stop_stall_timer()

        def _stop_stall_timer(self) -> None:
            if self._stalled is not None:
                self._stalled.cancel()
                self._stalled = None

        def _abort_stalled(self) -> None:
            self._stalled = None
            log.warning("a client read nothing of its response for %g s: connection closed, its generation stopped",
                        write_timeout)
            self.transport.abort()  # close() would wait for the buffer it never reads to drain

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(header_timeout, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()  # nothing was answered: no request has begun

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            cycle = self.cycle
            super().data_received(data)
            if self.cycle is not cycle:  # the headers are in: a request has begun
                self._disarm()

        def on_response_complete(self) -> None:
            cycle = self.cycle
            super().on_response_complete()
            if self.cycle is cycle and not self.transport.is_closing():  # waiting for the next request's headers
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            self._stop_stall_timer()
            super().connection_lost(exc)

    return TimedH11Protocol
