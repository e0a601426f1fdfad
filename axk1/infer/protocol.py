"""From request bytes to a validated request, and the OpenAI error format.

The body goes through cheap checks before anything recursive touches it: its size (413 past the limit), its JSON
nesting depth and its number of items (both counted over the raw bytes, without parsing: a body deeper than 32 is a
400, one of more items than a whole-context prompt needs a 413), UTF-8, then json.loads, then a walk for lone
surrogates ("\\ud800" decodes in Python but no tokenizer can encode it). The decoded object is then validated by the
pydantic models of axk1/infer/schema.py. Every refusal is a 4xx naming the field to change, so a client's mistake
is never answered 5xx, and anything the server cannot honour is refused rather than silently ignored.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError
from pydantic.json_schema import models_json_schema

from axk1.infer.schema import ChatRequest, ChatTemplateKwargs, CompletionRequest, RequestContext, short_int
from axk1.json_text import find_surrogate

__all__ = ["APIError", "BodyLimits", "ChatRequest", "CompletionRequest", "RequestContext", "check_body_headers",
           "decode_body", "json_shape", "parse_request", "request_schemas"]

MAX_JSON_DEPTH = 32  # a chat request is 4 deep (body, messages, message, content part); template kwargs a few more
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # the escape of one, in a JSON text's raw bytes


class APIError(Exception):
    """An error answered as OpenAI does: {"error": {"message", "type", "param", "code"}} with an HTTP status."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class BodyLimits:
    max_bytes: int
    max_depth: int = MAX_JSON_DEPTH
    max_items: int = 2**16

    @classmethod
    def for_context(cls, max_model_len: int) -> BodyLimits:
        """1 MiB, or 64 bytes per context token when that is more: room for a full-context prompt written as JSON
        (escaped non-ASCII text runs ~6 bytes a character, token ids ~7 bytes each). Items: a full-context prompt
        of token ids (one item each) and 65,536 besides. json.loads holds the GIL for its whole run, which no worker
        thread helps: an 8 MiB body of 2.8 million empty lists, under the byte limit of a 128K context, held every
        other request (and /health) for ~3 s; the item limit bounds that run to what a real request costs."""
        return cls(max(2**20, 64 * max_model_len), max_items=max_model_len + 2**16)


def check_body_headers(content_type: str | None, content_encoding: str | None) -> None:
    """A 415 for a body this server cannot read as sent: not JSON by its Content-Type, or compressed."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if not (media == "application/json" or (media.startswith("application/") and media.endswith("+json"))):
        # a browser's cross-site "simple" POST (text/plain, form data) cannot set JSON, so it cannot drive a
        # loopback server either
        raise APIError(415, "send the body as JSON with the header 'Content-Type: application/json' "
                            f"(got {content_type or 'no Content-Type'!r})", code="unsupported_media_type")
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    if any(c != "identity" for c in codings):
        # read as it came, a gzipped body failed as "not valid UTF-8 (byte 0x8b)", naming neither cause nor fix;
        # RFC 9110 (8.4) answers a coding the server does not read with 415
        raise APIError(415, f"this server does not decompress request bodies: send the body uncompressed, without "
                            f"the 'Content-Encoding: {content_encoding[:100]}' header",
                       code="unsupported_content_encoding")


_STRUCTURE = np.zeros(256, dtype=bool)
_STRUCTURE[list(b"[]{},:")] = True


def json_shape(raw: bytes) -> tuple[int, int]:
    """(deepest [ / { nesting, items) of a JSON text, counted without parsing (vectorised, no recursion, no
    per-byte Python loop). Items are the [ { , : outside strings: about one per value or key (a token id is one).
    A quote opens or closes a string unless an odd run of backslashes precedes it; a bracket is outside strings
    when an even number of such quotes precede it. Only the quotes, backslashes and structural bytes are looked
    at, so a long string costs a scan and no more (counting over every byte in int64 took ~370 MB and up to 4 s,
    holding the GIL, for an 8 MiB prompt). On malformed input the counts can be off only past the first syntax
    error, where json.loads stops anyway, so it never recurses deeper, nor builds more, than this says."""
    b = np.frombuffer(raw, dtype=np.uint8)
    quotes = np.flatnonzero(b == ord('"'))
    slashes = np.flatnonzero(b == ord("\\"))
    if slashes.size and quotes.size:
        before = quotes - 1  # a quote is escaped when the run of backslashes ending just before it is odd
        escapable = (before >= 0) & (b[np.maximum(before, 0)] == ord("\\"))
        run_starts = slashes[np.r_[True, np.diff(slashes) != 1]]
        run_start = run_starts[np.searchsorted(run_starts, before, side="right") - 1]
        quotes = quotes[~escapable | ((before - run_start + 1) % 2 == 0)]
    marks = np.flatnonzero(_STRUCTURE[b])
    marks = b[marks[np.searchsorted(quotes, marks) % 2 == 0]]  # those outside strings, in order
    opens = (marks == ord("[")) | (marks == ord("{"))
    closes = (marks == ord("]")) | (marks == ord("}"))
    depth = int(np.cumsum(opens.astype(np.int64) - closes).max()) if marks.size else 0
    items = np.count_nonzero(opens) + np.count_nonzero((marks == ord(",")) | (marks == ord(":")))
    return max(0, depth), int(items)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_body(raw: bytes, limits: BodyLimits) -> Any:
    """The JSON value of a request body, or a 4xx saying what is wrong with it."""
    if len(raw) > limits.max_bytes:
        raise APIError(413, f"the request body is {len(raw)} bytes; this server accepts at most {limits.max_bytes}",
                       code="request_too_large")
    depth, items = json_shape(raw)
    if depth > limits.max_depth:
        raise APIError(400, f"the request body nests JSON {depth} deep; at most {limits.max_depth} levels are "
                            "accepted", code="json_too_deep")
    if items > limits.max_items:
        raise APIError(413, f"the request body holds {items:,} JSON items (values and keys); this server accepts at "
                            f"most {limits.max_items:,}, room for a prompt of its whole context as token ids: send "
                            "fewer prompts, messages or content parts per request", code="request_too_large")
    if raw.startswith(b"\xef\xbb\xbf"):  # a byte-order mark, which RFC 8259 lets a parser ignore
        raw = raw[3:]
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as e:
        raise APIError(400, f"the request body is not valid UTF-8: {e}", code="invalid_json") from None
    except RecursionError:  # unreachable past the depth check; kept so no body can ever reach a 500 this way
        raise APIError(400, "the request body nests JSON too deep", code="json_too_deep") from None
    except ValueError as e:  # JSONDecodeError, NaN/Infinity, an integer of more than 4,300 digits
        raise APIError(400, f"the request body is not valid JSON: {e}", code="invalid_json") from None
    # A lone surrogate can only come from a \uD800-\uDFFF escape (strict UTF-8 decoding refuses encoded ones), so
    # the walk, the slowest check for a body of many small items (~0.7 s for a megabyte of empty lists), runs only
    # when the raw bytes hold one
    where = find_surrogate(data) if _SURROGATE_ESCAPE.search(raw) else None
    if where is not None:
        raise APIError(400, f"'{where}' holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), which is "
                            "not text: send valid Unicode", param=where, code="invalid_encoding")
    return data


def _param(loc: tuple[Any, ...], data: Any, missing: bool) -> str | None:
    """The body path of a validation error, e.g. `messages[0].role`. Pydantic's loc also holds the names of
    union members tried ('str', 'list[int]'); those are not places in the body, so follow the body and keep only
    the steps that exist in it (and a missing field's name, the last step: a union member's name before it, as in
    `content[0].TextPart.text`, is no place)."""
    out, node = "", data
    for n, step in enumerate(loc):
        if isinstance(node, dict) and isinstance(step, str) and (step in node or (missing and n == len(loc) - 1)):
            out = f"{out}.{step}" if out else step
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            out, node = f"{out}[{step}]", node[step]
    return out or None


def _explain(errors: list[dict[str, Any]], data: Any) -> tuple[str | None, str, str, dict[str, Any]]:
    """(param, message, error type, the error) of the error to report. A union field fails once per member
    ('prompt' as a string, as a list of ids, ...): report where a value rather than a type was wrong if there is
    one (a list of 1,000 stop strings is too long, not "not a string"; 129 prompts are too many, not "prompt[0] is
    not a token id"), the deepest such place in the body, and when the members disagree only on the type, every
    type it could have been."""
    ranked = []
    for err in _meant_members(errors):
        param = _param(tuple(err["loc"]), data, err["type"] == "missing")
        if err["type"] == "reserved_key":  # a key of chat_template_kwargs: name it
            param = f"{param}.{err['ctx']['key']}"
        depth = 0 if param is None else param.count(".") + param.count("[") + 1
        ranked.append(((not err["type"].endswith("_type"), depth), param, err))
    best = max(rank for rank, _, _ in ranked)
    chosen = [(param, err) for rank, param, err in ranked if rank == best]
    param, first = chosen[0]
    msgs = dict.fromkeys(err["msg"] for p, err in chosen if p == param)
    return param, " or ".join(m for m in msgs if m) or first["type"], first["type"], first


def _meant_members(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The errors without those of a union member whose `type` did not match: a content part {"type": "text",
    "text": null} fails as a TextPart (text not a string) and as a RefusalPart (type not 'refusal'); only the first
    is what the client got wrong (the second outranked it as a value error). When every member's type failed (an
    image part) that is the error, and all are kept."""
    locs = [tuple(e["loc"]) for e in errors]
    wrong = {loc[:-1] for loc, e in zip(locs, errors) if e["type"] == "literal_error" and loc[-1:] == ("type",)}
    # a member is dropped only beside one of the same union (the same place) whose type did match
    drop = {w for w in wrong if any(len(loc) >= len(w) and loc[:len(w) - 1] == w[:-1] and loc[:len(w)] not in wrong
                                    for loc in locs)}
    return [e for loc, e in zip(locs, errors) if not any(loc[:len(w)] == w for w in drop)]


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return ""  # the message and the param say enough; echoing a structure would only make it long
    text = short_int(value) if isinstance(value, int) and not isinstance(value, bool) else json.dumps(value)
    return f" (got {text if len(text) <= 40 else text[:37] + '...'})"


def _misspelt(data: dict[str, Any], cls: type[Any]) -> tuple[str, str] | None:
    """(key, the known field it looks like) for a top-level key that is no field but nearly one (max_token,
    temprature, maxTokens), or None. Unknown fields are ignored, as OpenAI-compatible servers do, but a misspelt one
    would be ignored with its value: the reply made as if it had not been sent. Fields OpenAI adds that change
    nothing here (store, metadata, service_tier, ...) are no near miss. At most 64 keys are compared (the body's
    keys are bounded only by its item limit)."""
    known = list(cls.model_fields)
    for key in itertools.islice((k for k in data if k not in cls.model_fields and len(k) <= 64), 64):
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower().replace("-", "_")
        close = difflib.get_close_matches(snake, known, n=1, cutoff=0.85)
        if close:
            return key, close[0]
    return None


def parse_request(cls: type[Any], data: Any, context: RequestContext | None = None) -> Any:
    """Validate a decoded JSON body into `cls`, or raise a 400 that names the first bad field."""
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object", code="invalid_type")
    try:
        request = cls.model_validate(data, context=context)
    except ValidationError as e:
        param, msg, kind, error = _explain(e.errors(), data)
        got = "" if kind in ("missing", "reserved_key") else _shown(error.get("input"))
        code = "invalid_type" if kind.endswith("_type") else (
            "missing_required_parameter" if kind == "missing" else "invalid_value")
        raise APIError(400, f"invalid field '{param}': {msg}{got}", param=param, code=code) from None
    typo = _misspelt(data, cls)
    kwargs = data.get("chat_template_kwargs")
    if typo is None and issubclass(cls, ChatRequest) and isinstance(kwargs, dict):  # enable_thinkng: thinking stayed on
        typo = _misspelt(kwargs, ChatTemplateKwargs)
        typo = typo and (f"chat_template_kwargs.{typo[0]}", typo[1])
    if typo is not None:
        key, field = typo
        raise APIError(400, f"unknown field '{key}': did you mean '{field}'? (unknown fields are ignored, so its "
                            "value would not have applied)", param=key, code="unknown_parameter")
    problem = request.problem()
    if problem is not None:
        param, message, *code = problem
        raise APIError(400, message, param=param, code=code[0] if code else "unsupported_parameter")
    return request


def request_schemas() -> dict[str, Any]:
    """JSON schemas of the request bodies and the models they use, for the OpenAPI document's components."""
    _, top = models_json_schema([(ChatRequest, "validation"), (CompletionRequest, "validation")],
                                ref_template="#/components/schemas/{model}")
    return top["$defs"]
