"""`function.strict` under tool_choice "auto", end to end: a real `axk1 serve` over a random-weight axk1-tiny whose
`<tool_call>` row is pointed along its mean hidden state, so that its free reply opens calls within a few tokens.
What follows the tag is garbage unless the strict function's grammar writes it: a strict request's calls parse and
validate (with the `jsonschema` library), the same request without `strict` gets none, and the text around the
calls stays the model's own."""

from __future__ import annotations

import json

import jsonschema
import openai
import pytest

from axk1.infer.chat import ChatCodec
from tests.serve_helpers import ServerProcess, make_model_folder, make_token_likely, post_json

PARAMETERS = {"type": "object", "properties": {"city": {"enum": ["Seoul", "Busan"]}, "days": {
    "type": "integer", "minimum": 1, "maximum": 7}}, "required": ["city", "days"], "additionalProperties": False}
WEATHER = {"type": "function", "function": {"name": "get_weather", "strict": True, "parameters": PARAMETERS}}
LOOSE = {"type": "function", "function": {"name": "get_weather", "parameters": PARAMETERS}}  # strict unset
NOTE = {"type": "function", "function": {"name": "note", "parameters": {"type": "object"}}}  # not strict
ASK = [{"role": "user", "content": "What is the weather in Seoul?"}]
# ignore_eos: a free stretch may sample the end of turn before the model opens its call
NON_THINK = {"chat_template_kwargs": {"enable_thinking": False}, "ignore_eos": True}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = make_model_folder(tmp_path_factory.mktemp("strict") / "axk1-tiny-strict")
    make_token_likely(folder, "<tool_call>", 4, ASK)  # ~30% a free token: a reply opens a call soon
    return folder


@pytest.fixture(scope="module")
def server(folder):
    with ServerProcess(folder, "--max-batch", "4") as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base + "/v1", api_key="unused", timeout=60, max_retries=0)


def _chat(client, tools, **kwargs):
    kwargs = {"model": "axk1-tiny-strict", "messages": ASK, "tools": tools, "max_tokens": 200, "temperature": 1.0,
              "seed": 1, "n": 4, "extra_body": NON_THINK, **kwargs}
    return client.chat.completions.create(**kwargs)


def _valid(arguments: str) -> bool:
    try:
        jsonschema.validate(json.loads(arguments), PARAMETERS)
    except (ValueError, jsonschema.ValidationError):
        return False
    return True


def test_a_strict_functions_calls_follow_its_schema_under_auto(client, folder):
    # without strict the random model opens calls (the tag is among its tokens) it cannot finish: no choice gets one
    tag = ChatCodec.from_folder(folder).token_id("<tool_call>")
    loose = _chat(client, [LOOSE], parallel_tool_calls=False, extra_body={**NON_THINK, "return_token_ids": True})
    assert all(not c.message.tool_calls and c.finish_reason == "length" for c in loose.choices), loose
    assert all(tag in c.model_extra["token_ids"] for c in loose.choices), loose
    strict = _chat(client, [WEATHER], parallel_tool_calls=False)
    for c in strict.choices:
        assert c.finish_reason == "tool_calls", c
        (call,) = c.message.tool_calls
        assert call.function.name == "get_weather" and _valid(call.function.arguments), call
    # the reply is free until the model opens its call: some choice wrote text before it
    assert any(c.message.content for c in strict.choices), strict


def test_every_call_of_a_reply_is_constrained_and_a_loose_tools_arguments_are_an_object(client):
    """Parallel calls: after a call's `</tool_call>` the reply is free again, and each call it opens is written by
    the grammar; a function without strict beside a strict one is called with any JSON object."""
    reply = _chat(client, [WEATHER, NOTE], max_tokens=300)
    calls = [call for c in reply.choices for call in c.message.tool_calls or []]
    assert len(calls) > len(reply.choices), reply  # more than one call a choice
    for call in calls:
        if call.function.name == "get_weather":
            assert _valid(call.function.arguments), call
        else:
            assert call.function.name == "note" and isinstance(json.loads(call.function.arguments), dict), call
    streamed = {}
    for chunk in _chat(client, [WEATHER], parallel_tool_calls=False, n=1, stream=True):
        for delta in chunk.choices[0].delta.tool_calls or []:
            streamed[delta.index] = streamed.get(delta.index, "") + (delta.function.arguments or "")
    assert list(streamed) == [0] and _valid(streamed[0]), streamed


def test_strict_must_be_a_boolean_and_a_strict_tools_schema_is_checked_under_auto(server):
    bad = {"type": "function", "function": {**WEATHER["function"], "strict": "yes"}}
    status, body = post_json(server.base + "/v1/chat/completions", {"messages": ASK, "tools": [bad], **NON_THINK})
    assert status == 400 and body["error"]["param"] == "tools[0].function.strict", body
    assert "true or false" in body["error"]["message"], body
    recursive = {"type": "function", "function": {"name": "f", "strict": True, "parameters": {
        "type": "object", "properties": {"x": {"$ref": "#"}}, "required": ["x"]}}}
    status, body = post_json(server.base + "/v1/chat/completions", {"messages": ASK, "tools": [recursive],
                                                                    **NON_THINK})
    assert status == 400 and body["error"]["param"] == "tools[0].function.parameters", body
    assert "no finite value" in body["error"]["message"], body
