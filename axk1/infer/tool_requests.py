"""Tool calling on /v1/chat/completions: what the prompt gets and what the reply says (which requests are served,
and why: axk1/infer/tool_choice.py, which the schema asks).

The tools are listed in the prompt by the chat template (axk1/text/tool_format.py); the reply's `<tool_call>` blocks
are parsed into OpenAI tool calls (axk1/infer/tool_calls.py), `finish_reason` "tool_calls" when there is one (and
the reply was not cut by max_tokens: that is "length", axk1/infer/choices.py). With
tool_choice "none" the tools are left out of the prompt, so the model is not invited to call them and its reply is
all content (nothing could stop a model that was shown its tools from writing a call; vLLM renders them and leaves
the call in the text).
"""

from __future__ import annotations

from typing import Any

from axk1.infer.protocol import APIError
from axk1.infer.tool_calls import ToolCallParser
from axk1.infer.tool_choice import parses_tool_calls
from axk1.json_text import json_strings
from axk1.text.tool_format import openai_tools


def template_tools(codec: Any, req: Any) -> dict[str, Any]:
    """The template variables the request's tools add ({} with none, or with tool_choice "none"); a 400 for a
    tool whose text holds a special token (it would forge a turn, as in a message)."""
    if not parses_tool_calls(req):
        return {}
    for path, text in json_strings(req.tools, "tools"):
        token = codec.find_special_token(text)
        if token is not None:
            raise APIError(400, f"'{path}' holds the special token {token!r}, which only the chat template may "
                                "place; remove it from the text", param=path, code="invalid_value")
    return {"tools": openai_tools(req.tools)}  # a bare function listed as OpenAI's clients send it, as SFT lists it


def tool_message(parser: ToolCallParser, in_reasoning_mode: bool) -> dict[str, Any]:
    """The fields a reply's message takes from its parsed answer: content without the call blocks (null when
    empty and there are calls, or the reply never left its think block), and the calls."""
    content: str | None = parser.content
    if not content and (parser.calls or in_reasoning_mode):
        content = None
    return {"content": content, **({"tool_calls": parser.calls} if parser.calls else {})}
