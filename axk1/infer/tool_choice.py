"""Which tool-calling requests /v1/chat/completions serves (the request side of axk1/infer/tool_requests.py,
kept apart so that the schema can ask it without importing the protocol, which imports the schema).

Served: `tools` with `tool_choice` "auto" (the default when tools are sent: the model decides), "none", "required"
or a named function ({"type": "function", "function": {"name": ...}}); the last two force the reply to be calls,
by guided decoding (axk1/infer/guided_request.py). Refused by name: OpenAI's deprecated `functions` /
`function_call`, a named function not in `tools`, a function whose `parameters` schema has a `type` other than
"object" (OpenAI's rule and error code: a call's arguments are an object, and the parser takes no other value; a
schema without `type` is read as an object's, as vLLM reads it), and `tools` inside chat_template_kwargs (the
template would list them unchecked, and no call in the reply would be parsed). A forced reply's `stop` and
`stop_token_ids` do not apply (forces_tool_calls). `function.strict` (true, false or null) is enforced under "auto"
too (strict_tools): the reply stays free, and each call the model opens with its `<tool_call>` token is written by
guided decoding from there to its `</tool_call>`, naming one of the tools, a strict function's arguments following
its `parameters` (axk1/infer/guided_request.py, strict_call_grammar). A forced call's arguments always follow them.
"""

from __future__ import annotations

import json
from typing import Any

from axk1.text.tool_format import check_tools

MAX_TOOLS = 128  # OpenAI's limit; each is rendered into every prompt of the request


def tool_problem(req: Any) -> tuple[str, ...] | None:
    """(field, message[, code]) for tool fields this server cannot honour (schema.ChatRequest.problem)."""
    if req.functions:
        return "functions", "'functions' is OpenAI's deprecated form of tools; send them as 'tools'"
    if req.function_call not in (None, "none"):
        return "function_call", "'function_call' is OpenAI's deprecated form of tool_choice; send 'tool_choice'"
    kwargs = req.chat_template_kwargs
    if kwargs is not None and "tools" in (kwargs.model_extra or {}):
        # with or without `tools`: the template listed them unchecked (a string "abc" as tools "a", "b", "c") and
        # no reply's calls were parsed, since only `tools` turns the parser on
        return ("chat_template_kwargs.tools", "tools go in the request's 'tools' field, not in chat_template_kwargs "
                                              "(from there they are listed unchecked and the reply's tool calls are "
                                              "never parsed): send them as 'tools'", "invalid_value")
    if req.tools is not None:
        if len(req.tools) > MAX_TOOLS:
            return "tools", f"at most {MAX_TOOLS} tools per request (got {len(req.tools)})", "invalid_value"
        try:
            check_tools(req.tools)
        except ValueError as e:
            return "tools", f"invalid tools: {e}", "invalid_value"
        problem = _parameters_problem(req.tools) or _strict_problem(req.tools)
        if problem is not None:
            return problem
    choice = req.tool_choice
    if choice in (None, "none"):
        return None
    if choice in ("auto", "required"):
        return None if req.tools else ("tool_choice", f"tool_choice \"{choice}\" needs 'tools'", "invalid_value")
    shown = json.dumps(choice)[:80]
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(choice, dict) or choice.get("type") != "function" or not isinstance(name, str):
        return ("tool_choice", f"tool_choice {shown} is not one this server knows: send \"auto\", \"none\", "
                               "\"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}",
                "invalid_value")
    names = [t.get("function", t).get("name") for t in req.tools or []]
    if name not in names:
        return ("tool_choice", f"tool_choice names the function {json.dumps(name)[:80]}, which is not in 'tools' "
                               f"({', '.join(map(str, names))[:200] or 'none sent'})", "invalid_value")
    return None


def _parameters_problem(tools: list[dict[str, Any]]) -> tuple[str, str, str] | None:
    for i, tool in enumerate(tools):
        parameters = tool.get("function", tool).get("parameters")
        kind = parameters.get("type") if isinstance(parameters, dict) else None
        if kind is None or kind == "object" or (isinstance(kind, list) and "object" in kind):
            continue
        where = f"tools[{i}].function.parameters" if "function" in tool else f"tools[{i}].parameters"
        return (where, f"invalid {where}: a function's parameters must be a JSON schema of type \"object\" (a "
                       f"call's arguments are a JSON object), got type {json.dumps(kind)[:60]}: make the value a "
                       "property of an object", "invalid_function_parameters")
    return None


def _strict_problem(tools: list[dict[str, Any]]) -> tuple[str, str, str] | None:
    for i, tool in enumerate(tools):
        strict = tool.get("function", tool).get("strict")
        if strict is not None and not isinstance(strict, bool):
            where = f"tools[{i}].function.strict" if "function" in tool else f"tools[{i}].strict"
            return where, f"{where} must be true or false, got {json.dumps(strict)[:40]}", "invalid_type"
    return None


def strict_tools(req: Any) -> bool:
    """Whether the model's own calls must follow their functions' schemas: tool_choice "auto" (or unset) with a
    function whose `strict` is true (OpenAI's contract: a strict function's call always matches its schema)."""
    tools = getattr(req, "tools", None) or []
    return getattr(req, "tool_choice", None) in (None, "auto") and any(
        t.get("function", t).get("strict") is True for t in tools)


def forces_tool_calls(req: Any) -> bool:
    """Whether the reply is forced to be tool calls (tool_choice "required" or a named function). Its `stop` and
    `stop_token_ids` are not applied: the grammar writes the whole reply as calls, so a stop could only cut one
    short (`stop: ["\\n"]` left `<tool_call>` as content, `["</tool_call>"]` the call's raw text); the reply ends
    where the grammar does, at max_tokens, or at the one call parallel_tool_calls false allows."""
    return bool(getattr(req, "tools", None)) and getattr(req, "tool_choice", None) not in (None, "none", "auto")


def parses_tool_calls(req: Any) -> bool:
    return bool(req.tools) and req.tool_choice != "none"
