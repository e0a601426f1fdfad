"""A deadline for a request's headers, which uvicorn does not have.

uvicorn closes a keep-alive connection that stays idle, but a connection that has sent part of a request line or of
its headers (or that sends a byte after a response, which stops the keep-alive timer) is kept for as long as the
client likes: 1,500 such connections stayed open for minutes, and under a file-descriptor limit of 256 the
server stopped accepting anyone (`Too many open files`). This protocol, uvicorn's own h11 protocol with one timer,
closes a connection whose request headers have not all arrived `header_timeout` seconds after it opened or after
its last response. The body has its own deadline in the server (`ServerState.read_timeout`).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol


def timed_h11(header_timeout: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol class with a `header_timeout`-second deadline for each request's headers (for
    `uvicorn.run(..., http=...)`)."""

    class TimedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

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
            super().connection_lost(exc)

    return TimedH11Protocol
