"""`axk1 serve` driven only by the official openai client, as users and tools drive it: streamed replies against
non-streamed ones (text, finish reasons, usage), n > 1, think mode cut short, stop strings, many clients at once,
a client that closes its stream, and the errors the client raises."""

import threading
import time

import openai
import pytest

from tests.serve_helpers import ServerProcess, make_model_folder

MAX_BATCH = 8


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("openai") / "axk1-tiny-chat")


@pytest.fixture(scope="module")
def server(folder):
    with ServerProcess(folder, "--max-batch", str(MAX_BATCH)) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base + "/v1", api_key="unused", timeout=60, max_retries=0)


def _settled(server, seconds=20):
    """The metrics once nothing runs or waits (the engine ends an aborted choice at its next step)."""
    deadline = time.monotonic() + seconds
    while True:
        m = server.metrics()
        if (m["axk1_num_requests_running"] == 0 and m["axk1_num_requests_waiting"] == 0) or time.monotonic() > deadline:
            return m


def _streamed_chat(client, **kwargs):
    """{index: [reasoning, content, finish_reason]} and the usage chunk of a streamed chat completion."""
    choices, usage, after_usage = {}, None, 0
    for chunk in client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True}):
        if usage is not None:
            after_usage += 1
        if chunk.usage is not None:
            usage = chunk.usage
            assert chunk.choices == []
        for c in chunk.choices:
            entry = choices.setdefault(c.index, ["", "", None])
            entry[0] += getattr(c.delta, "reasoning_content", None) or ""
            entry[1] += c.delta.content or ""
            assert entry[2] is None  # nothing after a choice's finish
            entry[2] = c.finish_reason
    assert usage is not None and after_usage == 0  # the usage chunk is the last one
    return choices, usage


def test_n_choices_streamed_equal_non_streamed_with_per_choice_finish_and_usage(client, folder):
    base = dict(model=folder.name, messages=[{"role": "user", "content": "서울은 어떤 도시인가요?"}],
                max_tokens=24, temperature=1.0, seed=11, n=4,
                extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    whole = client.chat.completions.create(**base)
    first = whole.choices[0].message.content
    stop = first[3:5]  # met by choice 0; the others may or may not meet it
    whole = client.chat.completions.create(**base, stop=[stop])
    streamed, usage = _streamed_chat(client, **base, stop=[stop])
    assert [c.index for c in whole.choices] == [0, 1, 2, 3] and sorted(streamed) == [0, 1, 2, 3]
    for c in whole.choices:
        assert streamed[c.index] == ["", c.message.content, c.finish_reason]
        assert c.message.reasoning_content is None and stop not in c.message.content
    assert whole.choices[0].finish_reason == "stop" and whole.choices[0].message.content == first[:first.find(stop)]
    assert {c.finish_reason for c in whole.choices} <= {"stop", "length"}
    assert (usage.prompt_tokens, usage.completion_tokens) == (whole.usage.prompt_tokens, whole.usage.completion_tokens)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    again = client.chat.completions.create(**base, stop=[stop])  # a seed repeats the same choices
    assert [c.message.content for c in again.choices] == [c.message.content for c in whole.choices]


def test_a_reply_cut_inside_its_think_block_is_all_reasoning(client, folder):
    kwargs = dict(model=folder.name, messages=[{"role": "user", "content": "Two plus two?"}], max_completion_tokens=5,
                  temperature=0, extra_body={"chat_template_kwargs": {"enable_thinking": True}, "ignore_eos": True})
    whole = client.chat.completions.create(**kwargs)
    choice = whole.choices[0]
    assert choice.finish_reason == "length" and whole.usage.completion_tokens == 5
    assert "</think>" not in choice.message.reasoning_content and choice.message.content is None
    streamed, usage = _streamed_chat(client, **kwargs)
    assert streamed == {0: [choice.message.reasoning_content, "", "length"]} and usage.completion_tokens == 5


def test_stop_strings_ending_in_a_korean_syllable_are_never_sent_in_part(client, folder):
    kwargs = dict(model=folder.name, prompt="Seoul", max_tokens=40, temperature=0, extra_body={"ignore_eos": True})
    text = client.completions.create(**kwargs).choices[0].text
    syllables = [i for i, ch in enumerate(text) if i and "\uac00" <= ch <= "\ud7a3"]
    assert len(syllables) >= 3, text  # the tiny model's greedy reply holds Hangul (3 bytes each, often 3 tokens)
    for k in syllables:
        stop = text[k - 1: k + 1]
        cut = client.completions.create(**kwargs, stop=stop).choices[0]
        streamed = "".join(c.choices[0].text for c in client.completions.create(**kwargs, stop=stop, stream=True))
        assert cut.finish_reason == "stop" and cut.text == streamed == text[: text.find(stop)], stop


def test_32_clients_streaming_at_once_all_get_their_text_and_nothing_leaks(server, client, folder):
    prompts = [f"Seoul {i} is" for i in range(32)]
    expected = [client.completions.create(model=folder.name, prompt=p, max_tokens=12, temperature=0) for p in prompts]
    got, failures = {}, []

    def stream(i):
        try:
            text, finish, usage = "", None, None
            for chunk in client.completions.create(model=folder.name, prompt=prompts[i], max_tokens=12, temperature=0,
                                                   stream=True, stream_options={"include_usage": True}):
                usage = chunk.usage or usage
                for c in chunk.choices:
                    text, finish = text + c.text, c.finish_reason or finish
            got[i] = (text, finish, usage.completion_tokens)
        except Exception as e:  # reported below, with the others
            failures.append(f"{i}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    assert got == {i: (r.choices[0].text, r.choices[0].finish_reason, r.usage.completion_tokens)
                   for i, r in enumerate(expected)}
    m = _settled(server)
    assert m["axk1_cache_used_bytes"] == 0 and m["axk1_engine_errors_total"] == 0


def test_closing_a_stream_aborts_the_choice_and_frees_its_cache(server, client, folder):
    before = _settled(server)
    stream = client.chat.completions.create(model=folder.name, messages=[{"role": "user", "content": "hi"}],
                                            max_tokens=900, temperature=0, stream=True, extra_body={"ignore_eos": True})
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    deadline = time.monotonic() + 20
    while server.metrics()["axk1_requests_aborted_total"] == before["axk1_requests_aborted_total"]:
        assert time.monotonic() < deadline, "the closed stream's choice was not aborted"
        time.sleep(0.05)
    m = _settled(server)
    assert m["axk1_requests_aborted_total"] == before["axk1_requests_aborted_total"] + 1
    assert m["axk1_cache_used_bytes"] == 0
    assert m["axk1_generation_tokens_total"] - before["axk1_generation_tokens_total"] < 900


def test_the_client_raises_useful_errors(client, folder):
    assert [m.id for m in client.models.list().data] == [folder.name]
    assert client.models.retrieve(folder.name).id == folder.name
    with pytest.raises(openai.NotFoundError, match="does not exist") as e:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 404 and e.value.body["param"] == "model"
    refused = [({"echo": True}, "echo"), ({"suffix": "x"}, "suffix"), ({"logprobs": 21}, "logprobs"),
               ({"extra_body": {"min_p": 0.1}}, "min_p"), ({"max_tokens": 5000}, "max_tokens")]
    for fields, param in refused:
        with pytest.raises(openai.BadRequestError) as e:
            client.completions.create(model=folder.name, prompt="hi", **fields)
        assert e.value.status_code == 400 and e.value.body["param"] == param and param in e.value.message
    with pytest.raises(openai.BadRequestError, match="top_logprobs") as e:
        client.chat.completions.create(model=folder.name, messages=[{"role": "user", "content": "hi"}], top_logprobs=3)
    with pytest.raises(openai.BadRequestError, match="max_completion_tokens"):
        client.chat.completions.create(model=folder.name, messages=[{"role": "user", "content": "hi"}],
                                       max_completion_tokens=10**6)


def test_continuous_usage_stats_put_the_usage_so_far_in_every_chunk(client, folder):
    """vLLM's stream_options.continuous_usage_stats: each chunk carries the usage so far (it was ignored: None)."""
    kwargs = dict(model=folder.name, prompt="Seoul", max_tokens=10, temperature=0, extra_body={"ignore_eos": True})
    whole = client.completions.create(**kwargs).usage
    chunks = list(client.completions.create(**kwargs, stream=True,
                                            stream_options={"include_usage": True, "continuous_usage_stats": True}))
    counts = [c.usage.completion_tokens for c in chunks]
    assert all(c.usage.prompt_tokens == whole.prompt_tokens for c in chunks)
    assert counts == sorted(counts) and counts[-1] == whole.completion_tokens == 10
    assert chunks[-1].choices == [] and chunks[0].usage.completion_tokens >= 1


def test_a_stop_string_met_is_a_finish_not_an_abort_in_the_metrics(server, client, folder):
    """A choice ended by its stop string was counted in axk1_requests_aborted_total, which is for clients that left."""
    kwargs = dict(model=folder.name, prompt="Seoul", max_tokens=20, temperature=0, extra_body={"ignore_eos": True})
    text = client.completions.create(**kwargs).choices[0].text
    before = _settled(server)
    stopped = client.completions.create(**kwargs, stop=text[6:9])
    streamed = list(client.completions.create(**kwargs, stop=text[6:9], stream=True))
    assert stopped.choices[0].finish_reason == streamed[-1].choices[0].finish_reason == "stop"
    m = _settled(server)
    assert m["axk1_requests_aborted_total"] == before["axk1_requests_aborted_total"]
    finished = 'axk1_request_success_total{finished_reason="%s"}'
    assert m[finished % "stop"] == before.get(finished % "stop", 0) + 2
    assert m[finished % "length"] >= 1 and m["axk1_cache_used_bytes"] == 0
