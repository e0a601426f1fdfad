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
  schema; the server parses them as any reply's calls (axk1/infer/tool_calls.py);
- `tools` with a function whose `strict` is true, under tool_choice "auto" (and no other constraint): the reply is
  free, and each call the model opens with its `<tool_call>` token follows one call's grammar (strict_call_grammar)
  to its `</tool_call>` (a triggered Constraint, axk1/infer/guided.py).

JSON is constrained with llguidance's JSON grammar, whitespace between its tokens bounded (JSON_OPTIONS), or as
vLLM's `guided_whitespace_pattern` / `structured_outputs.whitespace_pattern` (a regex for it) or
`structured_outputs.disable_any_whitespace` (none) say: those apply to a JSON constraint only, and are refused by name
beside any other (or none). A schema sent as JSON text is read here, with the body's nesting bound.
All of this runs in a worker thread (`constrained`): a schema's text and its grammar can be large.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from typing import Any

import llguidance

from axk1.infer.finite_schema import recursion_without_exit
from axk1.infer.guided import Guide, plain_message
from axk1.infer.protocol import MAX_JSON_DEPTH, APIError, json_shape
from axk1.infer.sequence import SamplingParams
from axk1.infer.tool_choice import strict_tools
from axk1.json_text import parse_json
from axk1.text.tool_format import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

# Whitespace between JSON tokens: at most a line break and an indent's worth, not llguidance's default of any run.
# A model may lay the JSON out as it learnt to; a run without a bound let a model loop on newlines until max_tokens
# (vLLM's reports of "guided JSON generates endless whitespace", and what a random-weight model does here).
JSON_OPTIONS = {"whitespace_pattern": r"[\x20\x0A\x0D\x09]{0,16}"}
TAIL = "}\n"  # after a call's arguments: its object's end, and the line break before </tool_call>
STRUCTURED_KINDS = ("json", "regex", "choice", "grammar", "json_object")  # vLLM's structured_outputs keys
STRUCTURED_OPTIONS = ("whitespace_pattern", "disable_any_whitespace")  # vLLM's: how a JSON constraint lays it out
# A Lark rule or terminal line (`start:`, `?expr:`, `!name.2:`, `NAME:`), not GBNF's `name ::=`: llguidance's own
# test (`start:` on a line) took vLLM's SQL sample, whose rules are all `?name:`, for GBNF and failed to convert it
# The keys OpenAI's response_format takes, by type, and those of its json_schema; the name's rule is OpenAI's
RESPONSE_FORMAT_KEYS = {"text": ("type",), "json_object": ("type",), "json_schema": ("type", "json_schema")}
JSON_SCHEMA_KEYS = ("name", "description", "schema", "strict")
SCHEMA_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
INT_RANGE = (-2**63, 2**64 - 1)  # the integers llguidance's schema reader holds (Rust's i64 and u64)
_LARK_RULE = re.compile(r"(?m)^\s*(%llguidance\b|[?!]?[A-Za-z_][A-Za-z0-9_]*(\.-?\d+)?\s*:(?!:=))")


def _json_grammar(schema: Any, field: str, options: dict[str, Any] | None = None) -> str:
    if isinstance(schema, str):  # vLLM takes a schema's JSON text too: read as the body is, within its nesting bound
        depth = json_shape(schema.encode("utf-8", "surrogatepass"))[0]
        if depth > MAX_JSON_DEPTH:
            raise APIError(400, f"'{field}' is JSON text that nests {depth} deep; at most {MAX_JSON_DEPTH} levels are "
                                "accepted", param=field, code="invalid_value")
        try:
            schema = parse_json(schema)
        except ValueError as e:
            raise APIError(400, f"'{field}' is a string that is not JSON ({e}); send the schema as an object",
                           param=field, code="invalid_value") from None
    if not isinstance(schema, dict):
        raise APIError(400, f"'{field}' must be a JSON schema (an object), got {type(schema).__name__}", param=field,
                       code="invalid_type")
    _check_schema(schema, field)
    try:
        return llguidance.LLMatcher.grammar_from_json_schema(schema, defaults=options or JSON_OPTIONS)
    except ValueError as e:
        raise APIError(400, f"invalid {field}: {plain_message(str(e))}", param=field, code="invalid_value") from None


def _check_schema(schema: dict[str, Any], field: str) -> None:
    """A 400 naming what in a client's schema this server will not compile: an `x-guidance` key (llguidance reads
    its options there over the server's, so `{"lenient": true}` turned the refusal of unsupported keywords off and
    `whitespace_pattern` lifted JSON_OPTIONS' bound), an integer llguidance cannot hold (it said only "Value is not
    JSON serializable"), a value with no finite instance."""
    if "x-guidance" in schema:
        raise APIError(400, f"invalid {field}: the key 'x-guidance' (llguidance's options) is not accepted in a "
                            "schema: this server sets them; remove it (JSON's whitespace is set by "
                            "structured_outputs.whitespace_pattern or disable_any_whitespace)",
                       param=field, code="invalid_value")
    found = _huge_int(schema, "")
    if found is not None:
        where, value = found
        shown = str(value) if value.bit_length() < 256 else f"{'-' if value < 0 else ''}2^{value.bit_length() - 1}..."
        raise APIError(400, f"invalid {field}: the integer {shown} at {where or 'its top'} is outside the range "
                            "a schema's integers may take here (-2^63 to 2^64-1): use a bound within it, or a "
                            "number with a fraction or exponent (1e20)", param=field, code="invalid_value")
    _check_finite(schema, field)


def _huge_int(value: Any, where: str) -> tuple[str, int] | None:
    """(path, value) of the first integer in `value` past llguidance's 64-bit range, or None (a body's nesting is
    bounded by the request's parse, so the recursion is too)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None if INT_RANGE[0] <= value <= INT_RANGE[1] else (where, value)
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _huge_int(item, f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else key)
        if found is not None:
            return found
    return None


def json_options(req: Any) -> tuple[str, dict[str, Any]] | None:
    """(field, llguidance's JSON options) where the request sets how JSON lays out its whitespace, else None."""
    spec = req.structured_outputs if isinstance(getattr(req, "structured_outputs", None), dict) else {}
    set_ = [(f"structured_outputs.{k}", spec[k]) for k in STRUCTURED_OPTIONS if spec.get(k) not in (None, False)]
    if getattr(req, "guided_whitespace_pattern", None) is not None:
        set_.insert(0, ("guided_whitespace_pattern", req.guided_whitespace_pattern))
    if not set_:
        return None
    if len(set_) > 1:
        raise APIError(400, f"'{set_[0][0]}' and '{set_[1][0]}' both set JSON's whitespace: send one of them",
                       param=set_[1][0], code="invalid_value")
    field, value = set_[0]
    if field.endswith("disable_any_whitespace"):
        if value is not True:
            raise APIError(400, f"'{field}' must be true or false", param=field, code="invalid_type")
        return field, {"whitespace_flexible": False}  # no whitespace at all: {"a":1,"b":2}
    if not isinstance(value, str) or len(value) > 1000:
        raise APIError(400, f"'{field}' must be a regular expression (a string of at most 1,000 characters) for the "
                            "whitespace JSON may hold between its tokens", param=field, code="invalid_type")
    error = llguidance.LLMatcher.validate_grammar(llguidance.LLMatcher.grammar_from_regex(value)) if value else ""
    if error:
        raise APIError(400, f"invalid {field}: {error.splitlines()[0][:300]}", param=field, code="invalid_value")
    return field, {"whitespace_pattern": value}


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
    kind = "lark" if _LARK_RULE.search(_text(text, field)) else "grammar"  # "grammar": GBNF, converted to Lark
    try:
        return llguidance.grammar_from(kind, text)
    except ValueError as e:
        raise APIError(400, f"invalid {field}: {e}", param=field, code="invalid_value") from None


def _response_format(fmt: dict[str, Any], options: dict[str, Any] | None) -> str | None:
    kind = fmt.get("type")
    if kind not in RESPONSE_FORMAT_KEYS:
        raise APIError(400, f"response_format type {json.dumps(kind)[:40]} is not one this server knows: send "
                            "\"text\", \"json_object\" or \"json_schema\"", param="response_format.type",
                       code="invalid_value")
    _refuse_unknown(fmt, RESPONSE_FORMAT_KEYS[kind], "response_format", f"of type {kind}")
    if kind == "text":
        return None
    if kind == "json_object":
        return _json_grammar({"type": "object"}, "response_format", options)
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict) or "schema" not in spec:
        raise APIError(400, "response_format of type json_schema needs 'json_schema': {\"name\": ..., "
                            "\"schema\": {...}}", param="response_format.json_schema", code="invalid_value")
    _refuse_unknown(spec, JSON_SCHEMA_KEYS, "response_format.json_schema", "")
    name = spec.get("name")
    if not isinstance(name, str) or not SCHEMA_NAME.fullmatch(name):  # OpenAI's rule for the name
        raise APIError(400, "response_format.json_schema.name must be 1 to 64 letters, digits, '_' or '-' (OpenAI's "
                            f"rule), got {json.dumps(name)[:80] if 'name' in spec else 'none'}",
                       param="response_format.json_schema.name", code="invalid_value")
    if spec.get("strict") is not None and not isinstance(spec["strict"], bool):
        raise APIError(400, f"response_format.json_schema.strict must be true or false, got "
                            f"{json.dumps(spec['strict'])[:40]}", param="response_format.json_schema.strict",
                       code="invalid_type")
    if spec.get("description") is not None and not isinstance(spec["description"], str):
        raise APIError(400, "response_format.json_schema.description must be a string",
                       param="response_format.json_schema.description", code="invalid_type")
    return _json_grammar(spec["schema"], "response_format.json_schema.schema", options)


def _refuse_unknown(spec: dict[str, Any], known: tuple[str, ...], field: str, what: str) -> None:
    """A 400 naming a key `spec` may not have: OpenAI refuses them, and silently ignored they lost what the client
    meant (a "schema" beside type json_object left the reply unconstrained by it)."""
    for key in spec:
        if key not in known:
            hint = (": to follow a schema send {\"type\": \"json_schema\", \"json_schema\": {\"name\": ..., "
                    "\"schema\": {...}}}") if key in ("schema", "json_schema") else ""
            raise APIError(400, f"{field}{' ' + what if what else ''} takes only {', '.join(known)}; "
                                f"{json.dumps(key)[:60]} is not one of them{hint}", param=f"{field}.{key[:60]}",
                           code="invalid_value")


def _structured(spec: dict[str, Any], options: dict[str, Any] | None) -> tuple[str, str]:
    kinds = [k for k in spec if spec[k] is not None and spec[k] is not False and k not in STRUCTURED_OPTIONS]
    unknown = [k for k in kinds if k not in STRUCTURED_KINDS]
    if unknown:
        raise APIError(400, f"structured_outputs.{unknown[0][:60]} is not supported by this server: send one of "
                            f"{', '.join(STRUCTURED_KINDS)} (and optionally {' or '.join(STRUCTURED_OPTIONS)})",
                       param=f"structured_outputs.{unknown[0][:60]}", code="unsupported_parameter")
    if len(kinds) != 1:
        raise APIError(400, f"structured_outputs must set exactly one of {', '.join(STRUCTURED_KINDS)}, got "
                            f"{len(kinds)}", param="structured_outputs", code="invalid_value")
    kind = kinds[0]
    field = f"structured_outputs.{kind}"
    if kind == "json_object":
        return field, _json_grammar({"type": "object"}, field, options)
    build = {"json": lambda v, f: _json_grammar(v, f, options),
             "regex": lambda v, f: llguidance.LLMatcher.grammar_from_regex(_text(v, f)),
             "choice": _choice_grammar, "grammar": _lark_grammar}[kind]
    return field, build(spec[kind], field)


def constraint_fields(req: Any) -> list[str]:
    """The request fields that set a constraint (a forced tool call counts as one)."""
    fields = [name for name in ("guided_json", "guided_regex", "guided_choice", "guided_grammar", "structured_outputs")
              if getattr(req, name, None) is not None]
    spec = getattr(req, "structured_outputs", None)
    if isinstance(spec, dict) and spec and all(k in STRUCTURED_OPTIONS for k in spec):  # a layout, no constraint
        fields.remove("structured_outputs")
    if req.response_format not in (None, {"type": "text"}):
        fields.insert(0, "response_format")
    if getattr(req, "tool_choice", None) not in (None, "none", "auto"):
        fields.append("tool_choice")
    return fields


def _check_finite(schema: Any, field: str) -> None:
    """A 400 naming the field of a schema with no finite value (axk1/infer/finite_schema.py): its matcher would
    fail a few tokens into the reply, or nest until max_tokens."""
    found = recursion_without_exit(schema)
    if found:
        where, ref = found
        place = f"the value at {where}" if where else "its value"
        raise APIError(400, f"invalid {field}: the schema has no finite value: {place} must match $ref "
                            f"{json.dumps(ref)[:100]}, which can only recur (each value it allows holds another); give "
                            "the recursion a way out (an optional property, an anyOf branch that does not refer back, "
                            "or minItems 0)", param=field, code="invalid_value")


def _check_parameters(schema: Any, field: str) -> None:
    """A 400 naming a tool's `parameters` where llguidance cannot read them as a schema (else the error would come
    from the whole tool-call grammar, blamed on tool_choice and quoting its Lark lines), or where they have no
    finite value (checked per tool: a broken tool is refused by name, before any choice could pick it)."""
    _check_schema(schema, field)
    try:
        error = llguidance.LLMatcher.validate_grammar(
            llguidance.LLMatcher.grammar_from_json_schema(schema, defaults=JSON_OPTIONS))
    except ValueError as e:
        error = str(e)
    if error:
        raise APIError(400, f"invalid {field}: {plain_message(error.strip().splitlines()[0])[:400]}", param=field,
                       code="invalid_value")


def _functions(req: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The request's functions (OpenAI's {"type", "function"}, or a bare function) and where each one's parameters
    are, for errors."""
    functions = [t.get("function", t) for t in req.tools]
    where = [f"tools[{i}].function.parameters" if "function" in t else f"tools[{i}].parameters"
             for i, t in enumerate(req.tools)]
    return functions, where


def tool_grammar(req: Any, guide: Guide) -> str:
    """The grammar of a reply that is only tool calls, in the hermes layout the chat template teaches: one block
    per call, a newline apart, each `<tool_call>\\n{"name": <a tool's name>, "arguments": <its parameters' JSON>}\\n
    </tool_call>`, written as tool_format.call_block writes it (the text the model was trained on)."""
    functions, where = _functions(req)
    if isinstance(req.tool_choice, dict):
        name = req.tool_choice["function"]["name"]  # tool_choice.tool_problem checked it names one of the tools
        functions, where = zip(*[(f, w) for f, w in zip(functions, where) if f["name"] == name][:1])
    schemas = [{**(fn.get("parameters") or {}), "type": "object"} for fn in functions]  # an object (tool_choice.py)
    one = isinstance(req.tool_choice, dict) or req.parallel_tool_calls is False
    return _calls_grammar(functions, schemas, where, guide, one)


def strict_call_grammar(req: Any, guide: Guide) -> str:
    """The grammar of one call, from its `<tool_call>` on, for a reply tool_choice "auto" leaves free and whose
    tools include a strict one (tool_choice.strict_tools): the engine starts it when the model writes `<tool_call>`
    (Constraint.trigger). The call names one of the tools; a strict function's arguments follow its `parameters`,
    another's are any JSON object (what the parser takes as a call's arguments)."""
    if guide.special_id(TOOL_CALL_OPEN) is None:
        raise APIError(400, f"'tools' with function.strict true under tool_choice \"auto\" is enforced from the "
                            f"model's {TOOL_CALL_OPEN} token, and this model's tokenizer has no such token: send "
                            "strict false, or tool_choice \"required\" or the function's name (forced calls always "
                            "follow the schema)", param="tools", code="invalid_value")
    functions, where = _functions(req)
    schemas = [{**(fn.get("parameters") or {}), "type": "object"} if fn.get("strict") is True else {"type": "object"}
               for fn in functions]
    return _calls_grammar(functions, schemas, where, guide, one=True)


def _calls_grammar(functions: Any, schemas: list[dict[str, Any]], where: Any, guide: Guide, one: bool) -> str:
    rules = []
    for i, (fn, schema) in enumerate(zip(functions, schemas)):
        _check_parameters(schema, where[i])
        head = "\n{\"name\": " + json.dumps(fn["name"], ensure_ascii=False) + ", \"arguments\": "
        rules.append(f"call_{i}: {guide.literal(TOOL_CALL_OPEN)} {json.dumps(head)} args_{i} {json.dumps(TAIL)} "
                     f"{guide.literal(TOOL_CALL_CLOSE)}\nargs_{i}: %json "
                     f"{json.dumps({'x-guidance': JSON_OPTIONS, **schema})}")
    start = "start: call" if one else "start: call (\"\\n\" call)*"
    calls = "call: " + " | ".join(f"call_{i}" for i in range(len(functions)))
    return llguidance.LLMatcher.grammar_from_lark("\n".join([start, calls, *rules]))


def request_grammar(req: Any, guide: Guide | None) -> tuple[str, str] | None:
    """(field, llguidance grammar) of the request's constraint, or None; a 400 naming the field for a constraint
    that cannot be built (two of them, a shape the field does not take, no tokenizer to constrain with)."""
    fields, options = constraint_fields(req), json_options(req)
    if options and not (fields and _is_json(req, fields[0])):
        raise APIError(400, f"'{options[0]}' sets the whitespace of a JSON constraint, and this request has "
                            f"{'no constraint' if not fields else repr(fields[0]) + ', which is not JSON'}: send it "
                            "with guided_json, response_format or structured_outputs.json", param=options[0],
                       code="invalid_value")
    if not fields:
        if not strict_tools(req):
            return None
        fields = ["tools"]  # strict calls in a free reply: a constraint each call starts (strict_call_grammar)
    if len(fields) > 1:
        raise APIError(400, f"'{fields[0]}' and '{fields[1]}' both constrain the reply: send one of them",
                       param=fields[1], code="invalid_value")
    field = fields[0]
    if guide is None:
        what = "'tools' with function.strict true" if field == "tools" else f"'{field}'"
        raise APIError(400, f"{what} is not available on this server: structured outputs are built over the "
                            "model folder's tokenizer.json, which it lacks (or which llguidance could not read: see "
                            "the server's log)", param=field, code="unsupported_parameter")
    layout = options[1] if options else None
    if field == "response_format":
        grammar = _response_format(req.response_format, layout)
        return None if grammar is None else (field, grammar)
    if field == "structured_outputs":
        return _structured(req.structured_outputs, layout)
    if field == "tool_choice":
        return field, tool_grammar(req, guide)
    if field == "tools":
        return field, strict_call_grammar(req, guide)
    value = getattr(req, field)
    if field == "guided_json":
        return field, _json_grammar(value, field, layout)
    if field == "guided_regex":
        return field, llguidance.LLMatcher.grammar_from_regex(_text(value, field))
    if field == "guided_choice":
        return field, _choice_grammar(value, field)
    return field, _lark_grammar(value, field)


def _is_json(req: Any, field: str) -> bool:
    """Whether the constraint in `field` is JSON (what the whitespace options apply to)."""
    if field == "response_format":
        return isinstance(req.response_format, dict) and req.response_format.get("type") in ("json_object",
                                                                                             "json_schema")
    if field == "structured_outputs":
        spec = req.structured_outputs if isinstance(req.structured_outputs, dict) else {}
        return any(spec.get(k) not in (None, False) for k in ("json", "json_object"))
    return field == "guided_json"


def _compile(guide: Guide | None, req: Any) -> Any:
    spec = request_grammar(req, guide)
    if spec is None:
        return None
    field, grammar = spec
    try:
        constraint = guide.compile(grammar, field)
    except ValueError as e:
        raise APIError(400, str(e), param=field, code="invalid_value") from None
    return constraint.triggered_by(guide.special_id(TOOL_CALL_OPEN)) if field == "tools" else constraint


async def constrained(guide: Guide | None, req: Any, params: SamplingParams, reasoning: bool) -> SamplingParams:
    """`params` with the request's constraint read and compiled (in a worker thread: a schema's JSON text is parsed
    there, and a large schema takes a second to compile, with its first masks tried), or `params` as they are when
    it has none. `reasoning`: the prompt leaves the model in a think block, so the constraint starts after its
    `</think>`."""
    constraint = await asyncio.to_thread(_compile, guide, req)
    if constraint is None:
        return params
    return replace(params, constraint=constraint.waiting_for(guide.think_close if reasoning else None))
