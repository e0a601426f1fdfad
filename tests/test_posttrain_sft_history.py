"""A chat row of many turns: each assistant turn trains as its own example with the conversation before it, and
rendering every turn's history anew took time quadratic in the turns (800 turns: 27 s, no progress shown, nothing
said of 6.9M training tokens made from ~9k). The history is rendered once where the template allows, to the same
tokens; loading shows a bar at a terminal; the report says when the examples repeat their rows many times over."""

from __future__ import annotations

import dataclasses

import pytest

from axk1.infer.chat import ChatCodec
from axk1.posttrain.chat_data import completion_text, load_chat_examples, prompt_text, render_examples, split_think
from axk1.text.tool_format import answer_with_calls, normalise_tool_calls
from tests.posttrain_helpers import jsonl_file
from tests.serve_helpers import make_model_folder

# a template that writes the number of messages first: no prompt is a prefix of a longer history's render
COUNTING = ("{{ messages|length }} messages\n{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
            "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def codec(tmp_path_factory) -> ChatCodec:
    return ChatCodec.from_folder(make_model_folder(tmp_path_factory.mktemp("hist") / "base"))


def _conversation(turns: int, tools: bool = False) -> list[dict]:
    messages = [{"role": "system", "content": "Be brief."}]
    for i in range(turns):
        messages.append({"role": "user", "content": f"What is {i} + {i}?"})
        if tools and i % 3 == 1:  # a tool loop: the call, its result, then the answer
            messages += [{"role": "assistant", "content": "", "tool_calls": [
                {"type": "function", "function": {"name": "add", "arguments": {"a": i, "b": i}}}]},
                {"role": "tool", "content": str(2 * i)}]
        reasoning = {"reasoning_content": f"{i} and {i} make {2 * i}."} if i % 2 else {}
        messages.append({"role": "assistant", "content": f"It is {2 * i}.", **reasoning})
    return messages


def _expected(codec: ChatCodec, messages: list[dict], tools=None) -> list[list[int]]:
    """Each turn's ids as rendering its whole history anew makes them (keep mode)."""
    out = []
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            reasoning, answer = split_think(m)
            calls = normalise_tool_calls(m["tool_calls"], "tool_calls") if m.get("tool_calls") else []
            prompt = prompt_text(codec, [{**h, "tool_calls": normalise_tool_calls(h["tool_calls"], "tool_calls")}
                                         if h.get("tool_calls") else h for h in messages[:i]], bool(reasoning), tools)
            completion = completion_text(reasoning or None, answer_with_calls(answer, calls), codec.eos_token)
            out.append(codec.encode(prompt, add_special_tokens=False) + codec.encode(completion,
                                                                                   add_special_tokens=False))
    return out


ADD = [{"type": "function", "function": {"name": "add", "description": "a + b", "parameters": {
    "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}]


@pytest.mark.parametrize("template", [None, COUNTING])
@pytest.mark.parametrize("tools", [False, True])
def test_every_turn_renders_the_tokens_its_whole_history_renders(codec, template, tools):
    """The folder's template (which writes the last assistant message otherwise) and one that no prefix of a
    history renders the same (so every prompt is rendered in full), with and without a tool loop."""
    codec = codec if template is None else dataclasses.replace(codec, chat_template=template)
    messages = _conversation(20, tools)  # past chat_prompts.LINEAR_FROM: the linear rendering is tried
    row_tools = ADD if tools else None
    examples = render_examples(codec, messages, "keep", 100_000, tools=row_tools)
    assert [e.ids.tolist() for e in examples] == _expected(codec, messages, row_tools)
    assert [e.mode for e in examples] == ["think" if m.get("reasoning_content") else "non-think"
                                         for m in messages if m["role"] == "assistant"]  # both modes trained


def test_a_long_conversation_renders_each_message_a_few_times_not_once_a_turn(codec, monkeypatch):
    """Rendering each turn's history anew rendered ~n²/2 messages for n turns; once, it is a few per message."""
    messages = _conversation(150)
    rendered = []
    real = codec.render_history
    monkeypatch.setattr(codec, "render_history", lambda history, *a, **k: rendered.append(len(history))
                        or real(history, *a, **k))
    examples = render_examples(codec, messages, "keep", 10_000_000)
    assert len(examples) == 150
    assert sum(rendered) < 10 * len(messages), sum(rendered)
    last = examples[-1]
    assert last.ids.tolist() == _expected(codec, messages)[-1]


def test_rows_whose_examples_repeat_them_many_times_are_said_with_the_way_to_train_the_last_turn(codec, tmp_path):
    path = jsonl_file(tmp_path / "c.jsonl", [{"messages": _conversation(60)}, {"messages": _conversation(2)}])
    examples, report = load_chat_examples([path], codec, "non-think", 100_000)
    own = max(len(e.ids) for e in examples[:60])
    trained = sum(len(e.ids) for e in examples[:60])
    summary = report.summary()
    assert f"note: 1 kept row trains {trained:,} tokens from {own:,} of their own" in summary
    assert f"(e.g. {path}:1)" in summary and '"weight": 0' in summary
    assert report.to_dict()["repeated_history_rows"] == 1
    _, short = load_chat_examples([jsonl_file(tmp_path / "s.jsonl", [{"messages": _conversation(2)}])], codec,
                                  "non-think", 100_000)
    assert "note:" not in short.summary() and short.to_dict()["repeated_history_rows"] == 0


def test_loading_shows_a_bar_of_rows_when_asked(codec, tmp_path, capsys):
    path = jsonl_file(tmp_path / "c.jsonl", [{"messages": _conversation(3)}] * 4)
    load_chat_examples([path], codec, "non-think", 100_000, progress=True)
    assert "chat rows" in capsys.readouterr().err
    load_chat_examples([path], codec, "non-think", 100_000)
    assert "chat rows" not in capsys.readouterr().err


# DeepSeek-V3/R1's ending: after a tool's output the generation prompt closes the outputs and writes no assistant tag
_TOOL_ENDING = (
    "{%- set ns = namespace(is_tool=false) -%}{%- for m in messages -%}"
    "{%- if m.role == 'user' -%}{%- set ns.is_tool = false -%}<|User|>{{ m.content }}"
    "{%- elif m.role == 'assistant' -%}{%- if ns.is_tool -%}<|tool_outputs_end|>{{ m.content }}<|end|>"
    "{%- set ns.is_tool = false -%}{%- else -%}<|Assistant|>{{ m.content }}<|end|>{%- endif -%}"
    "{%- elif m.role == 'tool' -%}{%- set ns.is_tool = true -%}<|tool_output|>{{ m.content }}{%- endif -%}"
    "{%- endfor -%}{%- if ns.is_tool -%}<|tool_outputs_end|>{%- endif -%}"
    "{%- if add_generation_prompt and not ns.is_tool -%}<|Assistant|>{%- endif -%}")


def test_a_turn_after_a_tools_output_gets_its_own_generation_prompt():
    """The generation prompt was taken once, from the last turn, and given to every turn: a middle turn after a
    tool's output (first and last after users' turns, the only ones checked) got '<|Assistant|>' the template does
    not write there (a third review)."""
    from axk1.posttrain.chat_prompts import TurnPrompts
    from axk1.text.chat_template import render_template

    class Codec:
        def render_history(self, messages, generation=True, **kw):
            return render_template(_TOOL_ENDING, {"messages": messages, "add_generation_prompt": generation, **kw}, "t")

    messages = [{"role": "user", "content": "u0"}, {"role": "assistant", "content": "a0"},
                {"role": "user", "content": "u1"}, {"role": "assistant", "content": "c1"},
                {"role": "tool", "content": "r1"}, {"role": "assistant", "content": "a1"},
                {"role": "user", "content": "u2"}, {"role": "assistant", "content": "a2"}]
    # more turns after, so that the linear rendering is tried (chat_prompts.LINEAR_FROM)
    messages += [m for k in range(3, 15) for m in ({"role": "user", "content": f"u{k}"},
                                                   {"role": "assistant", "content": f"a{k}"})]
    turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    prompts = TurnPrompts(Codec(), messages, [m["content"] for m in messages], turns, None)
    for i in turns:
        assert prompts.prompt(i, False) == prompts.exact(i, False), i
    assert prompts.plans[False] is not None  # the linear rendering was used, not the full one
    assert "<|tool_outputs_end|><|Assistant|>" not in prompts.prompt(5, False)
