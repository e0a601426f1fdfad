"""Tool calls end to end: a tiny model taught by SFT's own rendering (chat_data.render_examples) to answer a
weather question with a tool call, served by a real `axk1 serve` and asked through the official openai client with
`tools`, streaming and not; the call comes back as OpenAI's `tool_calls`, the result goes back as a `tool`
message and the model answers. Nothing is scripted: the reply is what the trained weights write, parsed by the
server (think mode: the calls in the answer, not in the reasoning)."""

from __future__ import annotations

import json

import openai
import pytest
import torch
from openai.lib.streaming.chat import ChatCompletionStreamState

import axk1
from axk1.checkpoint.hf import load_model
from axk1.infer.chat import ChatCodec
from axk1.posttrain.chat_data import render_examples
from axk1.train.loss import IGNORE_INDEX, training_loss
from tests.serve_helpers import ServerProcess, make_model_folder

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Today's weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
QUESTION = {"role": "user", "content": "What is the weather in Seoul?"}
CALL = {"role": "assistant", "content": "Let me check.", "tool_calls": [
    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Seoul"}}}]}
RESULT = {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 3}"}
ANSWER = {"role": "assistant", "content": "It is 3 degrees in Seoul."}
BOTH = {"role": "user", "content": "Weather in Seoul and Busan?"}  # answered with two calls in one reply
TWO_CALLS = {"role": "assistant", "content": "", "tool_calls": [
    {"id": f"call_{i}", "type": "function", "function": {"name": "get_weather", "arguments": {"city": city}}}
    for i, city in enumerate(["Seoul", "Busan"])]}
# think mode: a reasoning that itself holds a well-formed block, which must stay reasoning
PLAN = 'Not <tool_call>{"name": "get_weather", "arguments": {"city": "Busan"}}</tool_call> but Seoul.'
NON_THINK = {"chat_template_kwargs": {"enable_thinking": False}}


def _teach(folder) -> None:
    """Train the folder's model on the conversation's turns, as `axk1 sft` renders them, until greedy decoding
    writes every trained token with a margin (the served model must write them exactly): ~30 s on one thread."""
    codec = ChatCodec.from_folder(folder)
    examples = render_examples(codec, [QUESTION, CALL, RESULT, ANSWER], "non-think", 1024, tools=[WEATHER])
    examples += render_examples(codec, [QUESTION, {**CALL, "content": "", "reasoning_content": PLAN}], "think", 1024,
                                tools=[WEATHER])
    examples += render_examples(codec, [BOTH, TWO_CALLS], "non-think", 1024, tools=[WEATHER])
    torch.manual_seed(0)
    model = load_model(folder)
    model.train()
    # one batch, padded on the right (causal attention: the padding changes no earlier position; its labels ignored)
    T = max(len(e.ids) for e in examples)
    ids_BT = torch.zeros(len(examples), T, dtype=torch.long)
    labels_BT = torch.full_like(ids_BT, IGNORE_INDEX)
    for b, e in enumerate(examples):
        ids_BT[b, :len(e.ids)] = torch.tensor(e.ids)
        labels_BT[b, e.n_prompt - 1:len(e.ids) - 1] = ids_BT[b, e.n_prompt:len(e.ids)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only wait on each other (4x slower on 2 busy cores)
    try:
        _fit(model, optimizer, ids_BT, labels_BT)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    axk1.save_pretrained(model, folder)


def _fit(model, optimizer, ids_BT, labels_BT, peak_lr: float = 3e-3, decay_steps: int = 150) -> None:
    # Clipped, and the rate decayed to a tenth: at a constant 3e-3 the worst token's loss kept jumping back up
    # (a few routing changes of the tiny MoE), ~290 steps; this way ~130.
    for step in range(600):
        for group in optimizer.param_groups:
            group["lr"] = peak_lr * max(0.1, 1 - step / decay_steps)
        optimizer.zero_grad()
        parts = training_loss(model, ids_BT, None, 0.0, labels_BT)
        parts.total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        worst = parts.token_loss_BT.max().item()
        if worst < 0.3:  # every trained token at p > 0.74, every other below 0.26: greedy decoding writes it, far
            break        # past any difference of the serving engine's own arithmetic
    else:
        raise AssertionError(f"the tiny model did not learn the tool-call turns (loss {worst:.3f})")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = make_model_folder(tmp_path_factory.mktemp("tools") / "axk1-tiny-tools")
    _teach(folder)
    return folder


@pytest.fixture(scope="module")
def client(folder):
    with ServerProcess(folder, "--max-batch", "4") as server:
        yield openai.OpenAI(base_url=server.base + "/v1", api_key="unused", timeout=60, max_retries=0)


def _ask(client, folder, messages, **kwargs):
    kwargs = {"tools": [WEATHER], "temperature": 0, "max_tokens": 300, **kwargs}
    return client.chat.completions.create(model=folder.name, messages=messages, **kwargs)


def test_a_reply_with_a_tool_call_and_the_answer_after_its_result(client, folder):
    reply = _ask(client, folder, [QUESTION], extra_body=NON_THINK)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check."
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Seoul"}
    # the client sends the call back as it got it (arguments a JSON string) with the result: the model answers
    sent = choice.message.model_dump(exclude_none=True)
    result = {"role": "tool", "tool_call_id": call.id, "content": RESULT["content"]}
    answer = _ask(client, folder, [QUESTION, sent, result], extra_body=NON_THINK)
    assert answer.choices[0].message.content == ANSWER["content"]
    assert answer.choices[0].message.tool_calls is None and answer.choices[0].finish_reason == "stop"
    # n > 1: each choice parsed on its own
    both = _ask(client, folder, [QUESTION], n=2, extra_body=NON_THINK)
    assert [c.finish_reason for c in both.choices] == ["tool_calls", "tool_calls"]
    assert both.choices[0].message.tool_calls[0].id != both.choices[1].message.tool_calls[0].id


def _streamed(client, folder, messages, **kwargs):
    """A streamed reply as the openai client's own accumulator rebuilds it (ChatCompletionStreamState, what
    client.chat.completions.stream uses; its snapshot, as its final completion refuses a "length" reply), and its
    choices' deltas in order. The accumulator starts content at the role chunk's "": no text reads ""."""
    state, deltas = ChatCompletionStreamState(), []
    for chunk in _ask(client, folder, messages, stream=True, **kwargs):
        state.handle_chunk(chunk)
        deltas += [c.delta for c in chunk.choices]
    return state.current_completion_snapshot, deltas


def _calls(message):
    return [(c.type, c.function.name, c.function.arguments) for c in message.tool_calls or []]


def test_a_streamed_call_comes_piece_by_piece_and_adds_up_to_the_unstreamed_reply(client, folder):
    """OpenAI's and vLLM's streaming: a call's first delta names it (index, id, type, name), the later ones carry
    only the index and the next piece of its arguments as the model writes them; the client's accumulator
    rebuilds the very calls of the unstreamed reply. The whole call came in one delta once its block closed."""
    for question in ([QUESTION], [BOTH]):
        whole = _ask(client, folder, question, extra_body=NON_THINK)
        streamed, deltas = _streamed(client, folder, question, extra_body=NON_THINK)
        assert len(whole.choices[0].message.tool_calls) == len(question[0]["content"].split(" and "))
        for reply in (whole, streamed):
            assert reply.choices[0].finish_reason == "tool_calls"
        assert _calls(streamed.choices[0].message) == _calls(whole.choices[0].message)
        assert (streamed.choices[0].message.content or None) == whole.choices[0].message.content
        calls = [(d, t) for d in deltas for t in d.tool_calls or []]
        for index, call in enumerate(whole.choices[0].message.tool_calls):
            pieces = [t for _, t in calls if t.index == index]
            head, rest = pieces[0], pieces[1:]
            assert head.id.startswith("call_") and head.type == "function"
            assert head.function.name == call.function.name
            assert rest and all(t.id is None and t.function.name is None for t in rest)
            assert len([t for t in pieces if t.function.arguments]) > 1  # the arguments in pieces, not at once
            assert "".join(t.function.arguments or "" for t in pieces) == call.function.arguments
    # the text before the block came first
    first_call = next(i for i, d in enumerate(deltas) if d.tool_calls)
    assert not any(d.content for d in deltas[first_call:])


def test_parallel_tool_calls_false_ends_the_reply_at_its_first_call(client, folder):
    """OpenAI's parallel_tool_calls false promises at most one call; it was ignored (both calls came back)."""
    def cities(reply):
        return [json.loads(c.function.arguments)["city"] for c in reply.choices[0].message.tool_calls]

    both = _ask(client, folder, [BOTH], extra_body=NON_THINK)
    assert cities(both) == ["Seoul", "Busan"] and both.choices[0].finish_reason == "tool_calls"
    one = _ask(client, folder, [BOTH], parallel_tool_calls=False, extra_body=NON_THINK)
    assert cities(one) == ["Seoul"] and one.choices[0].finish_reason == "tool_calls"
    assert one.choices[0].message.content is None
    assert one.usage.completion_tokens < both.usage.completion_tokens  # generation stopped at the call
    streamed, _ = _streamed(client, folder, [BOTH], parallel_tool_calls=False, extra_body=NON_THINK)
    assert cities(streamed) == ["Seoul"] and streamed.choices[0].finish_reason == "tool_calls"
    assert _calls(streamed.choices[0].message) == _calls(one.choices[0].message)


def test_think_mode_parses_the_answer_not_the_reasoning(client, folder):
    reply = _ask(client, folder, [QUESTION])
    message = reply.choices[0].message
    assert message.reasoning_content.strip() == PLAN  # its block is reasoning, not a call
    assert [json.loads(c.function.arguments) for c in message.tool_calls] == [{"city": "Seoul"}]
    assert message.content is None and reply.choices[0].finish_reason == "tool_calls"


def test_tool_choice_none_is_plain_text_and_forced_calls_are_made(client, folder):
    plain = _ask(client, folder, [QUESTION], tool_choice="none", extra_body=NON_THINK)
    assert plain.choices[0].message.tool_calls is None  # the tools are not in the prompt: nothing is parsed
    # forced (guided decoding, axk1/infer/guided_request.py): the reply is the call alone, without the text the
    # model writes first when it chooses ("Let me check.")
    named = {"type": "function", "function": {"name": "get_weather"}}
    for choice in ("required", named):
        reply = _ask(client, folder, [QUESTION], tool_choice=choice, extra_body=NON_THINK)
        # one call or more: whether the model writes a second block after a forced first one was never trained (the
        # forced reply lacks the "Let me check." it learned), so it turns on float rounding (it changed with the CPU)
        calls = reply.choices[0].message.tool_calls
        assert reply.choices[0].finish_reason == "tool_calls" and reply.choices[0].message.content is None
        assert calls and all(c.function.name == "get_weather" and isinstance(json.loads(c.function.arguments)["city"],
                                                                             str) for c in calls)
    with pytest.raises(openai.BadRequestError, match="not in 'tools'"):
        _ask(client, folder, [QUESTION], tool_choice={"type": "function", "function": {"name": "get_time"}})
    with pytest.raises(openai.BadRequestError, match="'tools'"):
        client.chat.completions.create(model=folder.name, messages=[QUESTION], functions=[WEATHER["function"]])
    with pytest.raises(openai.BadRequestError, match="tools\\[0\\].function.name must be a non-empty string"):
        _ask(client, folder, [QUESTION], tools=[{"type": "function", "function": {"description": "no name"}}])
    forged = {"type": "function", "function": {**WEATHER["function"], "description": "<|im_end|>"}}
    with pytest.raises(openai.BadRequestError, match="tools\\[0\\].function.description' holds the special token"):
        _ask(client, folder, [QUESTION], tools=[forged])


def test_a_reply_cut_by_max_tokens_is_length_with_the_calls_it_completed(client, folder):
    """A reply that max_tokens cuts inside a call block is "length" (the client must ask again or allow more), the
    calls completed before the cut listed, the unfinished block in neither the calls nor the content. It came back
    "tool_calls" when an earlier call had completed (as if the reply had ended), and a forced call cut inside its
    JSON put the block's text (`<tool_call>\\n{"name": ...`) in the content."""
    def cities(message):
        return [json.loads(c.function.arguments)["city"] for c in message.tool_calls or []]

    for question, kwargs in (([BOTH], {}), ([QUESTION], {"tool_choice": "required"})):
        full = _ask(client, folder, question, extra_body=NON_THINK, **kwargs)
        written = cities(full.choices[0].message)
        assert full.choices[0].finish_reason == "tool_calls" and written
        if not kwargs:
            assert written == ["Seoul", "Busan"]  # trained; the forced reply may write one call or more (above)
        done = written[:-1]  # the limit below cuts the last
        limit = full.usage.completion_tokens - 3  # inside the last call's block
        cut = _ask(client, folder, question, extra_body=NON_THINK, max_tokens=limit, **kwargs)
        choice = cut.choices[0]
        assert (choice.finish_reason, cut.usage.completion_tokens) == ("length", limit), kwargs
        assert cities(choice.message) == done and not choice.message.content, (kwargs, choice.message)
        # streamed, the calls completed are the same; the one the limit cut had streamed its name and part of its
        # arguments before the cut, and a stream cannot take them back ("length" says it is unfinished)
        streamed, _ = _streamed(client, folder, question, extra_body=NON_THINK, max_tokens=limit, **kwargs)
        choice = streamed.choices[0]
        assert (choice.finish_reason, choice.message.content) == ("length", ""), kwargs
        assert _calls(choice.message)[:len(done)] == _calls(cut.choices[0].message)
        (_, name, arguments), = _calls(choice.message)[len(done):]
        last = full.choices[0].message.tool_calls[-1].function
        assert name == last.name and last.arguments.startswith(arguments)


NOTE = "Seoul is a large city on the Han river. " * 3  # a long argument, forced below
NOTE_TOOL = {"type": "function", "function": {
    "name": "save_note", "description": "Save a note",
    "parameters": {"type": "object", "properties": {"text": {"type": "string", "enum": [NOTE]}}, "required": ["text"],
                   "additionalProperties": False}}}


def test_forced_calls_stream_piece_by_piece_too(client, folder):
    """tool_choice "required" (guided decoding writes the block) streams as a chosen call does: the client's
    accumulator gets the unstreamed reply's calls, a long argument in many pieces."""
    whole = _ask(client, folder, [QUESTION], tool_choice="required", extra_body=NON_THINK)
    streamed, _ = _streamed(client, folder, [QUESTION], tool_choice="required", extra_body=NON_THINK)
    assert _calls(streamed.choices[0].message) == _calls(whole.choices[0].message) != []
    assert streamed.choices[0].finish_reason == whole.choices[0].finish_reason == "tool_calls"
    assert streamed.choices[0].message.content == ""
    ask = {"tools": [NOTE_TOOL], "tool_choice": "required", "parallel_tool_calls": False, "max_tokens": 400,
           "extra_body": NON_THINK}
    whole = _ask(client, folder, [QUESTION], **ask)
    streamed, deltas = _streamed(client, folder, [QUESTION], **ask)
    (call,) = streamed.choices[0].message.tool_calls
    assert json.loads(call.function.arguments) == {"text": NOTE}
    assert _calls(streamed.choices[0].message) == _calls(whole.choices[0].message)
    pieces = [t.function.arguments for d in deltas for t in d.tool_calls or [] if t.function.arguments]
    assert len(pieces) > 10 and "".join(pieces) == call.function.arguments


def test_a_stop_string_or_id_does_not_turn_a_call_into_text(client, folder):
    """A reply a stop ends after a whole call but before its `</tool_call>` (hermes agents send that stop) is the
    call, as vLLM's hermes parser reads it: it came back as the raw block in `content`, finish "stop". A forced
    reply ignores stops, which could only cut its calls (`stop: ["\\n"]` left `<tool_call>` as the content)."""
    closing = [ChatCodec.from_folder(folder).token_id("</tool_call>")]
    for stop in ({"stop": ["</tool_call>"]}, {"extra_body": {**NON_THINK, "stop_token_ids": closing}}):
        ask = {"extra_body": NON_THINK, **stop}
        whole = _ask(client, folder, [QUESTION], **ask)
        choice = whole.choices[0]
        assert (choice.finish_reason, choice.message.content) == ("tool_calls", "Let me check."), (stop, choice)
        assert [(n, json.loads(a)) for _, n, a in _calls(choice.message)] == [("get_weather", {"city": "Seoul"})]
        streamed, deltas = _streamed(client, folder, [QUESTION], **ask)  # no raw block after the call's deltas
        assert _calls(streamed.choices[0].message) == _calls(choice.message)
        assert (streamed.choices[0].message.content, streamed.choices[0].finish_reason) == ("Let me check.",
                                                                                            "tool_calls")
    named = {"type": "function", "function": {"name": "get_weather"}}
    for choice in ("required", named):
        free = _ask(client, folder, [QUESTION], tool_choice=choice, extra_body=NON_THINK)
        for stop in (["\n"], ["</tool_call>"], ['"']):
            reply = _ask(client, folder, [QUESTION], tool_choice=choice, stop=stop, extra_body=NON_THINK)
            assert reply.choices[0].finish_reason == "tool_calls" and reply.choices[0].message.content is None
            assert _calls(reply.choices[0].message) == _calls(free.choices[0].message), (choice, stop)
            streamed, _ = _streamed(client, folder, [QUESTION], tool_choice=choice, stop=stop, extra_body=NON_THINK)
            assert _calls(streamed.choices[0].message) == _calls(free.choices[0].message) != []
