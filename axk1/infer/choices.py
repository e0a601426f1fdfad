"""One request's choices (its prompts x n) as the server follows them: submitted to the engine together (every
prompt checked first), each choice's tokens turned into text deltas (axk1/infer/detok.py), its usage counted, and
its tokens' logprobs gathered when the request asked for them (axk1/infer/logprobs.py), and, for a chat request
with tools, its answer parsed for tool calls as it comes (axk1/infer/tool_calls.py). The engine thread feeds
them through an asyncio queue; the route that made them reads `events()`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from axk1.infer.chat import ChatCodec
from axk1.infer.detok import Delta, IncrementalText
from axk1.infer.engine import Engine, RequestGroups, SamplingParams, Sequence
from axk1.infer.logprobs import TokenLogprob
from axk1.infer.protocol import APIError
from axk1.infer.tool_calls import ToolCallParser


class Generation:
    """One request's choices (prompts x n), fed by the engine thread through an asyncio queue."""

    def __init__(self, engine: Engine, codec: ChatCodec | None, prompts: list[tuple[list[int], bool]],
                 params: SamplingParams, n: int, stop: list[str], prompt_params: list[str],
                 limit_name: str = "max_tokens", tool_calls: bool = False, max_tool_calls: int | None = None) -> None:
        """`prompt_params`: each prompt's place in the body, for errors (`prompt[1]`, `messages`); `limit_name`: the
        field that set params.max_tokens; `tool_calls`: parse each choice's answer for tool calls, a choice ending
        at `max_tool_calls` of them (1: the request's parallel_tool_calls false)."""
        self.engine, self.started = engine, time.monotonic()
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        if codec is None and stop:  # the reply is token ids written as decimals: a stop string would match digits
            raise APIError(400, "this model folder has no tokenizer.json, so replies have no text to search for stop "
                                "strings: send 'stop_token_ids' instead", param="stop", code="unsupported_parameter")
        for (ids, _), where in zip(prompts, prompt_params):  # all or nothing: check every prompt before any is queued
            try:
                self.engine.check_request(ids, params, n, limit_name)
            except ValueError as e:
                param = getattr(e, "param", None)
                raise APIError(400, str(e), param=where if param == "prompt" else param) from None
        self.prompt_tokens = sum(len(ids) for ids, _ in prompts)
        self.prompt_ids, self.n = [ids for ids, _ in prompts], n
        self.texts = [IncrementalText(codec, stop, reasoning) for _, reasoning in prompts for _ in range(n)]
        self.finish: list[str | None] = [None] * len(self.texts)
        self.stop_reasons: list[str | int | None] = [None] * len(self.texts)  # the stop string or id that ended it
        self.errors: list[str | None] = [None] * len(self.texts)  # why a choice ended with finish_reason "error"
        self.tool_parsers = [ToolCallParser(max_tool_calls) for _ in self.texts] if tool_calls else None
        self.tokens = [0] * len(self.texts)
        self.wants_logprobs = params.logprobs is not None
        # per choice: each token's logprobs and where its text begins in the choice's text; `_taken`: how many
        # went out in stream chunks already
        self.logprobs: list[list[TokenLogprob]] = [[] for _ in self.texts]
        self.offsets: list[list[int]] = [[] for _ in self.texts]
        self._taken = [0] * len(self.texts)
        self._ids_taken = [0] * len(self.texts)  # the same for the generated token ids (return_token_ids)
        self.index: dict[int, int] = {}
        self._first: tuple | None = None  # the engine's first event, taken by first_event() and left for events()
        self.sequences: list[Sequence] = []
        request = RequestGroups()  # its prompts' groups: a weight update holds or starts them together
        for p, (ids, _) in enumerate(prompts):
            for s in self.engine.submit(ids, params, self._sink, n, request):
                self.index[s.id] = p * n + s.index
                self.sequences.append(s)

    def _sink(self, seq: Sequence, token: int | None, reason: str | None, error: str | None) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (seq, token, reason, error))
        except RuntimeError:  # the loop has closed (the server stopped): nobody is left to read it
            pass

    async def first_event(self) -> None:
        """Wait for the engine's first event (a token, or an end), which events() then reads first; raise as events()
        would for an interrupt (503) or an engine failure (500). A stream's headers go out only after this: a request
        ended before (one still queued at shutdown) is answered with its status, not a 200 and an error event."""
        self._first = self._checked(await self.queue.get())

    @staticmethod
    def _checked(event: tuple) -> tuple:
        seq, _, reason, error = event
        if seq is None:  # interrupt(): the server is shutting down
            raise APIError(503, error, type="server_error", code="server_shutting_down")
        if error is not None and reason != "error":  # the engine failed: every choice of the request with it
            raise APIError(500, f"generation failed: {error}", type="server_error")
        return event

    async def events(self) -> AsyncIterator[tuple[int, Delta, str | None]]:
        """(choice index, text delta, finish reason or None) until every choice has finished."""
        pending = len(self.texts)
        while pending:
            if self._first is not None:  # the one first_event() took
                event, self._first = self._first, None
            else:
                event = self._checked(await self.queue.get())
            seq, token, reason, error = event
            i = self.index[seq.id]
            if self.finish[i] is not None:
                continue  # ended here already (a stop string); the engine's late events are dropped
            text = self.texts[i]
            if token is not None:
                self.tokens[i] += 1
                if self.wants_logprobs:  # the engine recorded it before it sent the token
                    self.logprobs[i].append(seq.logprobs[self.tokens[i] - 1])
                    self.offsets[i].append(text.offset)
                delta = text.push(token)
                if not text.stopped:
                    delta = self._parse_tools(i, delta, final=False)
                    if self.tool_parsers is None or not self.tool_parsers[i].full:
                        if delta:
                            yield i, delta, None
                        continue
                    self.engine.abort([seq], counted=False)  # it made the one call it may: the rest would be dropped
                    self.finish[i] = "tool_calls"
                    pending -= 1
                    yield i, delta, "tool_calls"
                    continue
                self.engine.abort([seq], counted=False)
                reason, self.stop_reasons[i] = "stop", text.matched
            else:
                delta, self.stop_reasons[i] = Delta(), seq.stop_token
            self.errors[i] = error  # its matcher failed (axk1/infer/guided.py): it alone ends, the others go on
            tail = text.finish()
            cut = reason in ("length", "error")  # ended early: an unfinished call block is dropped, not content
            last = self._parse_tools(i, Delta(delta.reasoning + tail.reasoning, delta.content + tail.content), True,
                                     cut)
            if self.tool_parsers and self.tool_parsers[i].calls and not cut:
                reason = "tool_calls"  # a reply that called; one cut short stays "length" or "error", calls listed
            self.finish[i] = reason
            pending -= 1
            yield i, last, reason

    async def drain(self) -> None:
        """Read events() to the end (a non-streaming reply: its texts and endings are kept here)."""
        async for _ in self.events():
            pass

    def _parse_tools(self, i: int, delta: Delta, final: bool, cut: bool = False) -> Delta:
        """The delta with its answer text parsed for tool calls (reasoning is never parsed): the content outside
        the blocks, and the calls' deltas (OpenAI's, each with its index; axk1/infer/tool_call_stream.py);
        `cut`: ToolCallParser's."""
        if self.tool_parsers is None:
            return delta
        content, calls = self.tool_parsers[i].feed(delta.content, final, cut)
        return Delta(delta.reasoning, content, calls)

    def take_logprobs(self, i: int) -> tuple[list[TokenLogprob], list[int]]:
        """Choice i's logprobs (and text offsets) not yet taken: a stream chunk carries those of the tokens since
        the last chunk, whose text it carries (a token whose text is held back rides with a later chunk)."""
        start, self._taken[i] = self._taken[i], len(self.logprobs[i])
        return self.logprobs[i][start:], self.offsets[i][start:]

    def take_token_ids(self, i: int) -> list[int]:
        """Choice i's generated token ids not yet taken: as take_logprobs, for vLLM's return_token_ids (the eos or
        stop id that ended it is no generated token: usage does not count it either)."""
        ids = self.texts[i].tokens
        start, self._ids_taken[i] = self._ids_taken[i], len(ids)
        return ids[start:]

    def begun(self) -> bool:
        """Whether the engine has taken any of its choices into a row (set by the engine thread: a request taken
        just as this is read is ended by the caller as one still queued would be, its rows freed by close())."""
        return any(s.request.begun for s in self.sequences)

    def interrupt(self, message: str) -> None:
        """End events() with a 503 saying `message` (on the event loop); close() then stops the choices."""
        self.queue.put_nowait((None, None, None, message))

    def close(self) -> None:
        """Free the rows of choices still running (the client went away, or the request failed)."""
        self.engine.abort([s for s in self.sequences if not s.finished])

    def usage(self) -> dict[str, int]:
        completion = sum(self.tokens)
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion,
                "total_tokens": self.prompt_tokens + completion}
