"""vLLM's small routes beside the OpenAI API, for clients and tools written against `vllm serve`:

- `POST /tokenize`: a completion's `{"prompt": ...}` (`add_special_tokens`, default true) or a chat's
  `{"messages": ...}` (with `tools` and `chat_template_kwargs`, rendered exactly as /v1/chat/completions renders its
  prompt, so `count` is that request's prompt_tokens) -> `{"count", "max_model_len", "tokens", "token_strs"}`
  (`token_strs`, the tokens' vocabulary entries, with `return_token_strs: true`, else null).
- `POST /detokenize`: `{"tokens": [...]}` -> `{"prompt": text}`, special tokens kept (the text /tokenize came from).
- `GET /version` -> `{"version": ...}` (axk1's); `GET|POST /ping` -> 200 while the server runs (SageMaker's probe).

/tokenize and /detokenize take the API key as /v1 does (vLLM leaves them open): they run the server's tokenizer
and chat template, work a client with no key has no business making. /version and /ping are open, as /health is.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request, Response

from axk1.infer.chat_prompt import encode_text, render_chat
from axk1.infer.protocol import APIError, parse_request
from axk1.infer.schema import DetokenizeRequest, TokenizeChatRequest, TokenizeRequest
from axk1.version import __version__

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

    @app.post("/tokenize")
    async def tokenize(request: Request) -> dict[str, Any]:
        data = await read_body(request, state)
        chat = isinstance(data, dict) and "messages" in data  # vLLM's two forms, told apart as vLLM does
        req = await asyncio.to_thread(parse_request, TokenizeChatRequest if chat else TokenizeRequest, data,
                                      state.context())
        check_model(state, req.model)
        if chat:  # in a worker thread, as the chat route renders (a big body held the event loop)
            ids = await encode_text(codec(), await asyncio.to_thread(render_chat, codec(), req), False)
        else:
            ids = await encode_text(codec(), req.prompt, add_special_tokens=req.add_special_tokens)
        strs = [codec().tokenizer.id_to_token(i) for i in ids] if req.return_token_strs else None
        return {"count": len(ids), "max_model_len": state.engine.max_model_len, "tokens": ids, "token_strs": strs}

    @app.post("/detokenize")
    async def detokenize(request: Request) -> dict[str, str]:
        req = await asyncio.to_thread(parse_request, DetokenizeRequest, await read_body(request, state),
                                      state.context())
        check_model(state, req.model)
        return {"prompt": await asyncio.to_thread(codec().tokenizer.decode, req.tokens, skip_special_tokens=False)}

    @app.get("/version")
    async def version() -> dict[str, str]:
        return {"version": __version__}

    @app.get("/ping")
    @app.post("/ping", include_in_schema=False)  # one operation in the OpenAPI document
    async def ping() -> Response:
        return Response(status_code=200)
