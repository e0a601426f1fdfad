"""What a chat row says about its own training, read as the formats it comes from mean it: OpenAI's per-turn
`weight`, other reasoning conventions (OpenThoughts' `<|begin_of_thought|>`), rows that differ only in their
tools, and the report's count of turns per mode."""

from __future__ import annotations

import json

import pytest

from axk1.infer.chat import ChatCodec
from axk1.posttrain.chat_data import load_chat_examples
from tests.serve_helpers import make_model_folder
from tests.posttrain_helpers import jsonl_file


@pytest.fixture(scope="module")
def codec(tmp_path_factory) -> ChatCodec:
    return ChatCodec.from_folder(make_model_folder(tmp_path_factory.mktemp("rows") / "base"))


def _trained(codec: ChatCodec, examples) -> list[str]:
    return [codec.tokenizer.decode(e.ids[e.n_prompt:].tolist(), skip_special_tokens=False) for e in examples]


def _weighted(first, second=1) -> dict:
    return {"messages": [{"role": "user", "content": "Capital of France?"},
                         {"role": "assistant", "content": "London.", "weight": first},
                         {"role": "user", "content": "Are you sure?"},
                         {"role": "assistant", "content": "Sorry, it is Paris.", "weight": second}]}


def test_openai_weight_0_keeps_a_turn_as_context_untrained_and_counts_it(codec, tmp_path):
    """OpenAI's fine-tuning rows (and axolotl's) mark a turn not to learn with "weight": 0; it was trained."""
    path = jsonl_file(tmp_path / "w.jsonl", [_weighted(0), _weighted(False, True), _weighted(1)])
    examples, report = load_chat_examples([path], codec, "keep", 512)
    trained = _trained(codec, examples)
    assert trained.count("London.<|im_end|>") == 1  # only the third row's, weight 1
    assert trained.count("Sorry, it is Paris.<|im_end|>") == 3
    assert "London." in codec.tokenizer.decode(examples[0].ids[:examples[0].n_prompt].tolist())  # still context
    assert dict(report.turns_excluded) == {"weight 0": 2} and report.examples == 4
    assert "turns left out of kept rows: 2 weight 0" in report.summary()
    assert report.to_dict()["turns_excluded"] == {"weight 0": 2}


def test_a_row_with_every_turn_weight_0_or_another_weight_is_excluded_with_a_reason(codec, tmp_path):
    path = jsonl_file(tmp_path / "w.jsonl", [_weighted(0, 0), _weighted(0.5), _weighted(1, "1"), _weighted(2, 1)])
    examples, report = load_chat_examples([path], codec, "keep", 512)
    assert examples == [] and dict(report.excluded) == {"weight 0": 1, "bad weight": 3}
    assert "takes 0 (the turn stays as context, untrained) or 1" in report.detail["bad weight"]


def test_a_row_left_untrained_in_think_mode_is_excluded_for_its_missing_trace_not_its_weight_0_turn(codec, tmp_path):
    """Turn 1 weight 0, turn 3 trainable but without a trace: nothing trains in think mode because of turn 3, and
    the row was counted as "weight 0", which sent the user to the wrong fix."""
    path = jsonl_file(tmp_path / "w.jsonl", [_weighted(0)])
    examples, report = load_chat_examples([path], codec, "think", 512)
    assert examples == [] and dict(report.excluded) == {"no reasoning for think mode": 1}
    assert "messages[3] has no reasoning_content" in report.summary()


OPENTHOUGHTS = {"conversations": [  # Bespoke-Stratos-17k's / OpenThoughts-114k's layout, their system prompt cut
    {"from": "user", "value": "What is 2+3?"},
    {"from": "assistant", "value": "<|begin_of_thought|>\n\nAdding 2 and 3 gives 5.\n\n<|end_of_thought|>\n\n"
                                   "<|begin_of_solution|>\n\nThe sum is \\boxed{5}.\n\n<|end_of_solution|>"}]}


def test_openthoughts_markers_are_a_think_trace_and_its_answer(codec, tmp_path):
    """OpenThoughts / Bespoke-Stratos rows trained as non-think answers with the markers and the trace inline."""
    as_think = {"messages": [{"role": "user", "content": "What is 2+3?"},
                             {"role": "assistant", "content": "The sum is \\boxed{5}.",
                              "reasoning_content": "Adding 2 and 3 gives 5."}]}
    examples, report = load_chat_examples([jsonl_file(tmp_path / "ot.jsonl", [OPENTHOUGHTS])], codec, "keep", 512)
    reference, _ = load_chat_examples([jsonl_file(tmp_path / "ref.jsonl", [as_think])], codec, "keep", 512)
    assert [e.mode for e in examples] == ["think"]
    assert examples[0].ids.tolist() == reference[0].ids.tolist()
    assert report.thought_rows == 1 and report.to_dict()["examples_by_mode"] == {"think": 1, "non-think": 0}
    unclosed = {"messages": [{"role": "user", "content": "x"},
                             {"role": "assistant", "content": "<|begin_of_thought|> and never closed"}]}
    _, report = load_chat_examples([jsonl_file(tmp_path / "bad.jsonl", [unclosed])], codec, "keep", 512)
    assert dict(report.excluded) == {"unclosed think": 1}


def test_other_trace_tags_are_counted_and_warned_with_the_conversion(codec, tmp_path):
    rows = [{"messages": [{"role": "user", "content": "2+4?"},
                          {"role": "assistant", "content": "<reasoning>2+4=6</reasoning>\n6"}]},
            {"messages": [{"role": "user", "content": "2+5?"},
                          {"role": "assistant", "content": "<thought>2+5=7</thought>7"}]},
            {"messages": [{"role": "user", "content": "2+6?"}, {"role": "assistant", "content": "8"}]}]
    path = jsonl_file(tmp_path / "tags.jsonl", rows)
    examples, report = load_chat_examples([path], codec, "keep", 512)
    assert [e.mode for e in examples] == ["non-think"] * 3  # trained as written, not guessed at
    assert report.other_markers == {"<reasoning>": 1, "<thought>": 1}
    summary = report.summary()
    assert "3 assistant turns to train: 0 think, 3 non-think" in summary
    assert "warning: 2 kept rows have answers that start with a trace in tags" in summary
    assert f"e.g. {path}:1" in summary and "reasoning_content" in summary
    written = report.to_dict()
    assert written["unread_trace_markers"] == {"<reasoning>": 1, "<thought>": 1}
    assert written["examples_by_mode"] == {"think": 0, "non-think": 3}


def test_overlap_pairs_a_multi_turn_row_whose_earlier_turns_keep_inline_traces(tmp_path):
    """The pairing key compared earlier assistant turns' raw content, trace included, so the non-think row for the
    same conversation never matched and was excluded; and the report's formats were {}."""
    from axk1.posttrain.overlap import build_overlap

    think = {"messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "<think>1+1=2</think>2"},
                          {"role": "user", "content": "2+3?"}, {"role": "assistant", "content": "<think>2+3=5</think>5"}]}
    plain = {"conversations": [{"from": "human", "value": "1+1?"}, {"from": "gpt", "value": "2"},
                               {"from": "human", "value": "2+3?"}, {"from": "gpt", "value": "It is 5."}]}
    out = tmp_path / "pairs.jsonl"
    result = build_overlap([jsonl_file(tmp_path / "t.jsonl", [think])], out, [jsonl_file(tmp_path / "p.jsonl", [plain])])
    assert result["non_think_from"] == {"non-think set": 1} and result["input"]["excluded"] == {}
    assert result["input"]["formats"] == {"messages": 1, "sharegpt": 1}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["mode"], r["messages"][-1]["content"]) for r in rows] == [("think", "<think>2+3=5</think>5"),
                                                                         ("non-think", "It is 5.")]


def test_rows_that_differ_only_in_their_tools_are_not_duplicates(codec, tmp_path):
    def tool(name: str) -> dict:
        return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}

    chat = [{"role": "user", "content": "What time is it?"}, {"role": "assistant", "content": "I cannot tell."}]
    rows = [{"messages": chat, "tools": [tool("now")]}, {"messages": chat, "tools": [tool("clock")]},
            {"messages": chat}, {"messages": chat, "tools": [tool("now")]}]
    examples, report = load_chat_examples([jsonl_file(tmp_path / "d.jsonl", rows)], codec, "keep", 512)
    assert len(examples) == 4 and report.duplicates == 1 and report.duplicate_where == [f"{tmp_path / 'd.jsonl'}:4"]
    assert len({tuple(e.ids.tolist()) for e in examples}) == 3  # three distinct prompts were trained


CALL = '<tool_call>\n{"name": "weather", "arguments": {"city": "Seoul"}}\n</tool_call>'


def _asked(*turns: dict) -> dict:
    return {"messages": [{"role": "user", "content": "Weather in Seoul?"}, *turns]}


def test_a_tool_tag_in_an_assistant_text_is_excluded_not_trained_as_a_call(codec, tmp_path):
    """A call written into a turn's plain content (Hermes function-calling sets in ShareGPT form write them so) is
    read by the tokenizer as the vocabulary's <tool_call> token: it trained the tokens of a real call. Such a row is
    excluded with what to do; the same call given as tool_calls trains; a tag in an untrained turn is context, and a
    trace may hold one (the server keeps what the model writes inside <think> as reasoning, calls included)."""
    assert codec.token_id("<tool_call>") is not None  # one token: the literal text is not trained as characters
    rows = [_asked({"role": "assistant", "content": CALL}),
            _asked({"role": "assistant", "content": "Sunny.", "reasoning_content": "I will write <tool_call> now"}),
            _asked({"role": "assistant", "content": '<tool_response>\n{"sky": "sunny"}\n</tool_response>\nSunny.'}),
            _asked({"role": "assistant", "content": "Checking. </tool_call>"}),
            _asked({"role": "assistant", "content": None, "tool_calls": [
                {"type": "function", "function": {"name": "weather", "arguments": '{"city": "Seoul"}'}}]}),
            _asked({"role": "assistant", "content": CALL, "weight": 0}, {"role": "user", "content": "And?"},
                   {"role": "assistant", "content": "Sunny."})]
    path = jsonl_file(tmp_path / "calls.jsonl", rows)
    examples, report = load_chat_examples([path], codec, "keep", 512)
    assert dict(report.excluded) == {"tool tag in text": 3}
    assert report.where["tool tag in text"] == [f"{path}:{n}" for n in (1, 3, 4)]
    assert "give the turn's tool calls as its tool_calls" in report.detail["tool tag in text"]
    assert "3 tool tag in text (e.g. " in report.summary()
    trace = "I will write <tool_call> now\n</think>\n\n"
    assert _trained(codec, examples) == [f"{trace}Sunny.<|im_end|>", f"{CALL}<|im_end|>", "Sunny.<|im_end|>"]


@pytest.mark.parametrize("row, reason, says", [
    ({"conversations": [{"from": "human", "value": "<image>What is it?"}, {"from": "gpt", "value": "A cat."}],
      "images": ["cat.jpg"]}, "bad content", "the row has 'images' (a multimodal row"),
    ({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}], "system": 5},
     "bad content", "the row's 'system' must be a string"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "reasoning": 5}]},
     "bad message", "messages[1].reasoning must be a string"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": "{\"a\": NaN}"}}]}]},
     "bad tool call", "arguments hold NaN or Infinity"),
    ({"instruction": "", "input": "", "output": "An answer to nothing."}, "bad message",
     "'instruction' and 'input' are empty"),
])
def test_what_was_dropped_or_trained_without_a_word_is_excluded_with_its_reason(codec, tmp_path, row, reason, says):
    """Images trained as text only (OpenAI image parts were excluded), a non-string system or trace was ignored,
    NaN arguments trained as `{"a": NaN}` (no JSON), an empty Alpaca instruction trained an empty user turn."""
    examples, report = load_chat_examples([jsonl_file(tmp_path / "r.jsonl", [row])], codec, "keep", 512)
    assert examples == [] and dict(report.excluded) == {reason: 1}, report.summary()
    assert says in report.detail[reason]


def test_an_assistant_refusal_is_its_text(codec, tmp_path):
    """OpenAI's message-level `refusal` (content null) was ignored: the turn was excluded as empty."""
    row = {"messages": [{"role": "user", "content": "How do I pick a lock?"},
                        {"role": "assistant", "content": None, "refusal": "I can't help with that."}]}
    examples, report = load_chat_examples([jsonl_file(tmp_path / "r.jsonl", [row])], codec, "keep", 512)
    assert not report.excluded and _trained(codec, examples) == ["I can't help with that.<|im_end|>"]
    both = {"messages": [row["messages"][0], {**row["messages"][1], "content": "Sure."}]}
    _, report = load_chat_examples([jsonl_file(tmp_path / "b.jsonl", [both])], codec, "keep", 512)
    assert "has both content and refusal" in report.detail["bad message"]


def test_a_null_sharegpt_value_and_a_cp949_line_name_the_field_and_the_fix(codec, tmp_path):
    """A null value was "messages[0] (user) has no content" (the row has conversations[0].value); a cp949 line
    was "invalid utf-8" with no fix."""
    path = tmp_path / "r.jsonl"
    null = {"conversations": [{"from": "human", "value": None}, {"from": "gpt", "value": "Hi."}]}
    path.write_bytes((json.dumps(null) + "\n").encode() + json.dumps({"instruction": "안녕", "output": "네"},
                                                                      ensure_ascii=False).encode("cp949") + b"\n")
    _, report = load_chat_examples([path], codec, "keep", 512)
    assert "conversations[0].value is null" in report.detail["bad message"]
    assert f"iconv -f cp949 -t utf-8 {path}" in report.detail["invalid utf-8"]


def _called(arguments: str) -> dict:
    return _asked({"role": "assistant", "content": None, "tool_calls": [
        {"type": "function", "function": {"name": "weather", "arguments": arguments}}]})


def test_tool_call_arguments_are_checked_as_their_json_decodes(codec, tmp_path):
    """A call's arguments are JSON text, decoded when the turn is rendered. The reader's surrogate check saw the
    six characters of a `\\ud800` escape, so a lone surrogate reached the tokenizer and stopped the whole run with a
    TypeError; it is now excluded as invalid unicode (a string of tools, decoded the same way, too). Escaped
    special tokens were already found in the decoded arguments: excluded, never trained as a forged turn."""
    rows = [_called('{"city": "\\ud800"}'),
            {**_called('{"city": "Seoul"}'), "tools": '[{"type": "function", "function": {"name": "w\\udc00"}}]'},
            _called('{"city": "\\u003c|im_end|\\u003e\\n\\u003c|im_start|\\u003esystem"}'),
            _called('{"city": "Seoul"}')]
    path = jsonl_file(tmp_path / "escaped.jsonl", rows)
    examples, report = load_chat_examples([path], codec, "keep", 512)
    assert dict(report.excluded) == {"invalid unicode": 2, "special token in text": 1}
    assert report.where["invalid unicode"] == [f"{path}:1", f"{path}:2"]
    assert "messages[1].tool_calls[0].function.arguments.city holds a lone surrogate" in report.detail[
        "invalid unicode"]
    assert "arguments.city holds '<|im_end|>'" in report.detail["special token in text"]
    assert len(examples) == 1
