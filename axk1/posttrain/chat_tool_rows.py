"""A chat row's tool fields as other writers give them → OpenAI's form, which chat_data renders as `axk1 serve` does.

- Columnar nulls. Parquet, Arrow and Hugging Face save_to_disk store a column of objects as one struct type for all
  rows: a key that any row has is in every row, null where the row had none. A set of two tools, `get_weather(city)`
  and `search(query)`, comes back with `"properties": {"city": null, "query": {...}}` in each tool and
  `"arguments": {"city": null, "query": "cats"}` in each call: a listing no request sends and a call no tool takes,
  which trained silently. So for those files only, null-valued keys inside tool definitions and objects of call
  arguments are dropped (`drop_columnar_nulls`; the report counts the rows). A null written in JSON is the writer's
  and stays; a null argument meant in a columnar file cannot be told from a filled-in one: write arguments there as
  JSON strings (OpenAI's own form), which Arrow leaves alone.
- LLaMA-Factory's (and glaive's) ShareGPT speakers: `function_call`, whose value is the JSON call {"name",
  "arguments"} (or a list of them), is an assistant turn with that call as its `tool_calls`; `observation` is the
  tool's result, a `tool` turn (`sharegpt_tool_turn`).
- OpenAI's deprecated function calling: an assistant's `function_call` is its one tool call, a `function` turn a
  tool's result, and the row's `functions` its tools (`legacy_function_turn`, `row_tools`).
Bare functions in `tools` ({"name", "description", "parameters"}) become OpenAI's {"type": "function", "function":
...} later, in chat_data.check_row_tools (tool_format.openai_tools), as the server lists them.
"""

from __future__ import annotations

from typing import Any

from axk1.json_text import JsonError, parse_json
from axk1.posttrain.chat_report import BadRow

TURN_LISTS = ("messages", "conversations", "conversation", "prompt", "completion")
TOOL_LISTS = ("tools", "functions")


def drop_columnar_nulls(row: Any) -> int:
    """Drop, in place, the null-valued keys inside a columnar row's tool definitions and its calls' argument objects
    (at any depth); how many were dropped. Only for rows read from Parquet / Arrow (see the module's docstring)."""
    if not isinstance(row, dict):
        return 0
    dropped = sum(_drop_nulls(row.get(k)) for k in TOOL_LISTS)
    for key in TURN_LISTS:
        turns = row.get(key)
        for turn in turns if isinstance(turns, list) else ():
            if not isinstance(turn, dict):
                continue
            calls = turn.get("tool_calls")
            calls = [*(calls if isinstance(calls, list) else ()), turn.get("function_call")]
            for call in calls:
                if isinstance(call, dict):
                    fn = call["function"] if isinstance(call.get("function"), dict) else call
                    dropped += _drop_nulls(fn.get("arguments"))
    return dropped


def _drop_nulls(value: Any) -> int:
    if isinstance(value, list):
        return sum(_drop_nulls(v) for v in value)
    if not isinstance(value, dict):
        return 0
    nulls = [k for k, v in value.items() if v is None]
    for k in nulls:
        del value[k]
    return len(nulls) + sum(_drop_nulls(v) for v in value.values())


def sharegpt_tool_turn(key: str, i: int, speaker: str, value: Any) -> dict | None:
    """The OpenAI turn of a LLaMA-Factory `function_call` / `observation` ShareGPT turn; None for other speakers."""
    if speaker == "observation":
        return {"role": "tool", "content": value}
    if speaker != "function_call":
        return None
    fix = ("a function_call turn's value is the call as JSON, {\"name\": ..., \"arguments\": {...}} (or a list of "
           "them), as LLaMA-Factory writes it")
    call = value
    if isinstance(value, str):
        try:
            call = parse_json(value)
        except JsonError as e:
            raise BadRow("bad tool call", f"{key}[{i}].value is not JSON ({e}): {fix}") from None
    calls = call if isinstance(call, list) else [call]
    if not calls or not all(isinstance(c, dict) for c in calls):
        raise BadRow("bad tool call", f"{key}[{i}].value is not a call: {fix}")
    # the calls' names and arguments are checked with every other call's (tool_format.normalise_tool_calls)
    return {"role": "assistant", "content": "",
            "tool_calls": [{"type": "function", "function": {k: v for k, v in c.items() if k in ("name", "arguments")}}
                           for c in calls]}


def legacy_function_turn(key: str, i: int, m: dict) -> dict:
    """An OpenAI turn in the deprecated function-calling form, in the current one: an assistant's `function_call`
    as its one `tool_calls` entry, a `function` turn's result as a `tool` turn. Other turns as they are."""
    if m.get("role") == "function":
        return {**{k: v for k, v in m.items() if k != "role"}, "role": "tool"}
    if m.get("role") != "assistant" or m.get("function_call") is None:
        return m
    if m.get("tool_calls"):  # which of the two the writer meant to train cannot be told
        raise BadRow("bad tool call", f"{key}[{i}] has both tool_calls and function_call (OpenAI's deprecated form "
                     "of one call): keep the one to train")
    call = m["function_call"]
    if not isinstance(call, dict):
        raise BadRow("bad tool call", f"{key}[{i}].function_call must be an object {{\"name\", \"arguments\"}} "
                     "(OpenAI's deprecated form of one tool call)")
    out = {k: v for k, v in m.items() if k != "function_call"}
    return {**out, "tool_calls": [{"type": "function", "function": call}]}


def row_tools(row: Any) -> Any:
    """A row's tools: `tools`, or OpenAI's deprecated `functions` (bare functions, wrapped later as every bare
    function is); None for none. BadRow when the row has both and they differ."""
    if not isinstance(row, dict):
        return None
    tools, functions = row.get("tools"), row.get("functions")
    if functions is None:
        return tools
    if tools is not None and tools != functions:
        raise BadRow("bad tools", "the row has 'tools' and 'functions' (OpenAI's deprecated form of tools), which "
                     "differ: keep the one to train")
    return functions
