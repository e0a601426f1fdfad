"""Pydantic models of the request bodies this server serves: /v1/completions and /v1/chat/completions (OpenAI's),
/tokenize and /detokenize (vLLM's).

Types are strict, as JSON has them: "4" is not an integer, "yes" is not a boolean, 4.0 is not a token count. Every
field that costs the server work has a bound, so one request cannot buy more than its share: at most
MAX_STOP_STRINGS stop strings of MAX_STOP_CHARS characters (each is searched for at every generated token), at most
MAX_PROMPTS prompts, n within the engine's batch, token ids within the vocabulary. The bounds that depend on the
loaded model (vocabulary, batch) come in through pydantic's validation context (`RequestContext`), so one schema
serves every model folder and is what /openapi.json publishes.

vLLM's extensions useful for a server of this kind are accepted too: `top_k`, `stop_token_ids`, `ignore_eos`,
`chat_template_kwargs`, `return_tokens_as_token_ids`, `return_token_ids`, and structured outputs (`guided_json`,
`guided_regex`, `guided_choice`, `guided_grammar`, `guided_whitespace_pattern`, `structured_outputs`, beside
OpenAI's `response_format`: axk1/infer/guided_request.py); /tokenize's and /detokenize's bodies are with their routes
(tokenize_routes.py). Unknown top-level fields are ignored, as
OpenAI-compatible servers do (a near miss of a field's name is refused: protocol.py); the OpenAI and vLLM fields
this server knows but does not implement are declared, so that `problem()` can refuse them by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from axk1.infer.tool_choice import tool_problem
from axk1.sampling_ranges import SEED_RANGE

MAX_STOP_STRINGS = 16  # OpenAI allows 4, vLLM no limit; 16 keeps the per-token search cheap
MAX_STOP_CHARS = 256
MAX_STOP_TOKEN_IDS = 256
MAX_PROMPTS = 128  # /v1/completions batch; each prompt x n is queued for rows
MAX_CHOICES = 128  # prompts x n: 128 prompts with n = 32 would be 4,096 rows of work bought by one small request
MAX_TOP_LOGPROBS = 20  # OpenAI's chat limit, and vLLM's default --max-logprobs
MAX_COUNT = 2**31 - 1  # token counts and top_k: past any context, and an integer every message can print
MAX_N = 128  # the hard cap; the engine's --max-batch is the real one (checked with the validation context)
MAX_MESSAGES = 4096
MAX_NAME_CHARS = 1024  # model, user, a message's name: echoed in errors and logs
ROLES = ("system", "developer", "user", "assistant", "tool")
# The chat template call passes these itself (ChatCodec.render), or its sandbox defines them: a client's
# chat_template_kwargs may not replace them.
RESERVED_TEMPLATE_KEYS = ("messages", "add_generation_prompt", "bos_token", "eos_token", "raise_exception")


def _not_empty(text: str) -> str:
    # "" occurs everywhere: vLLM refuses it; quietly dropping it left the client believing a stop was set
    if not text:
        raise PydanticCustomError("empty_stop", "an empty stop string would match before every token: leave it out")
    return text


StopText = Annotated[str, Field(max_length=MAX_STOP_CHARS), AfterValidator(_not_empty)]
Name = Annotated[str, Field(max_length=MAX_NAME_CHARS)]


@dataclass(frozen=True)
class RequestContext:
    """What the loaded model allows; None skips the check (the schema alone, e.g. for tests)."""

    vocab_size: int | None = None
    max_batch: int | None = None


def _context(info: ValidationInfo) -> RequestContext:
    return info.context if isinstance(info.context, RequestContext) else RequestContext()


def short_int(value: int) -> str:
    """An integer as an error message shows it: JSON allows 4,300 digits, and a message quotes the client."""
    text = str(value)
    return text if len(text) <= 20 else f"{text[:12]}... ({len(text.lstrip('-'))} digits)"


def _in_vocab(token: int, info: ValidationInfo) -> int:
    vocab = _context(info).vocab_size
    if vocab is not None and token >= vocab:
        raise PydanticCustomError("less_than", "token id {token} is out of range for this model (valid: 0..{last})",
                                  {"token": short_int(token), "last": vocab - 1})
    return token


TokenId = Annotated[int, Field(ge=0), AfterValidator(_in_vocab)]


class StrictModel(BaseModel):
    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore")


class StreamOptions(StrictModel):
    include_usage: bool = False
    continuous_usage_stats: bool = Field(default=False, description="vLLM extension: with include_usage, the "
                                                                    "usage so far in every chunk")


class _Request(StrictModel):
    model: Name | None = Field(default=None, description="the served model's name; left out or null: the served "
                                                         "model (as vLLM)")
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=-1, le=MAX_COUNT, description="vLLM extension; 0 or -1 = no limit")
    n: int = Field(default=1, ge=1, le=MAX_N, description="at most the server's --max-batch")
    stop: StopText | Annotated[list[StopText], Field(max_length=MAX_STOP_STRINGS)] | None = None
    stop_token_ids: list[TokenId] | None = Field(default=None, max_length=MAX_STOP_TOKEN_IDS,
                                                 description="vLLM extension; ids below the vocabulary size")
    ignore_eos: bool = False
    seed: int | None = Field(default=None, ge=SEED_RANGE[0], le=SEED_RANGE[1])  # why: sampling_ranges.py
    stream: bool = False
    stream_options: StreamOptions | None = None
    return_tokens_as_token_ids: bool | None = Field(
        default=None, description="vLLM extension: logprobs name each token 'token_id:<id>' instead of its text")
    return_token_ids: bool | None = Field(
        default=None, description="vLLM extension: the prompt's token ids and each choice's generated ones")
    cache_salt: Any = None  # vLLM's per-tenant prefix-cache isolation: refused (problem), the cache is shared
    best_of: int | None = None  # refused unless n (problem): a chat's was ignored, where a completion's was refused
    user: Name | None = None
    # structured outputs (OpenAI's response_format, vLLM's guided_* and structured_outputs): read and compiled by
    # axk1/infer/guided_request.py, which refuses a bad one by name
    response_format: dict[str, Any] | None = None
    guided_json: Any = None
    guided_regex: str | None = None
    guided_choice: list[str] | None = None
    guided_grammar: str | None = None
    guided_whitespace_pattern: str | None = None  # a JSON constraint's whitespace, as a regex
    structured_outputs: dict[str, Any] | None = None
    # OpenAI fields this server cannot honour: accepted as types so that a request using them is refused by name
    # (problem) rather than answered as if they had been applied; their neutral values pass
    logit_bias: dict[str, Any] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    # vLLM's extensions that change what is generated and that this server does not implement: declared for the
    # same reason (a request written for vLLM, such as `axk1 eval --extra-body '{"min_p": 0.05}'`, was answered
    # as if they had been applied); each passes unset or at its neutral value in NEUTRAL
    min_p: float | None = None
    repetition_penalty: float | None = None
    min_tokens: int | None = None
    use_beam_search: bool | None = None
    include_stop_str_in_output: bool | None = None
    skip_special_tokens: bool | None = None
    add_special_tokens: bool | None = None
    truncate_prompt_tokens: int | None = None
    prompt_logprobs: int | None = None
    allowed_token_ids: list[int] | None = None
    bad_words: list[str] | None = None
    logits_processors: list[Any] | None = None
    # SGLang's that change what is generated (its clients are likely here: /update_weights_from_disk is its route)
    # (Any: whatever the value, the refusal names the field, not a type)
    regex: Any = None
    ebnf: Any = None
    json_schema: Any = None
    structural_tag: Any = None
    stop_regex: Any = None
    no_stop_trim: bool | None = None
    lora_path: Any = None
    # fields OpenAI documents as "... or null" (and vLLM takes as null) that have a value of their own here: null is
    # "not sent", so the default applies (generation_config.json's for temperature and top_p). The official client
    # sends null for an argument passed as None.
    NULL_IS_UNSET: ClassVar[tuple[str, ...]] = ("temperature", "top_p", "n", "stream", "ignore_eos", "echo")

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(data.get(k, 0) is None for k in cls.NULL_IS_UNSET):
            return {k: v for k, v in data.items() if not (v is None and k in cls.NULL_IS_UNSET)}
        return data

    # field -> the values that change nothing (vLLM's defaults); None always passes; only the fields listed here
    NEUTRAL: ClassVar[dict[str, tuple[Any, ...]]] = {
        "min_p": (0,), "repetition_penalty": (1,), "min_tokens": (0,), "use_beam_search": (False,),
        "include_stop_str_in_output": (False,), "skip_special_tokens": (True,), "add_special_tokens": (True,),
        "truncate_prompt_tokens": (), "prompt_logprobs": (), "allowed_token_ids": (), "bad_words": ([],),
        "logits_processors": ([],), "regex": (), "ebnf": (), "json_schema": (), "structural_tag": (), "stop_regex": (),
        "no_stop_trim": (False,), "lora_path": (),
    }

    @field_validator("n", mode="after")
    @classmethod
    def _n_fits_batch(cls, n: int, info: ValidationInfo) -> int:
        batch = _context(info).max_batch
        if batch is not None and n > batch:
            raise PydanticCustomError("less_than_equal", "n must be at most {batch} (this server's --max-batch)",
                                      {"batch": batch})
        return n

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def problem(self) -> tuple[str, ...] | None:
        """(field, message[, code]) for a well-typed request this server cannot honour, or None; the code is
        unsupported_parameter unless given."""
        if self.logit_bias:
            return "logit_bias", "logit_bias is not supported by this server; leave it unset"
        for name in ("frequency_penalty", "presence_penalty"):
            if getattr(self, name) not in (None, 0):
                return name, f"{name} is not supported by this server; leave it unset or 0"
        if self.cache_salt is not None:
            return "cache_salt", ("cache_salt is not supported by this server: its prefix cache is shared by every "
                                  "request and cannot be kept apart per tenant; leave it unset (a tenant who must "
                                  "not share cached prompts needs its own server, or one run with "
                                  "--no-prefix-caching)")
        if self.stream_options is not None and not self.stream:
            return "stream_options", "stream_options is only allowed with stream=true"
        if self.best_of not in (None, self.n):
            return "best_of", "best_of is not supported by this server; leave it unset"
        for name, neutral in self.NEUTRAL.items():
            value = getattr(self, name)
            if value is not None and value not in neutral:
                allowed = " or ".join(["unset"] + [json.dumps(v) for v in neutral])
                return name, f"{name} is not supported by this server; leave it {allowed}"
        return None


class CompletionRequest(_Request):
    prompt: (str | list[TokenId] | Annotated[list[str], Field(max_length=MAX_PROMPTS)]
             | Annotated[list[list[TokenId]], Field(max_length=MAX_PROMPTS)])
    logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS,
                                 description="each chosen token's logprob, with the k most likely tokens beside it")
    top_logprobs: int | None = None  # the chat field: refused here by name
    echo: bool = False
    suffix: str | None = None
    # the chat route's fields, which would change a chat's reply: refused here by name (problem), where they were
    # ignored with their effect (max_completion_tokens: a 16-token reply). Read from the unknown fields (kept, not
    # declared: this route's OpenAPI schema does not offer them)
    model_config = ConfigDict(extra="allow")
    CHAT_ONLY: ClassVar[tuple[str, ...]] = ("max_completion_tokens", "messages", "chat_template_kwargs", "tools",
                                            "tool_choice", "parallel_tool_calls", "functions", "function_call")

    def prompts(self) -> list[str | list[int]]:
        """One entry per prompt: text, or token ids (an empty list is refused by Generation)."""
        p = self.prompt
        if isinstance(p, str):
            return [p]
        if not p or all(isinstance(x, int) for x in p):
            return [list(p)]
        return list(p)

    def logprob_count(self) -> int | None:
        """How many most likely tokens to list beside each chosen token's logprob; None: no logprobs."""
        return self.logprobs

    def problem(self) -> tuple[str, ...] | None:
        if self.top_logprobs not in (None, 0):
            return ("top_logprobs", f"top_logprobs is a chat field; on /v1/completions send 'logprobs': k "
                                    f"(0..{MAX_TOP_LOGPROBS}) for the k most likely tokens at each position")
        if len(self.prompts()) * self.n > MAX_CHOICES:
            return ("n", f"{len(self.prompts())} prompts x n = {self.n} make {len(self.prompts()) * self.n} "
                         f"choices; one request may ask for at most {MAX_CHOICES}", "invalid_value")
        for name in self.CHAT_ONLY:
            if (self.model_extra or {}).get(name) is not None:
                advice = ("send 'max_tokens', this route's limit" if name == "max_completion_tokens" else
                          "send a conversation to /v1/chat/completions, which takes it")
                return name, f"{name} is a /v1/chat/completions field, not read on /v1/completions: {advice}"
        if self.echo:
            return "echo", "echo is not supported by this server; leave 'echo' false"
        if self.suffix:
            return "suffix", "suffix is not supported by this server; leave it unset"
        return super().problem()


class TextPart(StrictModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text"] = Field(description="only text parts: this model reads no images")
    text: str


class RefusalPart(StrictModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["refusal"] = Field(description="an assistant's earlier refusal (its text is rendered as content)")
    refusal: str


class ChatMessage(StrictModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls, reasoning_content, ...: the template may read them
    role: Literal[ROLES]  # type: ignore[valid-type]
    content: str | list[TextPart | RefusalPart] | None = None
    name: Name | None = None
    # OpenAI's message-level refusal (an assistant turn that declined, content null): the template renders it as the
    # turn's text, as `axk1 sft` trains it (posttrain/chat_formats._refusal_content), held to SFT's rules
    refusal: str | None = Field(default=None, description="an assistant's refusal text (rendered as its content)")

    @model_validator(mode="after")
    def _refusals_are_the_assistants(self) -> ChatMessage:  # as the openai client sends a refusal it got back
        if self.role != "assistant" and (self.refusal is not None or isinstance(self.content, list) and any(
                isinstance(p, RefusalPart) for p in self.content)):
            raise PydanticCustomError("refusal_part", "a 'refusal' belongs to an assistant message; a {role} "
                                                      "message takes text", {"role": self.role})
        if self.refusal and self.content not in (None, "", []):  # which one the turn said cannot be told
            raise PydanticCustomError("refusal_and_content", "an assistant message has either 'content' or "
                                                             "'refusal' (OpenAI writes one, the other null): send "
                                                             "the text it said in one of them")
        return self


class ChatTemplateKwargs(StrictModel):
    model_config = ConfigDict(extra="allow")  # a folder's own template may read other flags
    enable_thinking: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_reserved_keys(cls, data: Any) -> Any:
        # ChatCodec.render passes these itself: a second value is a keyword clash, or silently swaps the prompt's
        # special tokens. The key goes in the error's context so the 400 can name it.
        clash = next((k for k in RESERVED_TEMPLATE_KEYS if isinstance(data, dict) and k in data), None)
        if clash is not None:
            raise PydanticCustomError("reserved_key", "'{key}' is set by the server itself and cannot be passed in "
                                                      "chat_template_kwargs", {"key": clash})
        return data


class ChatRequest(_Request):
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    logprobs: bool | None = Field(default=None, description="return each chosen token's logprob")
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS,
                                     description="with logprobs: the k most likely tokens at each position")
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    chat_template_kwargs: ChatTemplateKwargs | None = None
    tools: list[Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = Field(default=None, description="false: at most one tool call per reply")
    functions: list[Any] | None = None  # OpenAI's deprecated form of tools
    function_call: str | dict[str, Any] | None = None
    modalities: list[str] | None = None  # OpenAI's: this model writes text only
    audio: dict[str, Any] | None = None
    reasoning_effort: str | None = None  # OpenAI's reasoning models'; this one thinks or not (enable_thinking)
    reasoning: Any = None  # OpenRouter's and OpenAI Responses' form of the same
    verbosity: Any = None  # OpenAI's: how long the answer runs
    enable_thinking: Any = None  # Qwen's / DashScope's top-level switch: the template reads chat_template_kwargs'
    thinking: Any = None
    web_search_options: dict[str, Any] | None = None  # OpenAI's search models': any value asks for a search
    echo: bool | None = None  # vLLM's chat extensions
    add_generation_prompt: bool | None = None
    continue_final_message: bool | None = None
    chat_template: str | None = None
    NEUTRAL: ClassVar[dict[str, tuple[Any, ...]]] = {
        **_Request.NEUTRAL, "add_special_tokens": (False,),  # the chat template places the special tokens
        "modalities": (["text"],), "audio": (), "echo": (False,), "add_generation_prompt": (True,),
        "continue_final_message": (False,), "chat_template": (), "web_search_options": (),
    }

    def logprob_count(self) -> int | None:
        """How many most likely tokens to list beside each chosen token's logprob; None: no logprobs."""
        return (self.top_logprobs or 0) if self.logprobs else None

    def problem(self) -> tuple[str, ...] | None:
        if self.top_logprobs is not None and not self.logprobs:  # OpenAI and vLLM refuse it too
            return ("top_logprobs", "top_logprobs needs 'logprobs': true (it says how many likely tokens to list "
                                    "beside each chosen token's logprob); send both, or neither", "invalid_value")
        problem = tool_problem(self)
        if problem is not None:
            return problem
        for name in ("enable_thinking", "thinking"):  # ignored, the model thought when told not to
            if getattr(self, name) is not None:
                return (name, f"'{name}' is not read at the top level of the body: to switch thinking send "
                              "'chat_template_kwargs': {\"enable_thinking\": false} (or true)")
        # reasoning: OpenRouter's {"enabled": false} and OpenAI Responses' {"effort": "low"}
        for name in ("reasoning_effort", "reasoning"):
            if getattr(self, name) is not None:
                return (name, f"{name} is not supported by this server (the model thinks or not, at no set effort): "
                              "leave it unset; to answer without thinking send 'chat_template_kwargs': "
                              "{\"enable_thinking\": false}")
        if self.verbosity not in (None, "medium"):  # OpenAI's GPT-5 knob: "medium" is what every reply gets here
            return ("verbosity", "verbosity is not supported by this server: leave it unset or \"medium\"; to answer "
                                 "shorter send 'chat_template_kwargs': {\"enable_thinking\": false} (no reasoning) "
                                 "or a lower max_completion_tokens")
        return super().problem()

    def completion_limit(self) -> tuple[int | None, str]:
        """The completion's token limit and the field that set it: OpenAI's max_completion_tokens replaces the
        deprecated max_tokens, so it wins when both are sent (as in vLLM)."""
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens, "max_completion_tokens"
        return self.max_tokens, "max_tokens"

    def template_messages(self) -> list[dict[str, Any]]:
        """The messages as the chat template reads them: plain dicts, unset fields left out."""
        return [m.model_dump(exclude_unset=True) for m in self.messages]

    def template_kwargs(self) -> dict[str, Any]:
        # exclude_unset, not exclude_none: an explicit null stays, as the template saw it before validation; but
        # not enable_thinking's: templates test `enable_thinking is defined and not enable_thinking`, so a client
        # forwarding an unset option as null turned thinking off, where leaving it out keeps the template's default
        kwargs = self.chat_template_kwargs.model_dump(exclude_unset=True) if self.chat_template_kwargs else {}
        if kwargs.get("enable_thinking", False) is None:
            del kwargs["enable_thinking"]
        return kwargs

