"""The batching engine and the text side of replies, in process."""

import queue
import socket
import time

import pytest
import torch

import axk1
from axk1.infer.chat import ChatCodec, prompt_opens_reasoning
from tests.reasoning_reference import split_reasoning_streamed
from axk1.infer.detok import IncrementalText
from axk1.infer.engine import Engine, SamplingParams
from axk1.infer.generate import generate
from axk1.infer.sequence import RequestGroups
from axk1.infer.engine_config import EngineConfig
from tests.serve_helpers import make_model_folder


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return axk1.AXK1ForCausalLM(axk1.ModelConfig.from_preset("axk1-tiny")).eval()


def _collect(events, sequences, timeout=30):
    tokens = {s.id: [] for s in sequences}
    finished = {}
    deadline = time.monotonic() + timeout
    while len(finished) < len(sequences):
        sid, token, reason, error = events.get(timeout=max(0.1, deadline - time.monotonic()))
        if sid not in tokens:
            continue  # a choice the caller is not asking about (e.g. one it aborted)
        if token is None:
            finished[sid] = (reason, error)
        else:
            tokens[sid].append(token)
    return tokens, finished


def test_rows_admitted_at_different_times_equal_generation_alone(model):
    engine = Engine(model, EngineConfig(max_batch=4, max_model_len=64)).start()
    events = queue.Queue()
    sink = lambda s, token, reason, error: events.put((s.id, token, reason, error))
    prompts = [[1, 7, 9, 22, 5], [1, 300], [1, 42, 50, 60, 70, 80, 90, 100, 11], [1, 5, 5]]
    sequences = []
    try:
        for i, p in enumerate(prompts):  # 5 choices for 4 rows: the last request waits for a free row
            n = 2 if i == 0 else 1
            sequences += engine.submit(p, SamplingParams(max_tokens=6 + 2 * i, temperature=0.0, stop_ids=frozenset()),
                                       sink, n=n)
            time.sleep(0.02)
        tokens, finished = _collect(events, sequences)
    finally:
        engine.stop()
    for s in sequences:
        assert tokens[s.id] == generate(model, [s.prompt], max_new_tokens=s.params.max_tokens, stop_ids=[]).tokens[0]
        assert finished[s.id] == ("length", None)
    assert engine.stats.decode_rows > engine.stats.decode_steps  # rows shared steps
    assert engine.num_running == 0 and engine.num_waiting == 0


def test_abort_frees_a_middle_row_and_the_others_are_unchanged(model):
    engine = Engine(model, EngineConfig(max_batch=3, max_model_len=64))  # stepped by hand: no thread, exact control
    events = queue.Queue()
    sink = lambda s, token, reason, error: events.put((s.id, token, reason, error))
    params = SamplingParams(max_tokens=12, temperature=0.0, stop_ids=frozenset())
    a, b, c = (engine.submit(p, params, sink)[0] for p in ([1, 4, 8], [1, 9, 9, 9, 2], [1, 77]))
    engine.step()
    engine.step()
    assert [s.row for s in (a, b, c)] == [0, 1, 2]
    engine.abort([b])
    engine.step()
    assert engine.num_running == 2 and c.row == 1 and b.row == -1  # the last row moved into the hole
    late = engine.submit([1, 123, 45], params, sink)[0]  # ... and the freed row is reused
    while engine.num_running:
        engine.step()
    tokens, _ = _collect(events, [a, c, late])
    for s in (a, c, late):
        assert tokens[s.id] == generate(model, [s.prompt], max_new_tokens=12, stop_ids=[]).tokens[0]
    assert engine.stats.aborted == 1


def test_engine_rejects_what_it_cannot_serve(model):
    engine = Engine(model, EngineConfig(max_batch=2, max_model_len=32))
    ok = SamplingParams(max_tokens=4)
    with pytest.raises(ValueError, match="maximum context length is 32 tokens, but the prompt has 40"):
        engine.check_request([1] * 40, ok, 1)
    with pytest.raises(ValueError, match="at most 22 tokens"):
        engine.check_request([1] * 10, SamplingParams(max_tokens=30), 1)
    with pytest.raises(ValueError, match="n must be between 1 and 2"):
        engine.check_request([1, 2], ok, 3)
    with pytest.raises(ValueError, match="empty"):
        engine.check_request([], ok, 1)


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    return ChatCodec.from_folder(make_model_folder(tmp_path_factory.mktemp("codec") / "m"))


def _feed(text: IncrementalText, ids):
    reasoning = content = ""
    for t in ids:
        d = text.push(t)
        reasoning, content = reasoning + d.reasoning, content + d.content
    d = text.finish()
    return reasoning + d.reasoning, content + d.content


def test_incremental_text_splits_reasoning_and_holds_back_partial_marks(codec):
    reply = "I think 2+2=4.</think>The answer is 4. 서울"
    ids = codec.encode(reply, add_special_tokens=False)
    assert codec.token_id("</think>") in ids
    text = IncrementalText(codec, reasoning=True)
    reasoning, content = _feed(text, ids)
    assert (reasoning, content) == split_reasoning_streamed(reply) == ("I think 2+2=4.", "The answer is 4. 서울")
    # Byte by byte: a Korean syllable spans 3 byte tokens, and no delta may carry half of one.
    byte_ids = [codec.token_id(ch) for ch in codec.tokenizer.pre_tokenizer.pre_tokenize_str("서울")[0][0]]
    assert None not in byte_ids
    text = IncrementalText(codec)
    deltas = [text.push(t).content for t in byte_ids]
    assert "\ufffd" not in "".join(deltas) and "".join(deltas) + text.finish().content == "서울"


def test_incremental_text_stop_strings(codec):
    ids = codec.encode("Seoul is a large city on the Han river.")
    text = IncrementalText(codec, stop=["large c"])
    sent = ""
    for t in ids:
        sent += text.push(t).content
        assert "large" not in sent  # the start of a stop string is held back until it is decided
        if text.stopped:
            break
    assert text.stopped and sent + text.finish().content == "Seoul is a "
    assert IncrementalText(None).push(17).content == "17"  # token-id-only models: ids as text


@pytest.mark.parametrize("reply, reasoning", [
    ("<think>reason\n</think>\n\nanswer", "reason\n"), ("\n<think>r</think>a", "r"), ("<think></think>a", ""),
    ("<think>still thinking", "still thinking"),
    ("<thinking is not the tag</think>a", "<thinking is not the tag"), ("  r</think>a", "  r"), ("r <think>", "r <think>"),
])
def test_a_think_tag_the_reply_opens_again_is_not_reasoning(codec, reply, reasoning):
    """The prompt opened the think block and the model wrote `<think>` again: the reasoning began with the literal
    tag in `axk1 serve`'s replies while evaluation dropped it; vLLM's DeepSeek-R1 parser drops it too. One rule now
    (text/reasoning.py), streamed token by token and byte by byte (the tag arriving in pieces) and not streamed."""
    from axk1.infer.choice_fields import choice_text
    from axk1.text.reasoning import split_reasoning

    pieces = [ch for word, _ in codec.tokenizer.pre_tokenizer.pre_tokenize_str(reply) for ch in word]
    for ids in (codec.encode(reply, add_special_tokens=False), [codec.token_id(ch) for ch in pieces]):
        assert None not in ids
        text = IncrementalText(codec, reasoning=True)
        streamed = _feed(text, ids)
        message = choice_text(text, True)["message"]
        assert streamed == split_reasoning_streamed(reply) == (reasoning, reply.partition("</think>")[2])
        assert (message["reasoning_content"], message["content"] or "") == streamed
    assert split_reasoning(reply, think_open_in_prompt=True).reasoning == reasoning.strip()
    plain = IncrementalText(codec)  # outside a think block a reply's text is its content, as written
    assert _feed(plain, codec.encode(reply, add_special_tokens=False)) == ("", reply)


def _byte_tokens(codec, text):
    """`text` as one token per UTF-8 byte: a Korean syllable arrives in 3 pieces, as a model may emit it."""
    ids = [codec.token_id(ch) for ch in codec.tokenizer.pre_tokenizer.pre_tokenize_str(text)[0][0]]
    assert None not in ids
    return ids


@pytest.mark.parametrize("stop", ["서울", "서울은", "l 서울", "울"])
def test_a_stop_string_ending_in_a_split_syllable_sends_none_of_itself(codec, stop):
    """A stop string that ends inside a multi-byte character still being generated: its beginning must be held
    back too (it used to go out the moment the next character's first byte made the text end in U+FFFD)."""
    ids = codec.encode("Seoul ", add_special_tokens=False) + _byte_tokens(codec, "서울은")
    reference = codec.decode(ids)
    text = IncrementalText(codec, stop=[stop])
    sent = ""
    for t in ids:
        sent += text.push(t).content
        assert "\ufffd" not in sent
        if text.stopped:
            break
    sent += text.finish().content
    assert text.stopped and sent == text.content_text == reference[: reference.find(stop)]


@pytest.mark.parametrize("stop, want", [
    ("\ufffd", "J별시wo"), ("J\ufffd", None), ("o\ufffdp", "J별시w"), ("\ufffd\ufffd", None)])
def test_a_stop_string_with_u_fffd_meets_only_a_real_one(codec, stop, want):
    """While a character's bytes are still arriving the text ends in U+FFFD standing for it; a stop string with
    U+FFFD in it matched that stand-in and ended the reply at "J" (`axk1 serve`, "stop": ["\ufffd"]). Only the
    U+FFFD the reply really holds (here a lone continuation byte) may meet it; streamed deltas and the reply's
    text, which are built from the same deltas, must both be the whole decode up to that point."""
    lone = _byte_tokens(codec, "별")[1]  # a continuation byte with no lead byte: U+FFFD in the final text
    ids = (codec.encode("J", add_special_tokens=False) + _byte_tokens(codec, "별시")
           + codec.encode("wo", add_special_tokens=False) + [lone] + codec.encode("p cap", add_special_tokens=False))
    whole = codec.decode(ids)
    assert whole == "J별시wo\ufffdp cap"
    text = IncrementalText(codec, stop=[stop])
    sent = ""
    for t in ids:
        sent += text.push(t).content
        if text.stopped:
            break
    sent += text.finish().content
    assert (text.stopped, text.matched) == ((True, stop) if want is not None else (False, None))
    assert sent == text.content_text == (whole if want is None else want)


def test_a_stop_string_meets_the_u_fffd_of_a_character_the_reply_ends_inside(codec):
    """At the end of generation an unfinished character is U+FFFD in the final text too, so a stop string meets it
    there (as it would in the non-streamed decode of the reply)."""
    ids = codec.encode("ab", add_special_tokens=False) + _byte_tokens(codec, "별")[:2]
    assert codec.decode(ids) == "ab\ufffd"
    text = IncrementalText(codec, stop=["b\ufffd"])
    sent = "".join(text.push(t).content for t in ids)
    assert not text.stopped and sent == "a"
    sent += text.finish().content
    assert text.stopped and sent == text.content_text == "a"


def test_chat_template_thinking_switch(codec):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    on, off = codec.render(messages), codec.render(messages, enable_thinking=False)
    assert on.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n")
    assert prompt_opens_reasoning(on) and not prompt_opens_reasoning(off)
    assert off.rstrip().endswith("</think>")
    with pytest.raises(ValueError, match="text message parts"):
        codec.render([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])


def test_serve_and_synth_commands_fail_clearly(tmp_path, capsys):
    from axk1.cli import main as serve_main
    from axk1.cli import main as synth_main

    assert serve_main(["serve", str(tmp_path / "missing")]) == 2
    assert f"{tmp_path / 'missing'} does not exist: give a model folder" in capsys.readouterr().err
    assert serve_main(["serve", str(tmp_path)]) == 2
    assert f"{tmp_path} has no config.json, so it is not a model folder" in capsys.readouterr().err
    docs = tmp_path / "d.jsonl"
    docs.write_text('{"text": "x"}\n')
    recipe = tmp_path.parent / "r.toml"
    assert synth_main(["data", "synth", str(docs), "--teacher", "http://x", "--recipe", str(recipe), "-o",
                       str(tmp_path / "o.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        serve_main(["serve", "--help"])
    assert e.value.code == 0 and "(default AXK1_API_KEY;" in " ".join(capsys.readouterr().out.split())


def test_serve_refuses_a_held_port_and_a_context_past_the_models(model, tmp_path, capsys):
    """A port another server holds ended `axk1 serve` after the model load with uvicorn's log line and exit status
    3; a --max-model-len past the model's context was served cut to the context without a word."""
    from axk1.cli import main

    folder = make_model_folder(tmp_path / "m")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert main(["serve", str(folder), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot serve on 127.0.0.1:{port}: another process is listening there" in err and "--port" in err
    context = model.config.max_position_embeddings
    with pytest.raises(ValueError, match=f"max_model_len {context + 1}: the model's context is {context} tokens"):
        Engine(model, EngineConfig(max_model_len=context + 1))
    assert Engine(model, EngineConfig(max_model_len=context)).max_model_len == context


class _CountingCodec:
    def __init__(self, codec):
        self.codec, self.decoded = codec, 0

    def decode(self, ids):
        self.decoded += len(ids)
        return self.codec.decode(ids)


@pytest.mark.parametrize("reasoning", [True, False])
def test_a_long_reply_costs_the_same_per_token_and_decodes_as_a_whole(codec, reasoning):
    """Each token decodes a short window, not the whole reply again: a 64K-token reasoning re-decoded at every token
    was quadratic (2.6 ms a token at 8,000 tokens, on the event loop). The text must still be the whole decode."""
    body = " ".join(["서울은 큰 도시입니다. The capital of Korea is Seoul."] * 100)
    reply = body + "</think>" + body if reasoning else body
    ids = codec.encode(reply, add_special_tokens=False)
    assert len(ids) > 1000
    counting = _CountingCodec(codec)
    text = IncrementalText(counting, stop=["never met", "서울은 작"], reasoning=reasoning)
    reasoning_text, content_text = _feed(text, ids)
    assert counting.decoded < 10 * len(ids)  # decoding the whole reply at each token: ~len(ids)**2 / 2
    whole = codec.decode(ids)
    assert (reasoning_text, content_text) == (split_reasoning_streamed(whole) if reasoning else ("", whole))
    assert (text.reasoning_text, text.content_text) == (reasoning_text, content_text)


def test_the_server_splits_a_reply_at_its_first_think_end(codec):
    """Token by token, as a stream must: the second `</think>` is content (evaluation, which sees the whole reply,
    splits at the last; axk1/text/reasoning.py says why)."""
    reply = "a plan</think>an answer</think>more"
    reasoning_text, content_text = _feed(IncrementalText(codec, stop=[], reasoning=True),
                                         codec.encode(reply, add_special_tokens=False))
    assert (reasoning_text, content_text) == split_reasoning_streamed(reply) == ("a plan", "an answer</think>more")


def test_a_choice_aborted_while_it_waits_for_a_row_leaves_the_queue_and_is_counted(model):
    """A client that leaves while its request is queued: its choices leave the queue at the next step (not when
    they reach its head) and are counted as aborted, as a running one is."""
    engine = Engine(model, EngineConfig(max_batch=1, max_model_len=64))  # stepped by hand
    sink = lambda *event: None
    params = SamplingParams(max_tokens=30, temperature=0.0, stop_ids=frozenset())
    running = engine.submit([1, 4, 8], params, sink)[0]
    engine.step()
    queued = [engine.submit([1, 9 + i], params, sink)[0] for i in range(3)]
    assert engine.num_running == 1 and engine.num_waiting == 3
    engine.abort(queued[1:])  # behind the queue's head
    engine.step()
    assert engine.num_running == 1 and engine.num_waiting == 1
    assert engine.stats.aborted == 2 and all(s.finished for s in queued[1:]) and not running.finished
    while engine.num_running or engine.num_waiting:
        engine.step()
    assert engine.stats.aborted == 2 and engine.stats.finished == 2 and engine.pool.num_held == 0


def test_time_to_first_token_is_counted_once_per_request(model):
    """axk1_time_to_first_token_seconds was counted per choice while request_duration_seconds is per request (a
    probe saw 547 against 267, and a TTFT sum above the sum of all durations). A request's TTFT is its first token
    of any choice, as vLLM counts it: a request of n=3 and one of two prompts count one each, a lone choice one."""
    engine = Engine(model, EngineConfig(max_batch=6, max_model_len=64))  # stepped by hand
    sink = lambda *event: None
    params = SamplingParams(max_tokens=3, temperature=0.0, stop_ids=frozenset())
    engine.submit([1, 4, 8], params, sink, n=3)
    shared = RequestGroups()  # one request of two prompts: their groups share it
    engine.submit([1, 9], params, sink, request=shared)
    engine.submit([1, 9, 9], params, sink, request=shared)
    engine.submit([1, 5], params, sink)
    while engine.num_running or engine.num_waiting:
        engine.step()
    assert engine.stats.finished == 6 and engine.stats.ttft_count == 3
    assert engine.stats.ttft_sum > 0


def test_text_offset_counts_the_u_fffd_of_invalid_bytes(codec):
    """A token's text_offset is where its text begins in the reply's text. The U+FFFDs of bytes already invalid
    (stray continuation bytes) were counted out as if they stood for an unfinished character, so every later
    offset came early (a probe's reply '<��w���U' had offsets [0,1,1,1,4,4], 'w' at 3 and 'U' at 7). Only the one
    U+FFFD of a character still being written is held: its next byte begins where the character does."""
    stray = _byte_tokens(codec, "별")[1:]  # two continuation bytes with no lead byte: two U+FFFDs, final
    lead = _byte_tokens(codec, "서")  # a 3-byte character in three tokens
    ids = codec.encode("<", add_special_tokens=False) + stray + codec.encode("w", add_special_tokens=False) + lead
    assert codec.decode(ids) == "<\ufffd\ufffdw서"
    text, offsets = IncrementalText(codec), []
    for t in ids:
        offsets.append(text.offset)
        text.push(t)
    assert offsets == [0, 1, 2, 3, 4, 4, 4]  # the character's 2nd and 3rd bytes begin where its first does
    text.finish()
    assert text.content_text == "<\ufffd\ufffdw서"
