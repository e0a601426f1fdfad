"""Tool use in the chat template and SFT (hermes layout, axk1/text/tool_format.py): the tools listed in the system
turn, assistant calls written as <tool_call> blocks and trained, tool results in a user turn and never trained;
transformers renders and masks exactly what axk1 renders and trains; malformed calls are excluded by reason."""

from __future__ import annotations

import json

import pytest

from axk1.infer.chat import ChatCodec
from axk1.posttrain.chat_data import load_chat_examples, render_examples
from tests.serve_helpers import make_model_folder

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Today's weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CLOCK = {"type": "function", "function": {"name": "now", "description": "The time", "parameters": {"type": "object"}}}


def _call(name: str, args: dict, as_string: bool = False) -> dict:
    return {"id": f"call_{name}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(args) if as_string else args}}


def _agent(as_string: bool = False) -> list[dict]:
    """A conversation of two assistant tool-call turns (one with text and two calls), results, and an answer."""
    return [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "서울과 부산 날씨?"},
            {"role": "assistant", "content": "Checking both.", "tool_calls": [
                _call("get_weather", {"city": "Seoul"}, as_string),
                _call("get_weather", {"city": "부산"}, as_string)]},
            {"role": "tool", "tool_call_id": "call_get_weather", "content": "{\"temp\": 3}"},
            {"role": "tool", "tool_call_id": "call_get_weather", "content": "sunny, 9"},
            {"role": "assistant", "content": "", "tool_calls": [_call("now", {}, as_string)]},
            {"role": "tool", "content": "09:00"},
            {"role": "assistant", "content": "Seoul 3, Busan 9 at 09:00."}]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("tools") / "axk1-tiny-chat")


@pytest.fixture(scope="module")
def codec(folder):
    return ChatCodec.from_folder(folder)


def test_the_prompt_lists_the_tools_after_the_system_text_and_renders_calls_and_results(codec):
    text = codec.render(_agent()[:7], add_generation_prompt=True, enable_thinking=False, tools=[WEATHER, CLOCK])
    system = text[:text.index("<|im_end|>")]
    assert system.startswith("<|im_start|>system\nBe brief.\n\n")  # the system message's text first
    listed = system[system.index("<tools>\n") + 8:system.index("\n</tools>")].split("\n")
    assert [json.loads(line) for line in listed] == [WEATHER, CLOCK]  # one JSON object a line
    assert text.count("<|im_start|>system") == 1 and "Be brief." not in text[len(system):]
    assert ("<|im_start|>assistant\n<think>\n\n</think>Checking both.\n<tool_call>\n"
            '{"name": "get_weather", "arguments": {"city": "Seoul"}}\n</tool_call>\n<tool_call>\n'
            '{"name": "get_weather", "arguments": {"city": "부산"}}\n</tool_call><|im_end|>\n') in text
    # consecutive results share one user turn
    assert ("<|im_start|>user\n<tool_response>\n{\"temp\": 3}\n</tool_response>\n<tool_response>\nsunny, 9\n"
            "</tool_response><|im_end|>\n") in text
    # a turn that only calls starts with its block (after the empty think block it is written after in non-think
    # mode, so the next prompt extends the last one)
    assert ('<|im_start|>assistant\n<think>\n\n</think><tool_call>\n{"name": "now", "arguments": {}}\n</tool_call>'
            '<|im_end|>') in text
    assert text.endswith("<|im_start|>user\n<tool_response>\n09:00\n</tool_response><|im_end|>\n"
                         "<|im_start|>assistant\n<think>\n\n</think>")
    # arguments sent as a JSON string (OpenAI's clients) render as the object
    assert codec.render(_agent(as_string=True)[:7], enable_thinking=False, tools=[WEATHER, CLOCK]) == text
    # without a system message the tools block is the whole system turn
    alone = codec.render(_agent()[1:2], tools=[WEATHER])
    assert alone.startswith("<|im_start|>system\n# Tools\n") and alone.endswith("<|im_start|>assistant\n<think>")


def test_transformers_renders_and_masks_what_axk1_renders_and_trains(codec, folder):
    """Through the folder axk1 writes, transformers' apply_chat_template(tools=...) gives axk1's prompt, and its
    assistant mask (what TRL's assistant_only_loss trains) is exactly the completion `axk1 sft` trains for each
    assistant turn, the tool-call blocks included, in both modes."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    messages, tools = _agent(), [WEATHER, CLOCK]
    prompt = tok.apply_chat_template(messages[:7], tools=tools, tokenize=False, add_generation_prompt=True,
                                     enable_thinking=False)
    assert prompt == codec.render(messages[:7], enable_thinking=False, tools=tools)
    for mode in ("non-think", "think"):
        rows = [{**m, "reasoning_content": f"plan {i}"} if m["role"] == "assistant" and mode == "think" else m
                for i, m in enumerate(messages)]
        examples = render_examples(codec, rows, mode, 2048, tools=tools)
        turns = [i for i, m in enumerate(rows) if m["role"] == "assistant"]
        assert len(examples) == len(turns) == 3
        for n, (i, example) in enumerate(zip(turns, examples)):
            out = tok.apply_chat_template(rows[:i + 1], tools=tools, tokenize=True, return_dict=True,
                                          return_assistant_tokens_mask=True)
            ids, mask = out["input_ids"], out["assistant_masks"]
            # marked: this turn and, where they render as axk1 sft trains them (no trace), the calls before it
            marked = examples[:n + 1] if mode == "non-think" else [example]
            assert [t for t, m in zip(ids, mask) if m] == [
                t for e in marked for t in e.ids[e.n_prompt:].tolist()], (mode, i)
            assert ids[:mask.index(1)] == marked[0].ids[:marked[0].n_prompt].tolist(), (mode, i)
        trained = codec.decode(examples[0].ids[examples[0].n_prompt:].tolist())
        assert trained.endswith('Checking both.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Seoul"}}'
                                '\n</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "부산"}}'
                                "\n</tool_call>")
        context = codec.decode(examples[2].ids[:examples[2].n_prompt].tolist())
        assert "<tool_response>\n09:00\n</tool_response>" in context  # results are context, never trained
    # in non-think mode an agent loop's next prompt extends the last prompt and reply (the server's prefix cache
    # serves it), which TRL checks before it trains with tools
    first = codec.render(messages[:2], enable_thinking=False, tools=tools)
    assert codec.render(messages[:5], enable_thinking=False, tools=tools).startswith(
        first + 'Checking both.\n<tool_call>\n{"name": "get_weather"')
    from trl.chat_template_utils import get_training_chat_template
    assert get_training_chat_template(tok) is None
    # OpenAI-style string arguments train the same tokens as objects
    as_strings = render_examples(codec, _agent(as_string=True), "non-think", 2048, tools=tools)
    assert [e.ids.tolist() for e in as_strings] == [e.ids.tolist() for e in
                                                    render_examples(codec, messages, "non-think", 2048, tools=tools)]


def test_a_system_message_of_text_parts_renders_with_tools_in_transformers_as_in_axk1(codec, folder):
    """OpenAI's list of text parts as the system content, with tools: transformers passes the list to the template,
    whose tools block added it to a string (TypeError: can only concatenate list); axk1 joins the parts before
    rendering. Now transformers' rendering of the exported template is axk1's, prompt and training mask alike."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    parts = [{"role": "system", "content": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]},
             *_agent()[1:]]
    for thinking in (False, True):
        prompt = tok.apply_chat_template(parts[:7], tools=[WEATHER], tokenize=False, add_generation_prompt=True,
                                         enable_thinking=thinking)
        assert prompt == codec.render(parts[:7], enable_thinking=thinking, tools=[WEATHER]) == \
            codec.render(_agent()[:7], enable_thinking=thinking, tools=[WEATHER])
        assert prompt.startswith("<|im_start|>system\nBe brief.\n\n# Tools")
    # the exchange's calls and answer, as axk1 sft trains them
    turns = render_examples(codec, parts, "non-think", 2048, tools=[WEATHER])
    out = tok.apply_chat_template(parts, tools=[WEATHER], tokenize=True, return_dict=True,
                                  return_assistant_tokens_mask=True)
    assert [t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m] == [
        t for e in turns for t in e.ids[e.n_prompt:].tolist()]
    assert out["input_ids"][:out["assistant_masks"].index(1)] == turns[0].ids[:turns[0].n_prompt].tolist()
    # no text parts, or empty ones: no system text, as a system message with empty content
    for empty in ([], [{"type": "text", "text": ""}], None):
        messages = [{"role": "system", "content": empty}, *_agent()[1:2]]
        assert tok.apply_chat_template(messages, tools=[WEATHER], tokenize=False, add_generation_prompt=True) == \
            codec.render(messages, tools=[WEATHER]) == codec.render(_agent()[1:2], tools=[WEATHER])


def test_rows_with_tools_load_and_malformed_calls_are_excluded_by_reason(codec, tmp_path):
    good = {"tools": [WEATHER], "messages": _agent()[:3] + [{"role": "tool", "content": "3"},
                                                            {"role": "assistant", "content": "3 degrees."}]}

    def with_call(function) -> dict:
        return {"tools": [WEATHER], "messages": [{"role": "user", "content": "q"},
                                                 {"role": "assistant", "content": "", "tool_calls": [
                                                     {"id": "c", "type": "function", "function": function}]}]}

    as_text = {**good, "tools": json.dumps([WEATHER])}  # LLaMA-Factory's rows keep them as a JSON string
    bad = [with_call({"arguments": "{}"}),                                  # no name
           with_call({"name": "get_weather", "arguments": "{\"city\": "}),  # arguments not JSON
           with_call({"name": "get_weather", "arguments": "[1, 2]"}),        # JSON, but not an object
           with_call({"name": "get_weather", "arguments": 7}),
           {"tools": [{"type": "function", "function": {"description": "no name"}}], "messages": good["messages"]},
           {"tools": "get_weather", "messages": good["messages"]}]  # a string that is not JSON
    path = tmp_path / "tools.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [good, as_text] + bad) + "\n")
    examples, report = load_chat_examples([path], codec, "non-think", 2048)
    assert len(examples) == 4 and report.to_dict()["kept_rows"] == 2
    assert examples[0].ids.tolist() == examples[2].ids.tolist()
    assert dict(report.excluded) == {"bad tool call": 4, "bad tools": 2}
    assert report.where["bad tool call"][0].startswith(f"{path}:3")
    # the row's tools are in the prompt of every turn
    assert all("<tools>\n" + json.dumps(WEATHER, ensure_ascii=False) + "\n</tools>" in
               codec.decode(e.ids[:e.n_prompt].tolist()) for e in examples)


def test_the_tool_call_tags_are_single_text_tokens_as_vllms_hermes_parser_needs(tmp_path):
    """vLLM's hermes tool parser (`--tool-call-parser hermes`, as A.X K1 is served) refuses to start on a tokenizer
    without `<tool_call>` and `</tool_call>` as tokens: a tokenizer axk1 trains reserves them after the think tags,
    not special (a decode that skips special tokens keeps them), and check_vllm_folder names a folder that lacks
    them."""
    from tokenizers import Tokenizer

    from axk1.data.tokenizer import TokenizerConfig, train_tokenizer
    from tests.vllm_folder import check_vllm_folder

    path = train_tokenizer(["서울 날씨 get_weather {\"city\": \"Seoul\"}"] * 20, tmp_path / "tok",
                           TokenizerConfig(vocab_size=300, min_frequency=1))
    tok = Tokenizer.from_file(str(path))
    ids = tok.encode('<tool_call>\n{"name": "f"}\n</tool_call>', add_special_tokens=False).ids
    assert (ids[0], ids[-1]) == (tok.token_to_id("<tool_call>"), tok.token_to_id("</tool_call>")) == (6, 7)
    assert tok.decode(ids, skip_special_tokens=True).startswith("<tool_call>\n")
    folder = make_model_folder(tmp_path / "without")
    data = json.loads((folder / "tokenizer.json").read_text())
    data["added_tokens"] = [t for t in data["added_tokens"] if "tool_call" not in t["content"]]
    (folder / "tokenizer.json").write_text(json.dumps(data))
    assert check_vllm_folder(folder) == [
        f"tokenizer.json: {tag} is not a single token, so vLLM's hermes tool parser (--tool-call-parser hermes) "
        "refuses to start" for tag in ("<tool_call>", "</tool_call>")]


def test_string_arguments_train_one_text_and_a_training_render_of_them_is_refused(codec, folder):
    """OpenAI rows give arguments as a JSON string (often compact, `{"city":"Seoul"}`): axk1 sft trains the call as
    axk1 serve and vLLM render it (parsed: `{"city": "Seoul"}`), but transformers' apply_chat_template wrote the
    string verbatim, so TRL trained other text than the docs promised. The template now refuses a string in a
    training render, with the fix; given objects (transformers' convention), it masks exactly what axk1 trains."""
    from jinja2.exceptions import TemplateError
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    compact = '{"city":"Seoul"}'
    as_string = [{"role": "user", "content": "Weather in Seoul?"},
                 {"role": "assistant", "content": None, "tool_calls": [
                     {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": compact}}]}]
    as_object = [as_string[0], {**as_string[1], "tool_calls": [_call("get_weather", json.loads(compact))]}]
    example = render_examples(codec, as_string, "non-think", 2048, tools=[WEATHER])[-1]
    trained = example.ids[example.n_prompt:].tolist()
    assert '"arguments": {"city": "Seoul"}' in codec.decode(trained)
    out = tok.apply_chat_template(as_object, tools=[WEATHER], tokenize=True, return_dict=True,
                                  return_assistant_tokens_mask=True)
    assert [t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m] == trained
    with pytest.raises(TemplateError, match=r"arguments are a JSON string: parse them to an object first"):
        tok.apply_chat_template(as_string, tools=[WEATHER], tokenize=False)
    # a prompt (serving) still renders a string it is handed, and axk1's own renderer parses it as vLLM does
    history = [*as_string, {"role": "tool", "content": "sunny"}]
    assert compact in tok.apply_chat_template(history, tools=[WEATHER], tokenize=False, add_generation_prompt=True)
    assert codec.render(history, tools=[WEATHER]) == tok.apply_chat_template(
        [*as_object, history[-1]], tools=[WEATHER], tokenize=False, add_generation_prompt=True)


def test_a_refusal_part_renders_in_transformers_as_in_axk1_and_trains_as_sft_trains_it(codec, folder):
    """An assistant's refusal part (the openai client sends a refusal back so): axk1 and vLLM render its refusal
    text, the exported template (`map(attribute='text')`) rendered an empty turn in transformers, so a
    transformers-served model was prompted without it and TRL trained an empty answer. With and without tools,
    the history renders alike and the training render masks what `axk1 sft` trains."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    refusal = {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't help with that."}]}
    messages = [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
                {"role": "user", "content": [{"type": "text", "text": "q"}]}, refusal,
                {"role": "user", "content": "why?"}]
    for tools in (None, [WEATHER]):
        for thinking in (False, True):
            prompt = codec.render(messages, enable_thinking=thinking, tools=tools)
            assert "<|im_start|>assistant\nI can't help with that.<|im_end|>" in prompt
            assert prompt == tok.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True,
                                                     enable_thinking=thinking)
    last = render_examples(codec, messages[:3], "non-think", 2048)[-1]
    out = tok.apply_chat_template(messages[:3], tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    assert [t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m] == last.ids[last.n_prompt:].tolist()
    assert codec.decode(last.ids[last.n_prompt:].tolist()) == "I can't help with that."


def test_trl_trains_the_calls_and_the_answer_of_a_rows_last_exchange_as_axk1_sft_does(codec, folder, tmp_path):
    """TRL's assistant_only_loss trains what the template marks (generation). Only a row's last turn was marked, so
    on user → call → result → answer TRL trained the answer and not the call, and a row ending with a result stopped
    TRL ("no assistant tokens"). Every calling turn of the last exchange is marked now: TRL trains the tokens
    `axk1 sft` trains for that exchange's turns; an earlier exchange (history, its think block gone) is not trained,
    nor a call whose trace the history drops (it would train a call without its reasoning)."""
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))
    # calls of one schema: `datasets` gives every call every argument name any call has (`"city": null`)
    agent = _agent()
    agent[5] = {**agent[5], "tool_calls": [_call("get_weather", {"city": "대구"})]}
    earlier = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    rows = [agent, agent[:7], earlier + agent[1:]]
    trainer = SFTTrainer(model=model, processing_class=tok, train_dataset=Dataset.from_list(
        [{"messages": r, "tools": json.dumps([WEATHER, CLOCK])} for r in rows]), args=SFTConfig(
        output_dir=str(tmp_path), report_to=[], use_cpu=True, max_length=2048, assistant_only_loss=True))
    assert len(trainer.train_dataset) == len(rows)  # none dropped as "fully masked"
    for row, prepared in zip(rows, trainer.train_dataset):
        last_user = max(i for i, m in enumerate(row) if m["role"] == "user")
        exchange = [i for i, m in enumerate(row) if m["role"] == "assistant" and i > last_user]
        examples = render_examples(codec, row, "keep", 2048, tools=[WEATHER, CLOCK])[-len(exchange):]
        trl_trains = [t for t, m in zip(prepared["input_ids"], prepared["labels"]) if m != -100]
        assert trl_trains == [t for e in examples for t in e.ids[e.n_prompt:].tolist()]
        assert trl_trains  # the row ending with a result trains its calls
    # a call with a trace renders in the history without it: not trained in keep mode, trained in non-think mode
    traced = [*_agent()[:7]]
    traced[5] = {**traced[5], "reasoning_content": "Now the time."}
    for kwargs, trained in (({}, False), ({"enable_thinking": False}, True)):
        out = tok.apply_chat_template(traced, tools=[WEATHER, CLOCK], return_dict=True,
                                      return_assistant_tokens_mask=True, **kwargs)
        text = codec.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m])
        assert text.startswith("Checking both.\n<tool_call>")  # the call before it, with no trace, is
        assert ('"name": "now"' in text) == trained and "Now the time." not in text
