"""The OpenAI API's request shapes (as much of them as this server serves) and its error format.

Requests are validated here into plain values; anything the server cannot honour is a 400 that says which field
to change, rather than silently ignored. vLLM's extensions that are useful for a server of this kind are accepted
too: `top_k`, `stop_token_ids`, `ignore_eos`, `chat_template_kwargs`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class APIError(Exception):
    """An error answered as OpenAI does: {"error": {"message", "type", "param", "code"}} with an HTTP status."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class StreamOptions(BaseModel):
    include_usage: bool = False


class _Request(BaseModel):
    model_config = ConfigDict(extra="allow")  # unknown fields are ignored, as OpenAI-compatible servers do

    model: str
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int | None = None  # vLLM extension; 0 or -1 = no limit
    n: int = Field(default=1, ge=1)
    stop: str | list[str] | None = None
    stop_token_ids: list[int] | None = None
    ignore_eos: bool = False
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    logprobs: Any = None
    user: str | None = None

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def check_common(self) -> None:
        if self.logprobs not in (None, False, 0):
            raise APIError(400, "logprobs are not supported by this server; leave 'logprobs' unset", param="logprobs")
        if self.stream_options is not None and not self.stream:
            raise APIError(400, "stream_options is only allowed with stream=true", param="stream_options")


class CompletionRequest(_Request):
    prompt: str | list[int] | list[str] | list[list[int]]
    echo: bool = False
    best_of: int | None = None
    suffix: str | None = None

    def prompts(self) -> list[str | list[int]]:
        """One entry per prompt: text, or token ids."""
        p = self.prompt
        if isinstance(p, str):
            return [p]
        if not p:
            raise APIError(400, "prompt is empty: send a string or a list of token ids", param="prompt")
        if all(isinstance(x, int) for x in p):
            return [list(p)]
        return list(p)

    def check(self) -> None:
        self.check_common()
        if self.echo:
            raise APIError(400, "echo is not supported by this server; leave 'echo' false", param="echo")
        if self.best_of not in (None, self.n):
            raise APIError(400, "best_of is not supported by this server; leave it unset", param="best_of")
        if self.suffix:
            raise APIError(400, "suffix is not supported by this server; leave it unset", param="suffix")


class ChatRequest(_Request):
    messages: list[dict[str, Any]]
    max_completion_tokens: int | None = Field(default=None, ge=1)
    chat_template_kwargs: dict[str, Any] | None = None
    tools: list[Any] | None = None

    def check(self) -> None:
        self.check_common()
        if self.tools:
            raise APIError(400, "tool calling is not supported by this server yet; send no 'tools'", param="tools")
        if self.max_tokens is None and self.max_completion_tokens is not None:
            self.max_tokens = self.max_completion_tokens


def parse_request(cls: type[_Request], data: Any) -> Any:
    """Validate a decoded JSON body into `cls`, or raise a 400 that names the first bad field."""
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object")
    try:
        request = cls.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        param = ".".join(str(x) for x in first.get("loc", ())) or None
        raise APIError(400, f"invalid field '{param}': {first.get('msg')}", param=param) from None
    request.check()
    return request
