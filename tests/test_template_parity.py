"""One conversation, one set of ids: what `axk1 sft` trains, what `axk1 serve` renders and what transformers'
apply_chat_template renders (TRL's SFTTrainer, a transformers-served model) from the folder axk1 writes, for the
forms OpenAI's clients and common datasets send: the `developer` role, bare-function tools, a message-level
`refusal`, a trace under `reasoning` / `thinking`, a whole conversation in non-think mode, a final message whose
trace is still open (continue_final_message); and the special tokens transformers knows."""

from __future__ import annotations

import json

import pytest

from axk1.infer.chat import ChatCodec
from axk1.infer.chat_prompt import render_chat
from axk1.infer.protocol import APIError, ChatRequest, parse_request
from axk1.posttrain.chat_data import load_chat_examples
from axk1.text.chat_template import render_template
from tests.serve_helpers import make_model_folder

QUESTION, ANSWER, TRACE, SYSTEM = "서울 날씨 어때?", "맑습니다.", "The user asks about the weather.", "Be brief."
WEATHER = {"name": "get_weather", "description": "Today's weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("parity") / "axk1-tiny-chat")


@pytest.fixture(scope="module")
def codec(folder):
    return ChatCodec.from_folder(folder)


@pytest.fixture(scope="module")
def tok(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def _sft(codec, tmp_path, row: dict, mode: str):
    """(prompt ids, trained ids) of the row's last assistant turn as `axk1 sft` reads the row from a file."""
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    examples, report = load_chat_examples([path], codec, mode, 2048)
    assert not report.excluded, report.detail
    last = examples[-1]
    return last.ids[:last.n_prompt].tolist(), last.ids[last.n_prompt:].tolist()


def _trl(tok, messages: list[dict], tools=None, **kwargs):
    """(prompt ids, trained ids) of transformers' whole-conversation render: the ids before the assistant mask,
    and the masked ones (what TRL's assistant_only_loss trains)."""
    out = tok.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,
                                  return_assistant_tokens_mask=True, **kwargs)
    ids, mask = out["input_ids"], out["assistant_masks"]
    return ids[:mask.index(1)], [t for t, m in zip(ids, mask) if m]


def _served(codec, messages: list[dict], tools=None, **kwargs) -> str:
    body = {"messages": messages, **({"tools": tools} if tools else {}),
            **({"chat_template_kwargs": kwargs} if kwargs else {})}
    return render_chat(codec, parse_request(ChatRequest, body))


def test_developer_is_the_system_turn_everywhere(codec, tok, tmp_path):
    """OpenAI's SDKs send system instructions as `developer`: SFT trains it as the system turn, but the template
    (so the server and transformers) rendered a `<|im_start|>developer` turn no model was trained on."""
    dev = [{"role": "developer", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    system = [{"role": "system", "content": SYSTEM}, dev[1]]
    answer = {"role": "assistant", "content": ANSWER}
    for tools in (None, [WEATHER]):
        sft = _sft(codec, tmp_path, {"messages": [*dev, answer], **({"tools": tools} if tools else {})}, "non-think")
        assert _trl(tok, [*dev, answer], tools, enable_thinking=False) == sft
        assert _trl(tok, [*system, answer], tools, enable_thinking=False) == sft
        served = _served(codec, dev, tools, enable_thinking=False)
        assert served == _served(codec, system, tools, enable_thinking=False)
        assert served == tok.apply_chat_template(dev, tools=tools, tokenize=False, add_generation_prompt=True,
                                                 enable_thinking=False)
        assert "developer" not in served and served.count(SYSTEM) == 1
        assert codec.encode(served, add_special_tokens=False) == sft[0]


def test_a_bare_function_tool_is_listed_as_openais_form(codec, tok, tmp_path):
    """A tool given as a bare function ({"name", "parameters"}: transformers' tools=, LLaMA-Factory's data) is
    listed as {"type": "function", "function": ...} by SFT and the server; transformers listed it as given, so a
    TRL-trained model saw other system prompts than the server's."""
    wrapped = {"type": "function", "function": WEATHER}
    messages = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": ANSWER}]
    prompt = tok.apply_chat_template(messages[:1], tools=[WEATHER], tokenize=False, add_generation_prompt=True)
    assert prompt == tok.apply_chat_template(messages[:1], tools=[wrapped], tokenize=False, add_generation_prompt=True)
    assert json.dumps(wrapped, ensure_ascii=False) in prompt
    assert prompt == _served(codec, messages[:1], [WEATHER]) == _served(codec, messages[:1], [wrapped])
    sft = _sft(codec, tmp_path, {"messages": messages, "tools": [WEATHER]}, "non-think")
    assert _trl(tok, messages, [WEATHER], enable_thinking=False) == sft


def test_a_message_level_refusal_is_the_turns_text(codec, tok, tmp_path):
    """OpenAI writes a declining turn as `refusal` with null content: SFT trains the refusal text, the template
    rendered an empty turn (in the history the server prompts with, and in transformers' training render)."""
    refusal = "I can't help with that."
    messages = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": None, "refusal": refusal}]
    sft = _sft(codec, tmp_path, {"messages": messages}, "non-think")
    assert _trl(tok, messages, enable_thinking=False) == sft
    assert codec.decode(sft[1]) == refusal
    history = [*messages, {"role": "user", "content": "why?"}]
    served = _served(codec, history)
    assert f"<|im_start|>assistant\n{refusal}<|im_end|>" in served
    assert served == tok.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
    # the server holds the field to SFT's rules
    for message, param in (({"role": "assistant", "content": None, "refusal": 3}, "messages[1].refusal"),
                           ({"role": "assistant", "content": "Sure.", "refusal": refusal}, "messages[1]"),
                           ({"role": "user", "content": None, "refusal": refusal}, "messages[1]")):
        with pytest.raises(APIError) as e:
            parse_request(ChatRequest, {"messages": [messages[0], message]})
        assert e.value.status == 400 and e.value.param == param, e.value.message


@pytest.mark.parametrize("name", ["reasoning", "thinking"])
def test_a_trace_under_vllms_or_gpt_oss_name_is_the_turns_reasoning(codec, tok, tmp_path, name):
    """SFT reads an assistant's trace as `reasoning` (vLLM) or `thinking` (gpt-oss) too, and transformers 5 passes
    it to the template as `reasoning_content`; axk1's own renderer (ChatCodec, which the server and eval use) did
    not, so its whole-conversation render of such a turn was non-think, the trace lost."""
    messages = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": ANSWER, name: TRACE}]
    sft = _sft(codec, tmp_path, {"messages": messages}, "keep")
    assert _trl(tok, messages) == sft
    rendered = codec.render_history(messages, add_generation_prompt=False)
    assert rendered == tok.apply_chat_template(messages, tokenize=False)
    assert codec.encode(rendered, add_special_tokens=False) == sft[0] + sft[1] + codec.encode("\n")
    assert codec.decode(sft[1]) == f"{TRACE}\n</think>\n\n{ANSWER}" and sft[1][-1] == codec.turn_end


@pytest.mark.parametrize("content, extra", [(ANSWER, {"reasoning_content": TRACE}),
                                            (f"<think>\n{TRACE}\n</think>\n\n{ANSWER}", {})])
def test_a_whole_conversation_in_non_think_mode_is_what_sft_trains_in_non_think_mode(codec, tok, tmp_path, content,
                                                                                       extra):
    """enable_thinking=False in a training render still wrote the last turn's trace, where `axk1 sft --mode
    non-think` trains the answer after the empty think block; without the flag the trace stays (keep mode)."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION},
                {"role": "assistant", "content": content, **extra}]
    non_think = _sft(codec, tmp_path, {"messages": messages}, "non-think")
    assert _trl(tok, messages, enable_thinking=False) == non_think
    assert codec.decode(non_think[1]) == ANSWER and non_think[1][-1] == codec.turn_end
    assert codec.decode(non_think[0]).endswith(f"{QUESTION}\nassistant\n<think>\n\n</think>")  # (decode drops <|im_*|>)
    assert _trl(tok, messages) == _sft(codec, tmp_path, {"messages": messages}, "keep")


def test_continue_final_message_continues_an_open_trace(codec, tok):
    """A final assistant message whose trace is still open (`<think>\\nLet me think`): transformers'
    continue_final_message rendered an empty think block and then a second `<think>`; it now continues the
    trace the think-mode prompt opened."""
    user = [{"role": "user", "content": QUESTION}]
    partial = "<think>\nLet me think"
    for thinking in (None, True):
        kwargs = {} if thinking is None else {"enable_thinking": thinking}
        text = tok.apply_chat_template([*user, {"role": "assistant", "content": partial}], tokenize=False,
                                       continue_final_message=True, **kwargs)
        assert text == _served(codec, user, **kwargs) + "\nLet me think"
        assert text.count("<think>") == 1


def test_tools_inside_chat_template_kwargs_are_refused(codec):
    """`chat_template_kwargs.tools` without `tools` was rendered unchecked (the string "abc" listed tools "a",
    "b", "c") and the reply's calls were never parsed: a 400 naming the field, saying to send `tools`."""
    user = [{"role": "user", "content": QUESTION}]
    for kwargs, extra in ((({"tools": "abc"}), {}), ({"tools": [WEATHER]}, {}), ({"tools": [WEATHER]},
                                                                                 {"tools": [WEATHER]})):
        with pytest.raises(APIError) as e:
            parse_request(ChatRequest, {"messages": user, "chat_template_kwargs": kwargs, **extra})
        assert e.value.status == 400 and e.value.param == "chat_template_kwargs.tools"
        assert "send them as 'tools'" in e.value.message


def test_every_special_token_is_special_to_transformers(tok, codec):
    """transformers counts as special only the tokens tokenizer_config.json names: `<|im_start|>` was missing from
    all_special_ids (a decode with skip_special_tokens kept it, and TRL's checks did not know it). The think and
    tool-call tags stay text, as they are in tokenizer.json."""
    specials = sorted(t.content for t in codec.tokenizer.get_added_tokens_decoder().values() if t.special)
    assert "<|im_start|>" in specials
    assert sorted(tok.all_special_tokens) == specials
    assert sorted(tok.all_special_ids) == sorted(codec.token_id(t) for t in specials)
    rendered = tok.apply_chat_template([{"role": "user", "content": QUESTION}], add_generation_prompt=True)
    ids = rendered["input_ids"] if hasattr(rendered, "keys") else rendered
    assert tok.decode(ids, skip_special_tokens=True) == f"user\n{QUESTION}\nassistant\n<think>"
    assert not {"<think>", "</think>", "<tool_call>", "</tool_call>"} & set(tok.all_special_tokens)


def test_an_open_trace_in_non_think_mode_is_dropped(codec, tok):
    """enable_thinking=False gives the empty think block whatever reasoning the turn has; an open trace was still
    written inside the block (`<think>\\n\\n</think>` never came). Now it is dropped as any trace is, and
    continue_final_message, which has nothing left to continue, refuses."""
    user = [{"role": "user", "content": QUESTION}]
    messages = [*user, {"role": "assistant", "content": "<think>\nLet me think"}]
    text = tok.apply_chat_template(messages, tokenize=False, enable_thinking=False)
    assert "Let me think" not in text
    assert text == _served(codec, user, enable_thinking=False) + "<|im_end|>\n"
    assert codec.render_history(messages, add_generation_prompt=False, enable_thinking=False) == text
    with pytest.raises(ValueError, match="final message"):
        tok.apply_chat_template(messages, tokenize=False, continue_final_message=True, enable_thinking=False)


def test_a_trace_under_two_names_renders_one_order_everywhere(codec, tok, tmp_path):
    """A trace's names are read in one order (text/reasoning.REASONING_FIELDS: transformers 5's, which passes
    `thinking` on before `reasoning`): axk1's renderer, the template alone (vLLM, older transformers) and
    transformers' apply_chat_template render the same trace. Texts that differ are a row SFT refuses."""
    differ = [{"role": "user", "content": QUESTION},
              {"role": "assistant", "content": ANSWER, "thinking": TRACE, "reasoning": "vllm trace"}]
    rendered = codec.render_history(differ, add_generation_prompt=False)
    assert TRACE in rendered and "vllm trace" not in rendered
    assert tok.apply_chat_template(differ, tokenize=False) == rendered
    no_alias = {"messages": differ, "add_generation_prompt": False}
    assert render_template(codec.chat_template, no_alias, codec.template_file) == rendered
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"messages": differ}) + "\n", encoding="utf-8")
    assert load_chat_examples([path], codec, "keep", 2048)[1].excluded
