"""A request's structured-output constraint, read from whichever field set it, as an llguidance grammar; compiled
(axk1/infer/guided.py) before the request is queued, so a bad schema, regex or grammar is a 400 that quotes
llguidance's message and costs no generation.

Accepted, one per request (two are a 400 that names both):
- OpenAI's `response_format`: {"type": "text"} (no constraint), {"type": "json_object"} (any JSON object),
  {"type": "json_schema", "json_schema": {"name": ..., "schema": {...}, "strict": ...}} (`strict` or not, the
  schema is enforced);
- vLLM's `guided_json` (a schema, or its JSON text), `guided_regex`, `guided_choice` (a list of strings: the reply
  is one of them), `guided_grammar` (Lark as llguidance reads it, or GBNF, which llguidance converts: vLLM's
  "guidance" backend reads it the same way), and their newer form `structured_outputs` with one of "json", "regex",
  "choice", "grammar", "json_object";
- `tool_choice` "required" or {"type": "function", "function": {"name": ...}}: the reply is one or more tool calls
  (exactly one for a named function, or with parallel_tool_calls false) in the model's own layout, `<tool_call>`
  blocks of {"name", "arguments"} (axk1/text/tool_format.py), the arguments following the function's `parameters`
  schema; the server parses them as any reply's calls (axk1/infer/tool_calls.py).

JSON is constrained with llguidance's JSON grammar, whitespace between its tokens bounded (JSON_OPTIONS).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import llguidance

from axk1.infer.guided import Guide
from axk1.infer.protocol import APIError
from axk1.infer.sequence import SamplingParams
from axk1.text.tool_format import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

# Whitespace between JSON tokens: at most a line break and an indent's worth, not llguidance's default of any run.
# A model may lay the JSON out as it learnt to; a run without a bound let a model loop on newlines until max_tokens
# (vLLM's reports of "guided JSON generates endless whitespace", and what a random-weight model does here).
JSON_OPTIONS = {"whitespace_pattern": r"[\x20\x0A\x0D\x09]{0,16}"}
TAIL = "}\n"  # after a call's arguments: its object's end, and the line break before </tool_call>
STRUCTURED_KINDS = ("json", "regex", "choice", "grammar", "json_object")  # vLLM's structured_outputs keys


def _json_grammar(schema: Any, field: str) -> str:
    if isinstance(schema, str):  # vLLM takes a schema's JSON text too
        try:
            schema = json.loads(schema)
        except ValueError as e:
            raise APIError(400, f"'{field}' is a string that is not JSON ({e}); send the schema as an object",
                           param=field, code="invalid_value") from None
    if not isinstance(schema, dict):
        raise APIError(400, f"'{field}' must be a JSON schema (an object), got {type(schema).__name__}", param=field,
                       code="invalid_type")
    try:
        return llguidance.LLMatcher.grammar_from_json_schema(schema, defaults=JSON_OPTIONS)
    except ValueError as e:
        raise APIError(400, f"invalid {field}: {e}", param=field, code="invalid_value") from None


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise APIError(400, f"'{field}' must be a non-empty string", param=field, code="invalid_type")
    return value


def _choice_grammar(choices: Any, field: str) -> str:
    if not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c for c in choices):
        raise APIError(400, f"'{field}' must be a non-empty list of non-empty strings (the reply is one of them)",
                       param=field, code="invalid_type")
    return llguidance.LLMatcher.grammar_from_lark("start: " + " | ".join(json.dumps(c) for c in choices))


def _lark_grammar(text: Any, field: str) -> str:
    try:
        return llguidance.grammar_from("grammar", _text(text, field))  # Lark, or GBNF converted to Lark
    except ValueError as e:
        raise APIError(400, f"invalid {field}: {e}", param=field, code="invalid_value") from None


def _response_format(fmt: dict[str, Any]) -> str | None:
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return _json_grammar({"type": "object"}, "response_format")
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or "schema" not in spec:
            raise APIError(400, "response_format of type json_schema needs 'json_schema': {\"name\": ..., "
                                "\"schema\": {...}}", param="response_format.json_schema", code="invalid_value")
        return _json_grammar(spec["schema"], "response_format.json_schema.schema")
    raise APIError(400, f"response_format type {json.dumps(kind)[:40]} is not one this server knows: send \"text\", "
                        "\"json_object\" or \"json_schema\"", param="response_format.type", code="invalid_value")


def _structured(spec: dict[str, Any]) -> tuple[str, str]:
    kinds = [k for k in spec if spec[k] is not None and spec[k] is not False]
    unknown = [k for k in kinds if k not in STRUCTURED_KINDS]
    if unknown:
        raise APIError(400, f"structured_outputs.{unknown[0][:60]} is not supported by this server: send one of "
                            f"{', '.join(STRUCTURED_KINDS)}", param=f"structured_outputs.{unknown[0][:60]}",
                       code="unsupported_parameter")
    if len(kinds) != 1:
        raise APIError(400, f"structured_outputs must set exactly one of {', '.join(STRUCTURED_KINDS)}, got "
                            f"{len(kinds)}", param="structured_outputs", code="invalid_value")
    kind = kinds[0]
    field = f"structured_outputs.{kind}"
    if kind == "json_object":
        return field, _json_grammar({"type": "object"}, field)
    build = {"json": _json_grammar, "regex": lambda v, f: llguidance.LLMatcher.grammar_from_regex(_text(v, f)),
             "choice": _choice_grammar, "grammar": _lark_grammar}[kind]
    return field, build(spec[kind], field)


def constraint_fields(req: Any) -> list[str]:
    """The request fields that set a constraint (a forced tool call counts as one)."""
    fields = [name for name in ("guided_json", "guided_regex", "guided_choice", "guided_grammar", "structured_outputs")
              if getattr(req, name, None) is not None]
    if req.response_format not in (None, {"type": "text"}):
        fields.insert(0, "response_format")
    if getattr(req, "tool_choice", None) not in (None, "none", "auto"):
        fields.append("tool_choice")
    return fields


def tool_grammar(req: Any, guide: Guide) -> str:
    """The grammar of a reply that is only tool calls, in the hermes layout the chat template teaches: one block
    per call, a newline apart, each `<tool_call>\\n{"name": <a tool's name>, "arguments": <its parameters' JSON>}\\n
    </tool_call>`, written as tool_format.call_block writes it (the text the model was trained on)."""
    functions = [t.get("function", t) for t in req.tools]  # OpenAI's {"type", "function"}, or a bare function
    if isinstance(req.tool_choice, dict):
        name = req.tool_choice["function"]["name"]  # tool_choice.tool_problem checked it names one of the tools
        functions = [next(f for f in functions if f["name"] == name)]
    rules = []
    for i, fn in enumerate(functions):
        schema = fn.get("parameters") or {"type": "object"}
        head = "\n{\"name\": " + json.dumps(fn["name"], ensure_ascii=False) + ", \"arguments\": "
        rules.append(f"call_{i}: {guide.literal(TOOL_CALL_OPEN)} {json.dumps(head)} args_{i} {json.dumps(TAIL)} "
                     f"{guide.literal(TOOL_CALL_CLOSE)}\nargs_{i}: %json "
                     f"{json.dumps({'x-guidance': JSON_OPTIONS, **schema})}")
    one = isinstance(req.tool_choice, dict) or req.parallel_tool_calls is False
    start = "start: call" if one else "start: call (\"\\n\" call)*"
    calls = "call: " + " | ".join(f"call_{i}" for i in range(len(functions)))
    return llguidance.LLMatcher.grammar_from_lark("\n".join([start, calls, *rules]))


def request_grammar(req: Any, guide: Guide | None) -> tuple[str, str] | None:
    """(field, llguidance grammar) of the request's constraint, or None; a 400 naming the field for a constraint
    that cannot be built (two of them, a shape the field does not take, no tokenizer to constrain with)."""
    fields = constraint_fields(req)
    if not fields:
        return None
    if len(fields) > 1:
        raise APIError(400, f"'{fields[0]}' and '{fields[1]}' both constrain the reply: send one of them",
                       param=fields[1], code="invalid_value")
    field = fields[0]
    if guide is None:
        raise APIError(400, f"'{field}' is not available on this server: structured outputs are built over the "
                            "model folder's tokenizer.json, which it lacks (or which llguidance could not read: see "
                            "the server's log)", param=field, code="unsupported_parameter")
    if field == "response_format":
        grammar = _response_format(req.response_format)
        return None if grammar is None else (field, grammar)
    if field == "structured_outputs":
        return _structured(req.structured_outputs)
    if field == "tool_choice":
        return field, tool_grammar(req, guide)
    value = getattr(req, field)
    if field == "guided_json":
        return field, _json_grammar(value, field)
    if field == "guided_regex":
        return field, llguidance.LLMatcher.grammar_from_regex(_text(value, field))
    if field == "guided_choice":
        return field, _choice_grammar(value, field)
    return field, _lark_grammar(value, field)


async def constrained(guide: Guide | None, req: Any, params: SamplingParams, reasoning: bool) -> SamplingParams:
    """`params` with the request's constraint compiled (in a worker thread: a large schema takes a second), or
    `params` as they are when it has none. `reasoning`: the prompt leaves the model in a think block, so the
    constraint starts after its `</think>`."""
    spec = request_grammar(req, guide)
    if spec is None:
        return params
    field, grammar = spec
    try:
        constraint = await asyncio.to_thread(guide.compile, grammar, field)
    except ValueError as e:
        raise APIError(400, str(e), param=field, code="invalid_value") from None
    return replace(params, constraint=constraint.waiting_for(guide.think_close if reasoning else None))
