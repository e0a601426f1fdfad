"""An OpenAI-compatible HTTP server over the batching engine (FastAPI; run by uvicorn from `axk1 serve`).

Routes: /v1/models, /v1/chat/completions, /v1/completions (streaming as server-sent events, or not), /health,
/metrics (Prometheus text), and vLLM's /tokenize, /detokenize, /version, /ping (axk1/infer/tokenize_routes.py).
Chat replies generated inside a think block come back split: the reasoning in `reasoning` (vLLM's name) and
`reasoning_content` (DeepSeek's), the answer in `content`. Every failure is answered with an OpenAI-style JSON
error; nothing a request does can stop the server, and a client's mistake is a 4xx, never a 5xx (request bodies
are checked by axk1/infer/protocol.py and the schema in axk1/infer/schema.py, which /openapi.json publishes). A
client that goes away has its choices aborted, streaming or not.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from axk1.infer import tokenize_routes, weight_updates
from axk1.infer.chat import ChatCodec, prompt_opens_reasoning
from axk1.infer.chat_prompt import encode_text, render_chat
from axk1.infer.choice_fields import choice_fields, choice_text
from axk1.infer.choices import Generation
from axk1.infer.client_watch import unless_client_leaves
from axk1.infer.detok import Delta
from axk1.infer.engine import Engine, SamplingParams
from axk1.infer.generation_config import GenerationDefaults, sampling_params
from axk1.infer.guided import Guide
from axk1.infer.guided_request import constrained
from axk1.infer.head_routes import answer_head, documented_routes
from axk1.infer.logprobs import TokenNames, chat_logprobs, completion_logprobs_field
from axk1.infer.metrics import ServerMetrics
from axk1.infer.offload import Lanes, body_size, json_chunks, json_reply
from axk1.infer.prompt_bound import PromptBound
from axk1.infer.protocol import (APIError, BodyLimits, ChatRequest, CompletionRequest, RequestContext,
                                 check_body_headers, decode_body, parse_request, request_schemas)
from axk1.infer.schema import StreamOptions, short_int
from axk1.infer.shutdown import Shutdown
from axk1.infer.tool_choice import forces_tool_calls, parses_tool_calls

log = logging.getLogger(__name__)
ROUTES = ("/v1/models", "/v1/chat/completions", "/v1/completions", "/health", "/metrics", *tokenize_routes.ROUTES,
          weight_updates.ROUTE)
CLIENT_GONE = 499  # nginx's "client closed request": logged and counted, never read by anyone


@dataclass
class ServerState:
    engine: Engine
    codec: ChatCodec | None
    model_name: str
    api_key: str | None = None
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    created: int = field(default_factory=lambda: int(time.time()))
    body_limits: BodyLimits | None = None  # None: BodyLimits.for_context(the engine's max_model_len)
    read_timeout: float = 30.0  # seconds for a request's body to arrive (its headers: axk1/infer/http_timeouts.py)
    defaults: GenerationDefaults = field(default_factory=GenerationDefaults)  # the folder's generation_config.json
    weight_updates: bool = False  # POST /update_weights_from_disk (axk1/infer/weight_updates.py): RL's pushes
    shutdown: Shutdown = field(default_factory=Shutdown)  # what SIGTERM does (axk1/infer/shutdown.py)
    guide: Guide | None = None  # structured outputs' tokenizer (axk1/infer/guided.py); None: the folder has none
    lanes: Lanes = field(default_factory=Lanes)  # the worker threads, short requests apart (axk1/infer/offload.py)
    prompt_bound: PromptBound | None = field(default=None, init=False)  # set from the codec (prompt_bound.py)

    def __post_init__(self) -> None:
        if self.body_limits is None:
            self.body_limits = BodyLimits.for_context(self.engine.max_model_len)
        if self.codec is not None:  # once, at start-up: it reads the whole vocabulary
            self.prompt_bound = PromptBound.for_tokenizer(self.codec.tokenizer, self.engine.max_model_len)

    def context(self) -> RequestContext:
        return RequestContext(vocab_size=self.engine.vocab_size, max_batch=self.engine.max_batch)


def _error(e: APIError) -> Response:
    # ASCII JSON: an error may quote what the client sent, and that must never fail to encode (a 500 in the 400)
    return Response(json.dumps(e.body()), status_code=e.status, media_type="application/json")


async def _sampling(state: ServerState, req: Any, max_tokens: int, reasoning: bool = False) -> SamplingParams:
    """The engine's parameters, with the request's structured-output constraint compiled (a 400 for a bad one)."""
    eos_text = state.codec.eos_token if state.codec else None
    turn_eos = state.codec.token_id(eos_text) if eos_text else None
    params = sampling_params(req, max_tokens, state.defaults, state.engine.eos_ids, turn_eos,
                             not forces_tool_calls(req))
    return await constrained(state.guide, req, params, reasoning)


async def _encode_prompt(state: ServerState, prompt: str | list[int], where: str) -> list[int]:
    """A prompt's token ids; `where`: its place in the body (`prompt`, `prompt[2]`), named by its errors."""
    if isinstance(prompt, str):
        if state.codec is None:
            raise APIError(400, "this model folder has no tokenizer.json, so prompts must be token ids "
                                "(e.g. \"prompt\": [1, 42, 7]); add a tokenizer to the folder to send text", param=where)
        return await encode_text(state.codec, prompt, state.lanes, bound=state.prompt_bound, where=where)
    if not prompt:
        raise APIError(400, f"'{where}' is empty: send at least one token", param=where)
    return list(prompt)


def _body(model: type) -> dict[str, Any]:
    """The OpenAPI requestBody of a route that reads its body itself (see create_app's openapi)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def create_app(state: ServerState) -> FastAPI:
    # redirect_slashes off: a trailing slash is a 404 like any unknown path, where FastAPI answered 307 with a
    # Location built from the client's Host header (an open redirect: `Host: evil.com` sent clients there)
    app = FastAPI(title="axk1 OpenAI-compatible server", docs_url=None, redoc_url=None, redirect_slashes=False)
    app.state.axk1 = state

    def openapi() -> dict[str, Any]:
        # The generation routes read their bodies themselves (size and depth are checked before any parsing, and
        # errors are OpenAI's 400s, not FastAPI's 422s), so FastAPI cannot see their models: publish them here.
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=documented_routes(app))
            schema.setdefault("components", {}).setdefault("schemas", {}).update(request_schemas())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi

    @app.middleware("http")
    async def auth_and_count(request: Request, call_next) -> Response:
        path = request.url.path
        if state.api_key and (path.startswith("/v1") or path in (weight_updates.ROUTE, *tokenize_routes.KEYED)):
            header = request.headers.get("authorization", "")
            given = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
            if not secrets.compare_digest(given.encode(), state.api_key.encode()):
                response = _error(APIError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'",
                                           type="authentication_error", code="invalid_api_key"))
                response.headers["WWW-Authenticate"] = "Bearer"  # RFC 9110: a 401 names the scheme that passes
                state.metrics.count_request(path if path in ROUTES else "other", 401)
                return response
        try:
            response = await call_next(request)
        except Exception as e:  # anything unforeseen: answer 500, keep serving
            log.exception("request to %s failed", path)
            response = _error(APIError(500, f"internal error: {type(e).__name__}: {e}", type="server_error"))
        state.metrics.count_request(path if path in ROUTES else "other", response.status_code)
        return response

    @app.exception_handler(APIError)
    async def api_error(_: Request, e: APIError) -> Response:
        return _error(e)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        message = str(e.detail)
        if e.status_code == 405:  # which methods the path takes, in the message and (RFC 9110) the Allow header
            # sorted: Starlette joins a set, so the order changed from one run to the next
            e.headers["Allow"] = ", ".join(sorted(m.strip() for m in e.headers.get("Allow", "").split(",")))
            message = f"{request.method} is not allowed on {request.url.path}: use {e.headers['Allow']}"
        elif e.status_code == 404 and request.url.path == weight_updates.ROUTE:
            message = f"{weight_updates.ROUTE} is off: start the server with --enable-weight-updates"
        elif e.status_code == 404:
            served = [r for r in ROUTES if state.weight_updates or r != weight_updates.ROUTE]
            message = f"no route {request.url.path[:200]}: this server answers {', '.join(served)}"
        response = _error(APIError(e.status_code, message, type="invalid_request_error"))
        response.headers.update(e.headers or {})
        return response

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(state.metrics.render(state.engine), media_type="text/plain; version=0.0.4")

    def model_card() -> dict[str, Any]:
        return {"id": state.model_name, "object": "model", "created": state.created, "owned_by": "axk1",
                "max_model_len": state.engine.max_model_len}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{name:path}")
    async def model(name: str) -> dict[str, Any]:
        _check_model(state, name)
        return model_card()

    @app.post("/v1/completions", openapi_extra=_body(CompletionRequest))
    async def completions(request: Request) -> Response:
        req: CompletionRequest = await _read_request(request, state, CompletionRequest)
        _check_model(state, req.model)
        texts = req.prompts()
        where = ["prompt"] if isinstance(req.prompt, str) or texts == [req.prompt] else [
            f"prompt[{i}]" for i in range(len(texts))]
        prompts = [(await _encode_prompt(state, p, w), False) for p, w in zip(texts, where)]
        longest = max(len(ids) for ids, _ in prompts)
        room = state.engine.max_model_len - longest
        # OpenAI's completions default to 16 tokens; an explicit `max_tokens: null` asks for no limit, which vLLM
        # reads as a chat's: generation_config.json's max_new_tokens, within what the context leaves
        limit = req.max_tokens or (state.defaults.completion_limit(room) if "max_tokens" in req.model_fields_set
                                   else min(16, max(1, room)))
        params = await _sampling(state, req, limit)
        gen = Generation(state.engine, state.codec, prompts, params, req.n, req.stop_list(), where)
        return await _respond(state, gen, req, request, chat=False)

    @app.post("/v1/chat/completions", openapi_extra=_body(ChatRequest))
    async def chat_completions(request: Request) -> Response:
        req: ChatRequest = await _read_request(request, state, ChatRequest)
        _check_model(state, req.model)
        if state.codec is None:
            raise APIError(400, "this model folder has no tokenizer.json and chat template, so it cannot chat; "
                                "use /v1/completions with token-id prompts, or add tokenizer files to the folder")
        # in a worker thread, as the body's parsing is: a body of 13,000 small content parts held the event loop
        # (and every other client, /health included) 0.3 s in the check and the render
        text = await state.lanes.run(body_size(request), render_chat, state.codec, req)
        ids = await encode_text(state.codec, text, state.lanes, add_special_tokens=False, bound=state.prompt_bound,
                                where="messages")
        limit, limit_name = req.completion_limit()
        room = state.engine.max_model_len - len(ids)
        reasoning = prompt_opens_reasoning(text)
        params = await _sampling(state, req, limit or state.defaults.completion_limit(room), reasoning)
        stop = [] if forces_tool_calls(req) else req.stop_list()  # a stop would cut the forced calls short
        gen = Generation(state.engine, state.codec, [(ids, reasoning)], params, req.n,
                         stop, ["messages"], limit_name, parses_tool_calls(req),
                         1 if req.parallel_tool_calls is False else None)
        return await _respond(state, gen, req, request, chat=True)

    tokenize_routes.add_tokenize_routes(app, state, _read_body, _check_model)
    if state.weight_updates:
        weight_updates.add_weight_update_route(app, state, _read_request)
    answer_head(app)  # load balancers' probes (/health), and RFC 9110's rule for every GET route
    return app


def _check_model(state: ServerState, name: str | None) -> None:
    if name is not None and name != state.model_name:  # left out: the served model (vLLM's rule)
        shown = name if len(name) <= 200 else name[:200] + "..."  # a path of any length is not echoed whole
        raise APIError(404, f"The model '{shown}' does not exist. This server serves '{state.model_name}' "
                            "(see /v1/models).", param="model", code="model_not_found")


async def _read_request(request: Request, state: ServerState, cls: type) -> Any:
    """The request body, read (_read_body), validated as `cls` (protocol.py) in a worker thread."""
    data = await _read_body(request, state)
    return await state.lanes.run(body_size(request), parse_request, cls, data, state.context())


async def _read_body(request: Request, state: ServerState) -> Any:
    """The request body as decoded JSON. Read chunk by chunk, so a body past the size limit is refused (413) before
    it is all in memory, and within `state.read_timeout` seconds (408: a client trickling its body must not hold a
    connection forever); then decoded (protocol.py) in a worker thread: a megabyte of small JSON items takes ~0.5 s
    of Python, which on the event loop would stall /health and every stream for that long. Its size is kept for
    body_size."""
    check_body_headers(request.headers.get("content-type"), request.headers.get("content-encoding"))
    limits = state.body_limits
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise APIError(413, f"the request body is {short_int(int(declared))} bytes; this server accepts at most "
                            f"{limits.max_bytes}", code="request_too_large")
    chunks, size = [], 0
    async def read() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_bytes:
                raise APIError(413, f"the request body is over {limits.max_bytes} bytes, this server's limit",
                               code="request_too_large")
            chunks.append(chunk)

    try:  # a body still arriving when the server's --shutdown-timeout ends the requests in flight gets their 503
        async with asyncio.timeout(state.read_timeout):
            await state.shutdown.race(read())
    except TimeoutError:
        raise APIError(408, f"the request body did not arrive within {state.read_timeout:g} s ({size} bytes came)",
                       code="request_timeout") from None
    except ClientDisconnect:  # nobody reads the answer; counted as a client that went away, without a traceback
        raise APIError(CLIENT_GONE, "the client closed the connection before sending the whole body") from None
    request.state.body_size = size
    return await state.lanes.run(size, decode_body, b"".join(chunks), limits)


def _end(state: ServerState, gen: Generation) -> None:
    """A request's end, however it came: its choices still running stopped, its duration and endings counted."""
    gen.close()
    state.shutdown.live.discard(gen)
    state.metrics.observe_request_end(time.monotonic() - gen.started, gen.finish)


def _logprobs(gen: Generation, i: int, names: TokenNames, chat: bool) -> dict[str, Any] | None:
    """Choice i's `logprobs` for the tokens since the last call (all of them, for a whole reply); None unasked."""
    if not gen.wants_logprobs:
        return None
    entries, offsets = gen.take_logprobs(i)
    return chat_logprobs(entries, names) if chat else completion_logprobs_field(entries, offsets, names)


async def _respond(state: ServerState, gen: Generation, req: Any, request: Request, chat: bool) -> Response:
    rid = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
    head = {"id": rid, "object": "chat.completion" if chat else "text_completion", "created": int(time.time()),
            "model": state.model_name, "system_fingerprint": None}  # whose weights sampled: read once they have
    names = TokenNames(state.codec, bool(req.return_tokens_as_token_ids))
    state.shutdown.track(gen)  # until _end
    if req.return_token_ids and chat:  # one prompt for every choice (a completion's go in each choice)
        head["prompt_token_ids"] = gen.prompt_ids[0]
    # A stream's headers (its 200) go out with its first event: a request ended before the engine began it (one
    # still queued at shutdown) is answered with its status, a JSON 503, as a non-streaming one is. Until then, and
    # for the whole of a non-streaming reply, nothing is written, so nothing would notice a client that left: watch
    # for it, and abort its choices as a streaming disconnect does, instead of generating for nobody.
    answered = False
    try:
        answered = await unless_client_leaves(gen.first_event() if req.stream else gen.drain(), request)
    finally:
        if not (answered and req.stream):  # a stream that goes on ends in _stream
            _end(state, gen)
    if not answered:
        return Response(status_code=CLIENT_GONE)
    if req.stream:
        return StreamingResponse(_stream(state, gen, head, chat, req, names), media_type="text/event-stream")
    # built and encoded in a worker thread: n=32 choices of 1,000 tokens with top_logprobs 20 are a 45 MB reply,
    # seconds of work that froze /health and every other stream on the event loop (a rough size picks the lane)
    size = sum(gen.tokens) * (64 if gen.wants_logprobs else 8)
    return json_reply(await state.lanes.run(size, _reply, gen, head, chat, req, names))


def _reply(gen: Generation, head: dict[str, Any], chat: bool, req: Any, names: TokenNames) -> list[bytes]:
    choices = [{"index": i, **choice_text(t, chat, gen.tool_parsers and gen.tool_parsers[i]),
                "finish_reason": gen.finish[i], "logprobs": _logprobs(gen, i, names, chat),
                **choice_fields(gen, i, req, chat, first=True, final=True)} for i, t in enumerate(gen.texts)]
    # read now, not when queued: a request a weight update held is sampled by the new weights (Engine.replace_weights)
    head["system_fingerprint"] = gen.sequences[0].weights_version
    return json_chunks({**head, "choices": choices, "usage": gen.usage()})


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _stream(state: ServerState, gen: Generation, head: dict[str, Any], chat: bool, req: Any,
                  names: TokenNames) -> AsyncIterator[str]:
    prompt_ids = {"prompt_token_ids": head.pop("prompt_token_ids")} if "prompt_token_ids" in head else {}
    head = {**head, "object": "chat.completion.chunk" if chat else "text_completion"}
    options: StreamOptions | None = req.stream_options
    include_usage = bool(options and options.include_usage)
    continuous = include_usage and options.continuous_usage_stats  # vLLM's: the usage so far in every chunk
    started: set[int] = set()  # the choices that had a chunk

    def chunk(i: int, delta: Delta | None, reason: str | None) -> str:
        if chat:
            body: dict[str, Any] = {}
            if delta is None:
                body = {"role": "assistant", "content": ""}
            elif delta.reasoning:
                body["reasoning"] = body["reasoning_content"] = delta.reasoning
            if delta is not None and delta.content:
                body["content"] = delta.content
            if delta is not None and delta.tool_calls:
                body["tool_calls"] = delta.tool_calls
            logprobs = None if delta is None else _logprobs(gen, i, names, chat)
            if logprobs is not None and not logprobs["content"]:  # a chunk of no new token: null, as OpenAI's
                logprobs = None
            choice = {"index": i, "delta": body, "finish_reason": reason, "logprobs": logprobs}
        else:
            choice = {"index": i, "text": delta.content if delta else "", "finish_reason": reason,
                      "logprobs": _logprobs(gen, i, names, chat)}
        if delta is not None:
            choice.update(choice_fields(gen, i, req, chat, i not in started, reason is not None))
            started.add(i)
        usage = {"usage": gen.usage() if continuous else None} if include_usage else {}
        # each chunk names the weights of its choice as it is sent: a request a weight update held is sampled by the
        # new weights (its role chunk too: it goes out with the first token)
        return _sse({**head, "system_fingerprint": gen.sequences[i].weights_version,
                     **(prompt_ids if delta is None else {}), "choices": [choice], **usage})

    try:
        if chat:
            for i in range(len(gen.texts)):
                yield chunk(i, None, None)
        async for i, delta, reason in gen.events():
            if delta or reason is not None:
                yield chunk(i, delta, reason)
        if include_usage:
            yield _sse({**head, "system_fingerprint": gen.sequences[0].weights_version, "choices": [],
                        "usage": gen.usage()})
        yield "data: [DONE]\n\n"
    except APIError as e:
        yield _sse(e.body())
        yield "data: [DONE]\n\n"
    finally:  # also on a client disconnect, which cancels this generator: its rows are freed now
        _end(state, gen)
