"""Which tool-calling requests /v1/chat/completions serves (the request side of axk1/infer/tool_requests.py,
kept apart so that the schema can ask it without importing the protocol, which imports the schema).

Served: `tools` with `tool_choice` "auto" (the default when tools are sent: the model decides) or "none".
Refused by name: `tool_choice` "required" or a named function, which need guided decoding to guarantee a call,
and this server has none; OpenAI's deprecated `functions` / `function_call`.
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
