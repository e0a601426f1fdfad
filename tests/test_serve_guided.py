"""Structured outputs end to end: a real `axk1 serve` over a random-weight axk1-tiny, asked through the official
openai client and raw HTTP. A random model writes garbage, so a reply that parses and validates (with the
`jsonschema` library, Python's `re`) is the constraint's doing: each test also shows the free reply does not.
The folder's `</think>` row is pointed along the model's mean hidden state, so a think-mode reply ends its
reasoning within a few tokens and the answer after it can be checked."""

from __future__ import annotations

import json
import re
from typing import Literal

import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from axk1.infer.chat import ChatCodec
from axk1.infer.engine_config import EngineConfig, ServeConfig
from tests.serve_helpers import ServerProcess, make_model_folder, make_token_likely, post_json

PERSON = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 6},
                                           "age": {"type": "integer", "minimum": 0, "maximum": 120}},
          "required": ["name", "age"], "additionalProperties": False}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"enum": ["Seoul", "Busan"]}}, "required": ["city"],
    "additionalProperties": False}}}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {
    "type": "object", "properties": {"zone": {"enum": ["KST", "UTC"]}, "24h": {"type": "boolean"}},
    "required": ["zone", "24h"], "additionalProperties": False}}}
ASK = [{"role": "user", "content": "Answer in JSON."}]
NON_THINK = {"chat_template_kwargs": {"enable_thinking": False}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = make_model_folder(tmp_path_factory.mktemp("guided") / "axk1-tiny-guided")
    make_token_likely(folder, "</think>", 3, ASK)  # ~15% a token: a think block ends soon
    with ServerProcess(folder, "--max-batch", "4") as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base + "/v1", api_key="unused", timeout=60, max_retries=0)


def _chat(client, **kwargs):
    kwargs = {"model": "axk1-tiny-guided", "messages": ASK, "max_tokens": 120, "temperature": 1.0, "seed": 3, **kwargs}
    extra = {**NON_THINK, **kwargs.pop("extra_body", {})}
    return client.chat.completions.create(extra_body=extra, **kwargs)


def _parses(text, schema) -> bool:
    try:
        jsonschema.validate(json.loads(text), schema)
    except (ValueError, TypeError, jsonschema.ValidationError):
        return False
    return True


def _post(server, route, body):
    return post_json(server.base + route, body)


def test_a_json_schema_reply_validates_where_the_free_reply_does_not(client):
    free = _chat(client)
    assert not _parses(free.choices[0].message.content, PERSON)
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}}
    reply = _chat(client, response_format=fmt)
    assert reply.choices[0].finish_reason == "stop"
    assert _parses(reply.choices[0].message.content, PERSON), reply.choices[0].message.content
    obj = _chat(client, response_format={"type": "json_object"})
    assert isinstance(json.loads(obj.choices[0].message.content), dict)


def test_the_openai_clients_parse_helper_gets_its_model_back(client):
    """client.chat.completions.parse sends a pydantic model as a strict json_schema and parses the reply into it."""
    class Person(BaseModel):
        city: Literal["Seoul", "Busan"]
        age: int = Field(ge=0, le=120)

    reply = client.chat.completions.parse(model="axk1-tiny-guided", messages=ASK, response_format=Person,
                                          max_tokens=120, seed=5, extra_body=NON_THINK)
    person = reply.choices[0].message.parsed
    assert isinstance(person, Person) and 0 <= person.age <= 120


def test_n_choices_streamed_each_follow_their_own_matcher(client):
    parts, finish = {}, {}
    for chunk in _chat(client, n=2, stream=True, extra_body={"guided_json": json.dumps(PERSON)}):
        for c in chunk.choices:
            parts[c.index] = parts.get(c.index, "") + (c.delta.content or "")
            finish[c.index] = c.finish_reason or finish.get(c.index)
    assert finish == {0: "stop", 1: "stop"}
    assert all(_parses(text, PERSON) for text in parts.values()), parts
    assert parts[0] != parts[1]  # two draws, two matchers


def test_choice_regex_and_grammar_on_both_routes(client, server):
    choices = ["서울", "Busan", "no idea"]
    chat = _chat(client, n=2, extra_body={"guided_choice": choices})
    assert [c.message.content in choices for c in chat.choices] == [True, True]
    assert _chat(client).choices[0].message.content not in choices
    pattern = r"[A-Z][a-z]{2,5}-[0-9]{3}"
    regex = _chat(client, extra_body={"guided_regex": pattern}).choices[0].message.content
    assert re.fullmatch(pattern, regex), regex
    status, body = _post(server, "/v1/completions", {"prompt": "The capital", "max_tokens": 40, "seed": 1,
                                                     "structured_outputs": {"regex": pattern}})
    assert status == 200 and re.fullmatch(pattern, body["choices"][0]["text"]), body
    lark = 'start: "(" num " " op " " num ")"\nnum: /[1-9][0-9]?/\nop: "+" | "*"'
    status, body = _post(server, "/v1/completions", {"prompt": "2+2", "max_tokens": 40, "guided_grammar": lark})
    assert status == 200 and re.fullmatch(r"\([1-9][0-9]? [+*] [1-9][0-9]?\)", body["choices"][0]["text"]), body
    assert body["choices"][0]["finish_reason"] == "stop"


def test_a_grammar_forcing_the_text_of_an_added_token_is_followed(server):
    """`<think>` is one added token of this tokenizer, which llguidance reads as special: where a grammar forces its
    text, llguidance's mask allowed the token and its matcher then refused it (a 500 "generation failed")."""
    for text_tag in ("<think>", "</tool_call>", "<|im_end|>"):
        pattern = re.escape(text_tag) + "[0-9]{2}"
        status, body = _post(server, "/v1/completions", {"prompt": "x", "max_tokens": 20, "guided_regex": pattern})
        assert status == 200 and re.fullmatch(pattern, body["choices"][0]["text"]), body


def test_a_grammar_forcing_the_end_of_turn_text_gets_it_spelt_not_an_empty_stop(server):
    """`<|im_end|>` is the end-of-turn (eos) token: where a grammar forces its text, the mask allowed that token,
    on which the engine ended the reply, empty ("stop") with the grammar unfinished. Now its text is spelt."""
    for route, body in (("/v1/completions", {"prompt": "x"}), ("/v1/chat/completions", {"messages": ASK, **NON_THINK})):
        for fields, expected in (({"guided_choice": ["<|im_end|>1", "<|im_end|>2"]}, r"<\|im_end\|>[12]"),
                                 ({"guided_json": {"const": "<|im_end|>"}}, re.escape('"<|im_end|>"'))):
            status, reply = _post(server, route, {**body, "max_tokens": 30, "seed": 1, **fields})
            choice = reply["choices"][0]
            text = choice["text"] if "text" in choice else choice["message"]["content"]
            assert status == 200 and re.fullmatch(expected, text) and choice["finish_reason"] == "stop", reply


def test_ignore_eos_with_a_constraint_ends_where_the_grammar_does_and_does_not_count_the_eos(server):
    """With ignore_eos the grammar still decides the end (eos is allowed only where it accepts); the eos that ends
    the choice is not among its token ids, logprobs or usage, as for any choice that ends at its stop token."""
    body = {"prompt": "x", "guided_grammar": 'start: item+\nitem: "a" | "b" | " "', "max_tokens": 40, "seed": 1,
            "ignore_eos": True, "return_token_ids": True, "logprobs": 1}
    status, reply = _post(server, "/v1/completions", body)
    choice = reply["choices"][0]
    assert status == 200 and choice["finish_reason"] == "stop" and 2 not in choice["token_ids"], reply
    assert len(choice["logprobs"]["tokens"]) == len(choice["token_ids"]) == reply["usage"]["completion_tokens"]
    assert re.fullmatch("[ab ]+", choice["text"]), reply


def test_a_lark_grammar_of_question_mark_rules_is_read_as_lark(server):
    """vLLM's SQL sample: every rule `?name:`, which llguidance's test for Lark (a `start:` line) missed: it was
    converted as GBNF, which failed (a 400)."""
    sql = ('?start: select_statement\n?select_statement: "SELECT " column_list " FROM " table_name\n'
           '?column_list: column_name ("," column_name)*\n?table_name: identifier\n?column_name: identifier\n'
           '?identifier: /[a-zA-Z_][a-zA-Z0-9_]{0,3}/\n')
    status, reply = _post(server, "/v1/completions", {"prompt": "x", "max_tokens": 60, "seed": 1, "guided_grammar": sql})
    assert status == 200 and re.fullmatch(r"SELECT \w+(,\w+)* FROM \w+", reply["choices"][0]["text"]), reply
    gbnf = 'root ::= "(" digits ")"\ndigits ::= [0-9] [0-9]?'  # GBNF is still converted
    status, reply = _post(server, "/v1/completions", {"prompt": "x", "max_tokens": 20, "guided_grammar": gbnf})
    assert status == 200 and re.fullmatch(r"\([0-9]{1,2}\)", reply["choices"][0]["text"]), reply


def test_json_whitespace_follows_vllms_options(server):
    """guided_whitespace_pattern (it was ignored) and structured_outputs' whitespace_pattern and
    disable_any_whitespace (refused by name) set the whitespace JSON may hold: none here, so the reply is compact
    where the default lets the random model scatter whitespace."""
    schema = {"type": "object", "properties": {k: {"type": "integer", "minimum": 0, "maximum": 9} for k in "abc"},
              "required": ["a", "b", "c"], "additionalProperties": False}
    compact = r'\{"a":\d,"b":\d,"c":\d\}'
    texts = []
    for fields in ({"guided_json": schema}, {"guided_json": schema, "guided_whitespace_pattern": ""},
                   {"structured_outputs": {"json": schema, "whitespace_pattern": ""}},
                   {"structured_outputs": {"json": schema, "disable_any_whitespace": True}}):
        status, reply = _post(server, "/v1/completions", {"prompt": "x", "max_tokens": 80, "seed": 3, **fields})
        assert status == 200, reply
        texts.append(reply["choices"][0]["text"])
    assert not re.fullmatch(compact, texts[0]) and json.loads(texts[0]).keys() == {"a", "b", "c"}
    assert all(re.fullmatch(compact, text) for text in texts[1:]), texts


def test_a_reply_cut_by_max_tokens_is_length(client):
    reply = _chat(client, max_tokens=3, extra_body={"guided_json": PERSON})
    assert reply.choices[0].finish_reason == "length" and not _parses(reply.choices[0].message.content, PERSON)


def test_forced_tool_calls_parse_and_their_arguments_validate(client):
    def check(reply, names):
        choice = reply.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.tool_calls, choice
        for call in choice.message.tool_calls:
            schema = {"get_weather": WEATHER, "get_time": CLOCK}[call.function.name]["function"]["parameters"]
            assert call.function.name in names and _parses(call.function.arguments, schema)
        return choice.message.tool_calls

    tools = [WEATHER, CLOCK]
    assert _chat(client, tools=tools).choices[0].message.tool_calls is None  # free: the random model never calls
    check(_chat(client, tools=tools, tool_choice="required", max_tokens=250), {"get_weather", "get_time"})
    (one,) = check(_chat(client, tools=tools, tool_choice="required", parallel_tool_calls=False),
                   {"get_weather", "get_time"})
    named = {"type": "function", "function": {"name": "get_time"}}
    (call,) = check(_chat(client, tools=tools, tool_choice=named, seed=4), {"get_time"})
    streamed = [c for chunk in _chat(client, tools=tools, tool_choice=named, stream=True)
                for c in chunk.choices[0].delta.tool_calls or []]
    # streamed piece by piece: the name in the first delta, the arguments' pieces joined
    arguments = "".join(c.function.arguments or "" for c in streamed)
    assert [c.function.name for c in streamed if c.function.name] == ["get_time"] == [streamed[0].function.name]
    assert {c.index for c in streamed} == {0} and _parses(arguments, CLOCK["function"]["parameters"])


def test_a_forced_call_of_a_tool_whose_parameters_have_no_type_gets_an_object(client):
    """A `parameters` schema without "type" (vLLM reads it; clients send them) also allows numbers and strings,
    which the parser refuses as arguments: the forced reply's calls are objects."""
    tool = {"type": "function", "function": {"name": "f", "parameters": {"properties": {"x": {"type": "integer"}}}}}
    for seed in range(3):
        choice = _chat(client, tools=[tool], tool_choice="required", parallel_tool_calls=False, seed=seed).choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.tool_calls, choice
        assert isinstance(json.loads(choice.message.tool_calls[0].function.arguments), dict)


def test_think_mode_leaves_the_reasoning_free_and_constrains_the_answer(client):
    choices = ["yes", "no"]
    # ignore_eos: a free reasoning may sample the end of turn, which would end the reply before its answer
    reply = _chat(client, n=4, max_tokens=100, extra_body={"guided_choice": choices, "chat_template_kwargs": {},
                                                          "ignore_eos": True})
    for c in reply.choices:
        assert c.finish_reason == "stop" and c.message.content in choices, c
    reasoning = [c.message.reasoning_content for c in reply.choices]
    assert any(r and r.strip() not in choices for r in reasoning), reasoning  # written freely, not by the grammar


def test_logprobs_are_over_the_tokens_the_grammar_allows(client):
    reply = _chat(client, logprobs=True, top_logprobs=5, extra_body={"guided_choice": ["yes", "no"]})
    first = reply.choices[0].logprobs.content[0]
    allowed = [t for t in first.top_logprobs if t.logprob > -9999]
    assert {t.token for t in allowed} <= {"y", "ye", "yes", "n", "no"}, allowed
    assert sum(2.718281828 ** t.logprob for t in allowed) == pytest.approx(1.0, abs=1e-3)


def test_a_matcher_failing_mid_reply_ends_that_choice_alone(client, server):
    """A grammar that passes the first steps and then allows nothing (after "nop", a rule that can only recur):
    the choices that took that branch end "error" with a short note, the others end at "yes"; the request is a
    200, streamed or not (it was a 500, or one stream error, for every choice)."""
    lark = 'start: "yes" | "n" "o" "p" loop\nloop: loop "q"'
    status, body = _post(server, "/v1/chat/completions", {"messages": ASK, "max_tokens": 20, "n": 4, "seed": 0,
                                                          "temperature": 1.0, "guided_grammar": lark, **NON_THINK})
    assert status == 200, body
    ends = {(c["finish_reason"], c["message"]["content"], c.get("error", {}).get("code")) for c in body["choices"]}
    assert ends == {("stop", "yes", None), ("error", "nop", "structured_output_failed")}, body
    failed = [c["error"]["message"] for c in body["choices"] if c["finish_reason"] == "error"]
    assert all("NoExtensionBias" in m and len(m) < 300 for m in failed), failed
    texts, ends = {}, {}
    for chunk in _chat(client, n=4, seed=0, max_tokens=20, stream=True, extra_body={"guided_grammar": lark}):
        for c in chunk.choices:
            texts[c.index] = texts.get(c.index, "") + (c.delta.content or "")
            if c.finish_reason:
                ends[c.index] = (c.finish_reason, (c.model_extra.get("error") or {}).get("code"))
    assert sorted(ends) == [0, 1, 2, 3], ends
    assert {(texts[i], *ends[i]) for i in ends} == {("yes", "stop", None), ("nop", "error", "structured_output_failed")}


HOSTILE = {
    "an invalid schema": ({"guided_json": {"type": "objekt"}}, "guided_json", "objekt"),
    "an unsatisfiable schema": ({"response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "string", "minLength": 5, "maxLength": 2}}}}, "response_format", "minLength"),
    "a schema that is not JSON": ({"guided_json": "{not json"}, "guided_json", "not JSON"),
    "an invalid regex": ({"guided_regex": "[0-9"}, "guided_regex", "unclosed character class"),
    "an invalid Lark grammar": ({"guided_grammar": "start: missing_rule"}, "guided_grammar", "missing_rule"),
    "a huge schema": ({"guided_json": {"type": "object", "properties": {
        f"p{i}": {"type": "string", "pattern": "[a-z]{3,9}"} for i in range(3000)}}}, "guided_json", "at most"),
    "two constraints": ({"guided_json": PERSON, "guided_regex": "a+"}, "guided_regex", "guided_json"),
    "response_format and a forced call": ({"response_format": {"type": "json_object"}, "tools": [WEATHER],
                                           "tool_choice": "required"}, "tool_choice", "response_format"),
    "a response_format type unknown": ({"response_format": {"type": "grammar"}}, "response_format.type",
                                       "json_schema"),
    "json_schema without its schema": ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
                                       "response_format.json_schema", "schema"),
    "an empty choice list": ({"guided_choice": []}, "guided_choice", "non-empty"),
    "structured_outputs of two kinds": ({"structured_outputs": {"regex": "a", "choice": ["b"]}},
                                        "structured_outputs", "exactly one"),
    "structured_outputs unknown kind": ({"structured_outputs": {"structural_tag": "x"}},
                                        "structured_outputs.structural_tag", "not supported"),
    "a named function not in tools": ({"tools": [WEATHER], "tool_choice": {
        "type": "function", "function": {"name": "launch"}}}, "tool_choice", "launch"),
    "required without tools": ({"tool_choice": "required"}, "tool_choice", "needs 'tools'"),
    # past llguidance's limits (guided.py's LIMITS) at the first tokens: a 500, or seconds of the engine thread
    "a 15-character regex of costly masks": ({"guided_regex": "(a{1000}){300}"}, "guided_regex", "limits"),
    "a choice of 2,000 options": ({"guided_choice": [f"c{i}" for i in range(2000)]}, "guided_choice", "limits"),
    "600 optional properties": ({"guided_json": {"type": "object", "properties": {
        f"p{i}": {"type": "integer"} for i in range(600)}, "additionalProperties": False}}, "guided_json", "limits"),
    "a schema's text nested 100,000 deep": ({"guided_json": "[" * 100_000 + "]" * 100_000}, "guided_json", "deep"),
    "a response_format schema's text nested 5,000 deep": ({"response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": "[" * 5000 + "]" * 5000}}}, "response_format.json_schema.schema", "deep"),
    "a tool's bad parameters": ({"tools": [WEATHER, {"type": "function", "function": {"name": "bad", "parameters": {
        "type": "object", "properties": {"x": {"type": "strin"}}}}}], "tool_choice": "required"},
        "tools[1].function.parameters", "strin"),
    # no finite value (a $ref that can only recur): the matcher failed a few tokens in, a 500 for every choice
    "a forced call's tool whose parameters only recur": ({"tools": [WEATHER, {"type": "function", "function": {
        "name": "loop", "parameters": {"$ref": "#"}}}], "tool_choice": "required"}, "tools[1].function.parameters",
        "no finite value"),
    "a property defined as itself": ({"response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}, "required": ["a"],
                                "$defs": {"x": {"$ref": "#/$defs/x"}}}}}}, "response_format.json_schema.schema",
        "properties.a"),
    "an object that must hold itself": ({"guided_json": {"type": "object", "properties": {"a": {"$ref": "#"}},
                                                         "required": ["a"]}}, "guided_json", "no finite value"),
    # OpenAI's rule: the parser takes only an object's arguments, so a forced reply of others had no calls
    "a tool's parameters of type array": ({"tools": [WEATHER, {"type": "function", "function": {
        "name": "f", "parameters": {"type": "array"}}}], "tool_choice": "required"}, "tools[1].function.parameters",
        "type \"object\""),
    "a tool's parameters of type string, not forced": ({"tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "string"}}}]}, "tools[0].function.parameters", "got type \"string\""),
    "a whitespace pattern beside a regex": ({"guided_regex": "a+", "guided_whitespace_pattern": " "},
                                            "guided_whitespace_pattern", "not JSON"),
    "a whitespace pattern alone": ({"structured_outputs": {"whitespace_pattern": " "}},
                                   "structured_outputs.whitespace_pattern", "no constraint"),
    "an invalid whitespace pattern": ({"guided_json": PERSON, "guided_whitespace_pattern": "[ "},
                                      "guided_whitespace_pattern", "invalid"),
    # llguidance's own options in a schema overrode the server's: lenient let `not` through unenforced
    "x-guidance in a schema": ({"guided_json": {"not": {"type": "integer"}, "x-guidance": {"lenient": True}}},
                               "guided_json", "'x-guidance'"),
    "x-guidance in a forced tool's parameters": ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "x-guidance": {"whitespace_pattern": " *"}}}}], "tool_choice": "required"},
        "tools[0].function.parameters", "'x-guidance'"),
    "overlapping oneOf": ({"guided_json": {"oneOf": [{"type": "integer", "maximum": 5}, {"type": "integer",
                                                                                        "minimum": 3}]}},
                          "guided_json", "use anyOf"),
    "an integer past 64 bits": ({"guided_json": {"type": "integer", "maximum": 2**65}}, "guided_json",
                                "36893488147419103232 at maximum"),
    "json_schema without a name": ({"response_format": {"type": "json_schema", "json_schema": {"schema": PERSON}}},
                                   "response_format.json_schema.name", "64 letters"),
    "json_schema strict a string": ({"response_format": {"type": "json_schema", "json_schema": {
        "name": "p", "schema": PERSON, "strict": "yes"}}}, "response_format.json_schema.strict", "true or false"),
    "json_object with a schema": ({"response_format": {"type": "json_object", "schema": PERSON}},
                                  "response_format.schema", "json_schema"),
}


def test_a_bad_constraint_is_a_400_that_names_it_and_the_server_goes_on(server):
    for name, (fields, param, words) in HOSTILE.items():
        status, body = _post(server, "/v1/chat/completions", {"messages": ASK, "max_tokens": 5, **fields})
        assert status == 400, (name, body)
        assert body["error"]["param"] == param and words in body["error"]["message"], (name, body)
        assert len(body["error"]["message"]) < 700 and "<state>" not in body["error"]["message"], (name, body)
    status, body = _post(server, "/v1/completions", {"prompt": "x", "guided_regex": "(", "max_tokens": 5})
    assert status == 400 and body["error"]["param"] == "guided_regex"
    status, body = _post(server, "/v1/completions", {"prompt": "x", "guided_choice": ["a"], "max_tokens": 5})
    assert status == 200 and body["choices"][0]["text"] == "a"
    tree = {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}}, "required": ["kids"]}
    status, body = _post(server, "/v1/completions", {"prompt": "x", "guided_json": tree, "max_tokens": 5})
    assert status == 200, body  # recursion with a way out (an empty list) is served


def test_the_guide_ends_replies_where_the_server_does_and_a_folder_without_tokenizer_says_why(tmp_path):
    """llguidance's eos set (allowed only where a grammar accepts) is the server's: config.json's eos, the
    generation_config.json eos ids and the chat template's end of turn; a folder without tokenizer.json refuses
    a constraint by name."""
    from fastapi.testclient import TestClient

    from axk1.infer.cli import build_server

    folder = make_model_folder(tmp_path / "with")
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": [2, 7]}))
    app, engine = build_server(ServeConfig(folder, EngineConfig(max_batch=2, max_model_len=128)))
    try:
        guide = app.state.axk1.guide
        assert sorted(guide.tokenizer.eos_tokens) == [2, 7]
        assert guide.think_close == ChatCodec.from_folder(folder).token_id("</think>")
    finally:
        engine.stop()
    bare = make_model_folder(tmp_path / "bare", with_tokenizer=False)
    app, engine = build_server(ServeConfig(bare, EngineConfig(max_batch=2, max_model_len=128)))
    try:
        with TestClient(app) as client:
            r = client.post("/v1/completions", json={"prompt": [1, 5, 6], "max_tokens": 4, "guided_regex": "[0-9]+"})
        assert r.status_code == 400 and "tokenizer.json" in r.json()["error"]["message"]
        assert r.json()["error"]["param"] == "guided_regex"
    finally:
        engine.stop()
