"""`axk1 serve` as a drop-in for vLLM's server, driven by the official openai client: the field names and
extensions current vLLM clients send or read (reasoning, thinking switches, ...)."""

import openai
import pytest

from tests.serve_helpers import ServerProcess, make_model_folder

HI = [{"role": "user", "content": "Two plus two?"}]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("vllm") / "axk1-tiny-chat")


@pytest.fixture(scope="module")
def server(folder):
    with ServerProcess(folder) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base + "/v1", api_key="unused", timeout=60, max_retries=0)


def test_reasoning_comes_back_under_vllms_name_and_deepseeks(client, folder):
    """Current vLLM sends `reasoning` (it dropped `reasoning_content`): an app migrating from it read nothing."""
    kwargs = dict(model=folder.name, messages=HI, max_completion_tokens=6, temperature=0,
                  extra_body={"chat_template_kwargs": {"enable_thinking": True}, "ignore_eos": True})
    message = client.chat.completions.create(**kwargs).choices[0].message
    assert message.reasoning_content and message.model_extra["reasoning"] == message.reasoning_content
    streamed = {"reasoning": "", "reasoning_content": ""}
    for chunk in client.chat.completions.create(**kwargs, stream=True):
        for name in streamed:
            streamed[name] += (chunk.choices[0].delta.model_extra or {}).get(name) or ""
    assert streamed == {"reasoning": message.reasoning_content, "reasoning_content": message.reasoning_content}


@pytest.mark.parametrize("field", ["enable_thinking", "thinking"])
def test_a_top_level_thinking_switch_is_refused_naming_chat_template_kwargs(client, folder, field):
    """Qwen's / DashScope's spelling was ignored: the model thought although told not to."""
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=folder.name, messages=HI, max_tokens=2, extra_body={field: False})
    assert e.value.body["param"] == field and "chat_template_kwargs" in e.value.message
    assert "enable_thinking" in e.value.message


def test_enable_thinking_null_is_unset_so_the_model_thinks(client, folder):
    """The template tests `enable_thinking is defined and not enable_thinking`: a client forwarding an optional
    setting as None switched thinking off, where leaving it out thinks."""
    kwargs = dict(model=folder.name, messages=HI, max_completion_tokens=3, temperature=0, extra_body={"ignore_eos": True})
    omitted = client.chat.completions.create(**kwargs)
    null = client.chat.completions.create(**{**kwargs, "extra_body": {
        "ignore_eos": True, "chat_template_kwargs": {"enable_thinking": None}}})
    off = client.chat.completions.create(**{**kwargs, "extra_body": {
        "ignore_eos": True, "chat_template_kwargs": {"enable_thinking": False}}})
    assert omitted.choices[0].message.reasoning_content is not None and off.choices[0].message.reasoning_content is None
    assert null.usage.prompt_tokens == omitted.usage.prompt_tokens != off.usage.prompt_tokens
    assert null.choices[0].message == omitted.choices[0].message
