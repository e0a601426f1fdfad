"""vLLM's small routes beside the OpenAI API, for clients and tools written against `vllm serve`:

- `POST /tokenize`: a completion's `{"prompt": ...}` (`add_special_tokens`, default true) or a chat's
  `{"messages": ...}` (with `tools` and `chat_template_kwargs`, rendered exactly as /v1/chat/completions renders its
  prompt, so `count` is that request's prompt_tokens) -> `{"count", "max_model_len", "tokens", "token_strs"}`
  (`token_strs`, the tokens' vocabulary entries, with `return_token_strs: true`, else null).
- `POST /detokenize`: `{"tokens": [...]}` -> `{"prompt": text}`, special tokens kept (the text /tokenize came from).
- `GET /version` -> `{"version": ...}` (axk1's); `GET|HEAD|POST /ping` -> 200 while the server runs (SageMaker's probe).

/tokenize and /detokenize take the API key as /v1 does (vLLM leaves them open): they run the server's tokenizer
and chat template, work a client with no key has no business making. /version and /ping are open, as /health is.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request, Response

from axk1.infer.chat_prompt import encode_text, render_chat
from axk1.infer.offload import body_size
from axk1.infer.protocol import APIError, parse_request
from axk1.infer.schema import ChatRequest, Name, TokenId, StrictModel
from axk1.version import __version__


class TokenizeChatRequest(ChatRequest):
    """vLLM's /tokenize of a chat: the chat route's body (its prompt is rendered the same way)."""

    return_token_strs: bool | None = None


class TokenizeRequest(StrictModel):
    """vLLM's /tokenize of a completion's prompt."""

    model: Name | None = None
    prompt: str
    add_special_tokens: bool = True
    return_token_strs: bool | None = None

    def problem(self) -> None:  # parse_request's hook for checks across fields: none here
        return None


class DetokenizeRequest(StrictModel):
    """vLLM's /detokenize."""

    model: Name | None = None
    tokens: list[TokenId]

    def problem(self) -> None:
        return None


KEYED = ("/tokenize", "/detokenize")
ROUTES = (*KEYED, "/version", "/ping")


def add_tokenize_routes(app: FastAPI, state: Any, read_body, check_model) -> None:
    """The routes on `app`, serving `state` (axk1.infer.server.ServerState); `read_body(request, state)`: the body
    as decoded JSON, within the generation routes' limits; `check_model(state, name)`: a 404 for another model."""

    def codec():
        if state.codec is None:
            raise APIError(400, "this model folder has no tokenizer.json, so there is no text to tokenize or "
                                "detokenize; add a tokenizer to the folder")
        return state.codec

    @app.post("/tokenize", response_model=dict[str, Any])
    async def tokenize(request: Request) -> Response:
        data = await read_body(request, state)
        size, lanes = body_size(request), state.lanes
        chat = isinstance(data, dict) and "messages" in data  # vLLM's two forms, told apart as vLLM does
        req = await lanes.run(size, parse_request, TokenizeChatRequest if chat else TokenizeRequest, data,
                              state.context())
        check_model(state, req.model)
        # tokenized in full, however long (it is asked to count): in the lane of long requests, no other's wait
        if chat:  # in a worker thread, as the chat route renders (a big body held the event loop)
            ids = await encode_text(codec(), await lanes.run(size, render_chat, codec(), req), lanes, False)
        else:
            ids = await encode_text(codec(), req.prompt, lanes, add_special_tokens=req.add_special_tokens)
        # the reply built and encoded in a worker thread, as the prompt was: for a prompt of 800K tokens, the
        # strings and the JSON of 6 MB held the event loop (/health, every stream) ~0.5 s
        body = await lanes.run(max(size, len(ids)), _reply, codec() if req.return_token_strs else None, ids,
                               state.engine.max_model_len)
        return Response(body, media_type="application/json")

    @app.post("/detokenize")
    async def detokenize(request: Request) -> dict[str, str]:
        data = await read_body(request, state)
        req = await state.lanes.run(body_size(request), parse_request, DetokenizeRequest, data, state.context())
        check_model(state, req.model)
        return {"prompt": await state.lanes.run(body_size(request), codec().tokenizer.decode, req.tokens,
                                                skip_special_tokens=False)}

    @app.get("/version")
    async def version() -> dict[str, str]:
        return {"version": __version__}

    # one route for the three methods: two stacked routes answered PUT with a 405 naming only the first's
    # (`Allow: POST`, though GET worked), and refused HEAD, which /health takes (load balancers' probes)
    @app.api_route("/ping", methods=["GET", "HEAD", "POST"], include_in_schema=False)
    async def ping() -> Response:
        return Response(status_code=200)

    # for the OpenAPI document only (a route of several methods is one duplicate operation id a method there):
    # requests never reach it, the route above takes every method it has
    app.get("/ping")(ping)


def _reply(codec: Any, ids: list[int], max_model_len: int) -> bytes:
    """/tokenize's JSON; `codec`: the one whose vocabulary names the tokens (token_strs), or None (null)."""
    strs = _json_list([codec.tokenizer.id_to_token(i) for i in ids]) if codec is not None else "null"
    return (f'{{"count":{len(ids)},"max_model_len":{max_model_len},"tokens":{_json_list(ids)},'
            f'"token_strs":{strs}}}').encode()


def _json_list(items: list, piece: int = 10_000) -> str:
    """`items` as a JSON array, encoded in pieces: json.dumps is C code that keeps the GIL, so one call over 800K
    items (~0.1 s) held the event loop's thread even from a worker thread."""
    return "[" + ",".join(json.dumps(items[i:i + piece], ensure_ascii=False, separators=(",", ":"))[1:-1]
                          for i in range(0, len(items), piece)) + "]"
