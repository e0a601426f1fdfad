"""How `axk1 serve` ends on SIGTERM, SIGHUP or Ctrl-C, as vLLM's `--shutdown-timeout` has it: uvicorn stops accepting
connections at once (a new client's connection is refused, and a load balancer tries another server), a request
still queued (no engine row has taken it) is answered at once with a 503 error, a stream too (its headers wait for
its first token; the grace is for those generating: one queued was started in it and then cut off, its client
retrying elsewhere only after the timeout), the requests generating may finish within the timeout (0: none may),
and then each one still running ends cleanly: a stream with an SSE error object ("the server is shutting down")
and `[DONE]`, a non-streaming request with a 503 error, its choices aborted in the engine; one log line says how
many. A request whose body is still arriving, and a weight update still loading, end then with the same 503
(`race`). A connection whose client is not reading its reply, so that even the error cannot be written, is cut then
with a warning naming the client (axk1/infer/http_timeouts.py): it held the exit until uvicorn's backstop, 5 s
later, with an ERROR traceback. A second Ctrl-C (uvicorn's force quit) ends them all at once, the same way, instead
of at the timeout.

Before, uvicorn gave them 5 s and then cancelled their tasks: every client got a chunked reply cut off without an
error or `[DONE]` (a queued stream had only its role chunk), and the log got one CancelledError traceback a stream.
A force quit cancelled them at once (plain-text 500s, cut streams), and the engine thread, stopped only after the
event loop had closed, died on it with a traceback. uvicorn's own cancel stays as a backstop, a few seconds after
ours.

SIGHUP (the terminal closed, `kill -HUP`, a supervisor's stop) drains as SIGTERM does, with a log line that says so,
and the server exits 129 (axk1/cli_exit.py). uvicorn handles SIGINT and SIGTERM only, so SIGHUP's default action
killed the server at once: every stream cut without an error or `[DONE]`, nothing logged. A server started under
`nohup` (SIGHUP ignored) still ignores it: that is what nohup is for. SIGHUP is no reload here: a server reloads its
weights through /update_weights_from_disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import uvicorn

from axk1.infer.choices import Generation
from axk1.infer.http_timeouts import OpenConnections
from axk1.infer.protocol import APIError
from axk1.signal_handlers import swapped_handlers

log = logging.getLogger("axk1.infer.server")
BACKSTOP_S = 5  # what uvicorn still waits, after the timeout, before it cancels what is left
FORCE_S = 3.0  # on a force quit, what the requests ended at once get to write their error replies
MESSAGE = "the server is shutting down: send the request again to another server, or once this one is back"
T = TypeVar("T")


class Shutdown:
    """The requests in flight (the routes add and discard them), ended `timeout` seconds after the exit signal."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self.live: set[Generation] = set()
        self.expired = False  # the timeout has passed: a request that reaches generation now is ended at once
        self._waiters: set[asyncio.Future] = set()  # race()s under way, told when the requests are ended
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        # the server's connections (axk1/infer/http_timeouts.py's protocol lists them): at the timeout, one whose
        # client is not reading is cut, as its request's last events cannot be written either
        self.connections = OpenConnections()

    def track(self, gen: Generation) -> None:
        """`gen` is in flight until the route discards it from `live`."""
        self.live.add(gen)
        if self.expired:  # its body was still being read when the others were ended
            gen.interrupt(MESSAGE)
        elif self._loop is not None:  # its body came during the grace: not begun (so not served), as those queued
            self._refuse_queued()

    def _refuse_queued(self) -> int:
        """End now, with the 503 (a stream too: no header has gone out), the requests in flight that no engine row
        has taken yet: the grace is for the requests generating; one still queued would only be started and then cut off,
        its client retrying elsewhere only after the timeout. Returns how many."""
        queued = [gen for gen in self.live if not gen.begun()]
        for gen in queued:
            self.live.discard(gen)  # ended here: end_now() neither counts nor ends it again
            gen.interrupt(MESSAGE)
        return len(queued)

    async def race(self, work: Awaitable[T]) -> T:
        """`work`'s result, unless the requests in flight are ended first: then `work` is cancelled (a thread it
        runs in goes on, unheard) and the request ends with the 503 the others get. For what a request waits on
        outside generation: its body (a client trickling it held the exit until uvicorn's backstop cancelled it,
        a plain-text 500) and a weight update's load."""
        task = asyncio.ensure_future(work)
        ended = asyncio.get_running_loop().create_future()
        if self.expired:
            ended.set_result(None)
        self._waiters.add(ended)
        try:
            await asyncio.wait({task, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._waiters.discard(ended)
            ended.cancel()
            if not task.done():
                task.cancel()
        if task.done() and not task.cancelled():
            return task.result()
        raise APIError(503, MESSAGE, type="server_error", code="server_shutting_down")

    def begin(self) -> None:
        """On the event loop, once the exit signal came: end the requests still running at the timeout."""
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(self.timeout, self.end_now)
        if queued := self._refuse_queued():
            log.info("shutting down: %d request(s) still queued were ended at once (a 503), to be sent elsewhere; "
                     "%d generating may finish within --shutdown-timeout %g s", queued, len(self.live), self.timeout)

    def force(self) -> None:
        """From the signal handler (uvicorn's force quit): end the requests now, on the loop."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.end_now)

    def end_now(self) -> None:
        """On the loop: end every request still running (once)."""
        if self.expired:
            return
        if self._timer is not None:
            self._timer.cancel()
        self.expired = True
        if running := len(self.live) + len(self._waiters):  # generating, or reading a body, or loading weights
            log.warning("shutting down: %d request(s) still running after --shutdown-timeout %g s (or a second "
                        "Ctrl-C) were ended with an error (503)", running, self.timeout)
        for gen in list(self.live):
            gen.interrupt(MESSAGE)
        self.connections.cut_stalled()
        for ended in self._waiters:
            if not ended.done():
                ended.set_result(None)


class DrainingServer(uvicorn.Server):
    """uvicorn's server that tells `shutdown` when it starts to shut down (after the exit signal, on the loop), and
    ends the requests at once on a force quit (a second Ctrl-C). `stop_engine` runs last, while the loop is still
    up: run after it had closed, it let the engine thread hand a finished choice to a closed loop."""

    def __init__(self, config: uvicorn.Config, shutdown: Shutdown, stop_engine: Callable[[], Any],
                 listening: Callable[[list], Any] | None = None) -> None:
        super().__init__(config)
        self.app_shutdown, self.stop_engine, self.listening = shutdown, stop_engine, listening
        self.listen_error: ValueError | None = None  # what `listening` raised: the server stopped at once

    async def startup(self, sockets: Any = None) -> None:
        """uvicorn's, then `listening(the sockets bound)`: under --port 0 only they know the port the OS chose
        (uvicorn's own line says it at --log-level info only). A ValueError it raises (a --port-file that cannot be
        written) stops the server as an exit signal does, and is kept in `listen_error` for the caller to report
        after run(): raised here, it came out of uvicorn's start-up with tracebacks (the lifespan's too)."""
        await super().startup(sockets)
        if self.started and self.listening is not None:
            try:
                self.listening([sock for server in self.servers for sock in server.sockets])
            except ValueError as e:
                self.listen_error = e
                self.should_exit = True

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        """uvicorn's (0.54), with SIGHUP beside SIGINT and SIGTERM unless it is ignored: the handlers are ours while
        the server runs, the ones before are put back after, and the signals that stopped it are raised again
        (axk1/cli_exit.py then ends with its line and 128 + the signal)."""
        if threading.current_thread() is not threading.main_thread():  # signals are the main thread's
            yield
            return
        signals = [signal.SIGINT, signal.SIGTERM]
        if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
            signals.append(signal.SIGHUP)
        with swapped_handlers(signals, self.handle_exit):
            yield
        for sig in reversed(self._captured_signals):
            signal.raise_signal(sig)

    def handle_exit(self, sig: int, frame: Any) -> None:
        if sig == signal.SIGHUP and not self.should_exit:
            log.warning("SIGHUP: shutting down as on SIGTERM: new connections are refused, and the requests in flight "
                        "may finish within --shutdown-timeout %g s", self.app_shutdown.timeout)
        super().handle_exit(sig, frame)
        if self.force_exit:
            self.app_shutdown.force()

    async def shutdown(self, sockets: Any = None) -> None:
        self.app_shutdown.begin()
        if self.force_exit:  # the second Ctrl-C came before uvicorn's shutdown began
            self.app_shutdown.end_now()
        await super().shutdown(sockets)
        if self.force_exit:
            # uvicorn stops waiting at once on a force quit, and asyncio.run then cancels what is left (cut streams,
            # plain-text 500s): give the requests just ended a moment to write their error replies
            self.app_shutdown.end_now()
            deadline = asyncio.get_running_loop().time() + FORCE_S
            while self.server_state.tasks and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
            # uvicorn skips the lifespan's end on a force quit: its task, cancelled with the loop, logged a
            # traceback (the app has no shutdown handlers: this returns at once)
            await self.lifespan.shutdown()
        await asyncio.to_thread(self.stop_engine)
