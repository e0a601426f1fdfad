"""A deadline for a request's headers, which uvicorn does not have.

uvicorn closes a keep-alive connection that stays idle, but a connection that has sent part of a request line or of
its headers (or that sends a byte after a response, which stops the keep-alive timer) is kept for as long as the
client likes: 1,500 such connections stayed open for minutes, and under a file-descriptor limit of 256 the
server stopped accepting anyone (`Too many open files`). This protocol, uvicorn's own h11 protocol with one timer,
closes a connection whose request headers have not all arrived `header_timeout` seconds after it opened or after
its last response. The body has its own deadline in the server (`ServerState.read_timeout`). A request asking to upgrade to a
WebSocket is answered as plain HTTP, with no log line of its own (the server has no WebSocket route).

The other way round, a client that stops reading a streamed reply: the engine went on generating for it (288K
tokens for 40 such streams, 0.7 GB held) and the connection stayed open for as long as the client kept it. Once the
transport's write buffer is full, the protocol is paused; a connection that stays paused `write_timeout` seconds
is aborted, which the route sees as the client's disconnect (its choices are aborted, their cache rows freed).

At shutdown the same client held the exit: once --shutdown-timeout ended its request, the error event that ends its
stream could not be written either, so the request waited for uvicorn's backstop (5 s more), which cancelled it with
an ERROR traceback. `OpenConnections.cut_stalled` (called by axk1/infer/shutdown.py at the timeout) cuts such a
connection then, with a warning naming the client: at once when its writes have been blocked for `STALL_S` already,
else after `STALL_S` more unless it has taken the bytes still unsent.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("axk1.infer.server")
STALL_S = 1.0  # at the shutdown timeout: how long a connection's writes may have been blocked before it is cut


class OpenConnections:
    """The connections a timed_h11 protocol class has open, for the server's shutdown."""

    def __init__(self) -> None:
        self.protocols: set = set()

    def cut_stalled(self) -> None:
        """At the shutdown timeout (the requests just ended): cut each connection whose client is not taking its
        reply (TimedH11Protocol.cut_when_stalled)."""
        for protocol in list(self.protocols):
            protocol.cut_when_stalled()


def timed_h11(header_timeout: float, write_timeout: float | None = None,
              connections: OpenConnections | None = None) -> type[H11Protocol]:
    """uvicorn's h11 protocol class with a `header_timeout`-second deadline for each request's headers and a
    `write_timeout`-second one (default: header_timeout) for a client that reads nothing of its response (for
    `uvicorn.run(..., http=...)`); its connections are listed in `connections` (for the shutdown's cut)."""
    write_timeout = header_timeout if write_timeout is None else write_timeout
    connections = OpenConnections() if connections is None else connections

    class TimedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _stalled: asyncio.TimerHandle | None = None
        _paused_at: float | None = None  # when its writes were blocked (the client's buffers full); None: they flow
        _cut: asyncio.TimerHandle | None = None  # cut_when_stalled's

        def pause_writing(self) -> None:
            super().pause_writing()
            self._paused_at = self.loop.time()
            if self._stalled is None:
                self._stalled = self.loop.call_later(write_timeout, self._abort_stalled)

        def resume_writing(self) -> None:
            super().resume_writing()
            self._paused_at = None
            self._stop_stall_timer()

        def cut_when_stalled(self) -> None:
            """Cut the connection `STALL_S` after its writes were blocked (at once if that is past; `STALL_S` from now
            if they flow), unless by then it has taken every byte written. Its request has just been ended, so what
            is left to write is its last events: a client that cannot take them is cut, where it held the exit until
            uvicorn's backstop (and its traceback)."""
            self._stop_stall_timer()
            now = self.loop.time()
            due = (now if self._paused_at is None else self._paused_at) + STALL_S
            self._cut = self.loop.call_later(max(0.0, due - now), self._cut_at_shutdown)

        def _cut_at_shutdown(self) -> None:
            self._cut = None
            if unsent := self.transport.get_write_buffer_size():
                log.warning("shutting down: client %s is not reading its reply (%d bytes unsent; the error that "
                            "ends it could not be written either): connection closed", self._peer(), unsent)
                self.transport.abort()

        def _peer(self) -> str:
            return "%s:%d" % self.client if self.client else "(unknown)"

        def _stop_stall_timer(self) -> None:
            if self._stalled is not None:
                self._stalled.cancel()
                self._stalled = None

        def _abort_stalled(self) -> None:
            self._stalled = None
            log.warning("client %s read nothing of its response for %g s: connection closed, its generation stopped",
                        self._peer(), write_timeout)
            self.transport.abort()  # close() would wait for the buffer it never reads to drain

        def _should_upgrade(self) -> bool:
            # This server has no WebSocket route: a request asking to upgrade (a probe, or a client of OpenAI's
            # Realtime API) is answered as the HTTP request it also is (RFC 9110 7.8 lets a server ignore Upgrade):
            # 401 without the key, else its route's answer or a 404 naming the routes. uvicorn logged two warnings
            # for each, the second advising to install a WebSocket library; with one installed it upgraded the
            # request past the API-key check (which sees HTTP only) to a 403 from the router.
            return False

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
            connections.protocols.add(self)
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
            connections.protocols.discard(self)
            if self._cut is not None:
                self._cut.cancel()
            self._disarm()
            self._stop_stall_timer()
            super().connection_lost(exc)

    return TimedH11Protocol
