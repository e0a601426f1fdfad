"""Tool rows as other writers give them (axk1/posttrain/chat_tool_rows.py): Parquet's null-filled struct keys,
bare functions as tools, LLaMA-Factory's function_call / observation speakers, OpenAI's deprecated functions."""

from __future__ import annotations

import json

import pytest

from axk1.infer.chat import ChatCodec
from axk1.posttrain.chat_data import load_chat_examples
from tests.serve_helpers import make_model_folder
from tests.posttrain_helpers import jsonl_file

WEATHER = {"name": "get_weather", "description": "Weather now",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
SEARCH = {"name": "search", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}


@pytest.fixture(scope="module")
def codec(tmp_path_factory) -> ChatCodec:
    return ChatCodec.from_folder(make_model_folder(tmp_path_factory.mktemp("tools") / "base"))


def _texts(codec: ChatCodec, examples) -> list[str]:
    return [codec.tokenizer.decode(e.ids.tolist(), skip_special_tokens=False) for e in examples]


def _calling(question: str, tool: dict, arguments: dict) -> dict:
    return {"messages": [{"role": "user", "content": question},
                         {"role": "assistant", "content": "",
                          "tool_calls": [{"type": "function",
                                          "function": {"name": tool["name"], "arguments": arguments}}]}],
            "tools": [{"type": "function", "function": tool}]}


ROWS = [_calling("Weather in Seoul?", WEATHER, {"city": "Seoul"}), _calling("Find cats", SEARCH, {"query": "cats"})]


def test_parquet_null_keys_in_tools_and_arguments_are_dropped_and_counted(codec, tmp_path):
    """Arrow gives every row the struct keys of all rows, null where a row had none: each tool was listed with the
    other tool's property as null and each call trained `"city": null` beside its own argument."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(ROWS)
    assert table.to_pylist()[1]["messages"][1]["tool_calls"][0]["function"]["arguments"] == \
        {"city": None, "query": "cats"}  # what Arrow does to the rows
    pq.write_table(table, tmp_path / "tools.parquet")
    reference, _ = load_chat_examples([jsonl_file(tmp_path / "tools.jsonl", ROWS)], codec, "keep", 1024)
    examples, report = load_chat_examples([tmp_path / "tools.parquet"], codec, "keep", 1024)
    texts = _texts(codec, examples)
    assert all("null" not in t for t in texts), texts
    assert texts == _texts(codec, reference)
    assert report.columnar_nulls == 2 and report.to_dict()["columnar_null_key_rows"] == 2
    assert "null keys dropped from columnar tool schemas and call arguments: 2 rows" in report.summary()
    assert f"{tmp_path / 'tools.parquet'}[0]" in report.summary()


def test_a_null_written_in_json_is_trained_as_written(codec, tmp_path):
    row = _calling("Weather?", WEATHER, {"city": None})
    examples, report = load_chat_examples([jsonl_file(tmp_path / "n.jsonl", [row])], codec, "keep", 1024)
    assert '"arguments": {"city": null}' in _texts(codec, examples)[0]
    assert report.columnar_nulls == 0 and "null keys dropped" not in report.summary()


@pytest.mark.parametrize("sent", ["openai", "bare"])
def test_bare_function_tools_train_the_prompt_axk1_serve_renders(codec, tmp_path, sent):
    """LLaMA-Factory rows keep their tools as bare functions (a JSON string of them): the system turn listed
    `{"name": "get_weather", ...}` while an OpenAI client's request to `axk1 serve` lists `{"type": "function",
    "function": {...}}`, so the prompt trained on was not the prompt served. Both now list OpenAI's form, a bare
    function sent to the server too."""
    from axk1.infer.chat_prompt import render_chat
    from axk1.infer.schema import ChatRequest

    question = {"role": "user", "content": "Weather in Seoul?"}
    row = {"messages": [question, {"role": "assistant", "content": "Sunny."}], "tools": json.dumps([WEATHER])}
    (example,), report = load_chat_examples([jsonl_file(tmp_path / "lf.jsonl", [row])], codec, "non-think", 1024)
    trained_prompt = codec.tokenizer.decode(example.ids[:example.n_prompt].tolist(), skip_special_tokens=False)
    tools = [{"type": "function", "function": WEATHER}] if sent == "openai" else [WEATHER]
    request = ChatRequest.model_validate({"model": "m", "messages": [question], "tools": tools,
                                          "chat_template_kwargs": {"enable_thinking": False}})
    assert trained_prompt == render_chat(codec, request)
    assert '\n{"type": "function", "function": {"name": "get_weather"' in trained_prompt


# one tool-calling conversation, as OpenAI's current fine-tuning rows write it
MODERN = {"messages": [{"role": "user", "content": "Weather in Seoul?"},
                       {"role": "assistant", "content": "",
                        "tool_calls": [{"type": "function",
                                        "function": {"name": "get_weather", "arguments": "{\"city\": \"Seoul\"}"}}]},
                       {"role": "tool", "content": "{\"sky\": \"clear\"}"},
                       {"role": "assistant", "content": "It is clear in Seoul."}],
          "tools": [{"type": "function", "function": WEATHER}]}
# ... as LLaMA-Factory's (and glaive's) ShareGPT rows write it
LLAMA_FACTORY = {"conversations": [{"from": "human", "value": "Weather in Seoul?"},
                                   {"from": "function_call",
                                    "value": "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Seoul\"}}"},
                                   {"from": "observation", "value": "{\"sky\": \"clear\"}"},
                                   {"from": "gpt", "value": "It is clear in Seoul."}],
                 "tools": json.dumps([WEATHER])}
# ... and in OpenAI's deprecated function-calling form
LEGACY = {"messages": [MODERN["messages"][0],
                       {"role": "assistant", "content": None,
                        "function_call": {"name": "get_weather", "arguments": "{\"city\":\"Seoul\"}"}},
                       {"role": "function", "name": "get_weather", "content": "{\"sky\": \"clear\"}"},
                       MODERN["messages"][3]],
          "functions": [WEATHER]}


@pytest.mark.parametrize("row", [LLAMA_FACTORY, LEGACY], ids=["llama-factory", "openai-legacy"])
def test_other_tool_calling_layouts_train_what_openais_rows_train(codec, tmp_path, row):
    """LLaMA-Factory's `function_call` / `observation` speakers were "unknown role" with no hint; OpenAI's deprecated
    assistant `function_call` was "empty assistant turn" and the row's `functions` were dropped silently."""
    reference, _ = load_chat_examples([jsonl_file(tmp_path / "modern.jsonl", [MODERN])], codec, "keep", 1024)
    examples, report = load_chat_examples([jsonl_file(tmp_path / "other.jsonl", [row])], codec, "keep", 1024)
    assert not report.excluded, report.summary()
    assert len(examples) == 2 and [e.ids.tolist() for e in examples] == [e.ids.tolist() for e in reference]
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Seoul"}}\n</tool_call>' in \
        _texts(codec, examples)[0]


@pytest.mark.parametrize("row, says", [
    ({"conversations": [{"from": "human", "value": "hi"}, {"from": "function_call", "value": "get_weather(Seoul)"}]},
     "conversations[1].value is not JSON"),
    ({"messages": [{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": None, "function_call": "get_weather"}]},
     "messages[1].function_call must be an object"),
    ({**LEGACY, "tools": [{"type": "function", "function": SEARCH}]}, "'tools' and 'functions'"),
])
def test_a_tool_call_in_another_layout_that_cannot_be_read_says_why(codec, tmp_path, row, says):
    _, report = load_chat_examples([jsonl_file(tmp_path / "bad.jsonl", [row])], codec, "keep", 1024)
    assert sum(report.excluded.values()) == 1
    assert says in report.summary(), report.summary()
