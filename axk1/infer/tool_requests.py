"""Tool calling on /v1/chat/completions: which requests are served, what the prompt gets, what the reply says.

Served: `tools` with `tool_choice` "auto" (the default when tools are sent: the model decides) or "none". The
tools are listed in the prompt by the chat template (axk1/text/tool_format.py); the reply's `<tool_call>` blocks are
parsed into OpenAI tool calls (axk1/infer/tool_calls.py), `finish_reason` "tool_calls" when there is one. With
"none" the tools are left out of the prompt, so the model is not invited to call them and its reply is all
content (nothing could stop a model that was shown its tools from writing a call; vLLM renders them and leaves the
call in the text). Refused by name: `tool_choice` "required" or a named function, which need guided decoding to
guarantee a call and this server has none; and OpenAI's deprecated `functions` / `function_call`.
"""

from __future__ import annotations

import json
from typing import Any

from axk1.infer.tool_calls import ToolCallParser
from axk1.text.tool_format import check_tools

MAX_TOOLS = 128  # OpenAI's limit; each is rendered into every prompt of the request


def tool_problem(req: Any) -> tuple[str, ...] | None:
    """(field, message[, code]) for tool fields this server cannot honour (schema.ChatRequest.problem)."""
    if req.functions:
        return "functions", "'functions' is OpenAI's deprecated form of tools; send them as 'tools'"
    if req.function_call not in (None, "none"):
        return "function_call", "'function_call' is OpenAI's deprecated form of tool_choice; send 'tool_choice'"
    if req.tools is not None:
        if len(req.tools) > MAX_TOOLS:
            return "tools", f"at most {MAX_TOOLS} tools per request (got {len(req.tools)})", "invalid_value"
        try:
            check_tools(req.tools)
        except ValueError as e:
            return "tools", f"invalid tools: {e}", "invalid_value"
        kwargs = req.chat_template_kwargs
        if kwargs is not None and "tools" in (kwargs.model_extra or {}):
            return ("chat_template_kwargs.tools", "send the tools once, in 'tools' (the template gets them from "
                                                  "there)", "invalid_value")
    choice = req.tool_choice
    if choice in (None, "none"):
        return None
    if choice == "auto":
        return None if req.tools else ("tool_choice", "tool_choice \"auto\" needs 'tools'", "invalid_value")
    shown = json.dumps(choice)
    return "tool_choice", (f"tool_choice {shown[:60]} is not supported by this server: only \"auto\" (the model "
                           "decides whether to call) and \"none\" are; forcing a call needs guided decoding, which "
                           "this server does not do")


def parses_tool_calls(req: Any) -> bool:
    return bool(req.tools) and req.tool_choice != "none"


def template_tools(codec: Any, req: Any) -> dict[str, Any]:
    """The template variables the request's tools add ({} with none, or with tool_choice "none"); a 400 for a
    tool whose text holds a special token (it would forge a turn, as in a message)."""
    from axk1.infer.protocol import APIError, json_strings  # protocol imports the schema, which imports this

    if not parses_tool_calls(req):
        return {}
    for path, text in json_strings(req.tools, "tools"):
        token = codec.find_special_token(text)
        if token is not None:
            raise APIError(400, f"'{path}' holds the special token {token!r}, which only the chat template may "
                                "place; remove it from the text", param=path, code="invalid_value")
    return {"tools": req.tools}


def tool_message(parser: ToolCallParser, in_reasoning_mode: bool) -> dict[str, Any]:
    """The fields a reply's message takes from its parsed answer: content without the call blocks (null when
    empty and there are calls, or the reply never left its think block), and the calls."""
    content: str | None = parser.content
    if not content and (parser.calls or in_reasoning_mode):
        content = None
    return {"content": content, **({"tool_calls": parser.calls} if parser.calls else {})}
