"""Tool calls in the hermes layout, as text: what axk1's chat template writes for them and what SFT trains.

The layout (Qwen2.5/Qwen3-style templates, and the one vLLM's `--tool-call-parser hermes` reads, with which
A.X K1's vLLM integration was tested): the tools are listed in the system turn; the assistant calls one with a
JSON object `{"name": ..., "arguments": {...}}` inside `<tool_call>\\n...\\n</tool_call>`, one block per call,
after whatever text it writes first; a tool's result comes back in a user turn inside
`<tool_response>\\n...\\n</tool_response>`.

Arguments reach us in two forms: OpenAI's clients send them as a JSON string, transformers' convention is an
object. Both are rendered as the object (`normalise_tool_calls` parses a string, as vLLM does before it renders a
template), so one call has one text whichever form a client or a data row used. The chat template can only write
a string as it is (Jinja has no JSON parser): callers that render through axk1 (the server, SFT) get the object
either way; a whole-conversation render for training (transformers, TRL) is refused on a string, naming the fix
(parse it: transformers' own convention), since writing it verbatim would train other text than serving shows.
"""

from __future__ import annotations

import json
import math
from typing import Any

from axk1.json_text import JsonError, parse_json
from axk1.text.tokenizer_file import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

# where a tool's result starts and ends in the turn that brings it back (axk1/text/chat_template.py writes them)
TOOL_RESPONSE_OPEN, TOOL_RESPONSE_CLOSE = "<tool_response>", "</tool_response>"


def call_block(name: str, arguments: dict[str, Any]) -> str:
    """One call as the model writes it. Key order and separators are those of the template's `tojson` (json.dumps'
    defaults), so the text SFT trains is the text the template renders in history."""
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"{TOOL_CALL_OPEN}\n{body}\n{TOOL_CALL_CLOSE}"


def answer_with_calls(answer: str, calls: list[dict[str, Any]]) -> str:
    """An assistant turn's text after its think block: the (trimmed) answer, then one block per call, a newline
    apart; a turn that only calls starts with its first block. `calls` as normalise_tool_calls returns them."""
    blocks = [call_block(*call_parts(c)) for c in calls]
    return "\n".join(([answer] if answer else []) + blocks)


def call_parts(call: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(name, arguments) of a normalised call, OpenAI's nested form or the flat {"name", "arguments"} form."""
    fn = call["function"] if isinstance(call.get("function"), dict) else call
    return fn["name"], fn["arguments"]


def normalise_tool_calls(calls: Any, where: str) -> list[dict[str, Any]]:
    """An assistant message's `tool_calls` with every call's arguments as an object; ValueError naming the place
    (`where`: "messages[3].tool_calls") of a call the template could not render as the model must write it: not an
    object, no name, arguments that are not a JSON object. Other keys (id, type) are kept for templates that read
    them. None or [] is no calls."""
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise ValueError(f"{where} must be a list of calls")
    out = []
    for j, call in enumerate(calls):
        place = f"{where}[{j}]"
        if not isinstance(call, dict):
            raise ValueError(f"{place} must be an object")
        nested = "function" in call
        fn = call["function"] if nested else call
        if nested:
            place += ".function"
            if not isinstance(fn, dict):
                raise ValueError(f"{place} must be an object with 'name' and 'arguments'")
        name = fn.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{place}.name must be a non-empty string (the function to call)")
        args = fn.get("arguments", {})  # a call without arguments passes none: {}, as OpenAI writes it
        if isinstance(args, str):
            try:
                args = parse_json(args)
            except JsonError as e:
                raise ValueError(f"{place}.arguments is not JSON ({e}); send a JSON object") from None
        if not isinstance(args, dict):
            raise ValueError(f"{place}.arguments must be a JSON object, got {type(args).__name__}")
        if _not_finite(args):  # Python's json writes NaN and Infinity, and reads them back; JSON has neither
            raise ValueError(f"{place}.arguments hold NaN or Infinity, which JSON has not (the call would be written "
                             "as text no JSON parser reads): give a number or null")
        fn = {**fn, "arguments": args}
        out.append({**call, "function": fn} if nested else fn)
    return out


def openai_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Checked tools (check_tools) in OpenAI's form: a bare function schema ({"name", "description", "parameters"},
    as LLaMA-Factory's data and transformers' `tools=` give them) wrapped as {"type": "function", "function": ...}.
    The template lists each tool as its JSON, so a bare function was another listing than the one OpenAI's clients
    send: SFT and `axk1 serve` both list tools through here, so a tool has one text in training and serving."""
    return [t if "function" in t else {"type": "function", "function": t} for t in tools]


def _not_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_not_finite(v) for v in value.values())
    return isinstance(value, list) and any(_not_finite(v) for v in value)


def check_tools(tools: Any, where: str = "tools") -> list[dict[str, Any]]:
    """The tools a template lists, checked for what the listing needs: a list of objects, each one function with a
    name (OpenAI's {"type": "function", "function": {...}}, or a bare function schema as transformers passes
    them). ValueError naming the first bad place."""
    if not isinstance(tools, list):
        raise ValueError(f"{where} must be a list of tools")
    for i, tool in enumerate(tools):
        place = f"{where}[{i}]"
        if not isinstance(tool, dict):
            raise ValueError(f"{place} must be an object")
        fn = tool
        if "function" in tool or "type" in tool:
            if tool.get("type") != "function":
                raise ValueError(f"{place}.type must be \"function\" (the only kind of tool)")
            fn, place = tool.get("function"), f"{place}.function"
            if not isinstance(fn, dict):
                raise ValueError(f"{place} must be an object with 'name', 'description' and 'parameters'")
        if not isinstance(fn.get("name"), str) or not fn["name"].strip():
            raise ValueError(f"{place}.name must be a non-empty string")
        if "parameters" in fn and not isinstance(fn["parameters"], dict):
            raise ValueError(f"{place}.parameters must be a JSON schema object")
    return tools
