"""What `axk1 eval` sends an OpenAI-compatible server, and what keys its kept completions: what is sent is what
config.json says, and settings that cannot change a reply do not throw kept ones away."""

import json

import pytest

from tests.eval_fake_server import aime_file, fake_server, run_eval_cli


@pytest.fixture
def server():
    with fake_server() as found:
        yield found


@pytest.mark.parametrize("extra,flag", [
    ({"temperature": 0.0}, "--temperature"), ({"max_tokens": 10}, "--max-tokens"), ({"seed": 5}, "--seed"),
    ({"messages": []}, "the task writes the prompt"), ({"model": "x"}, "--served-model"), ({"n": 4}, "-n"),
    ({"chat_template_kwargs": {"enable_thinking": False}}, "--thinking on|off"),
    ({"chat_template_kwargs": [1]}, "must be a JSON object"),
])
def test_extra_body_may_not_override_what_axk1_sets(server, tmp_path, extra, flag):
    """--extra-body replaced the temperature, max_tokens, seed (one seed for every sample) and even the messages of
    every request while config.json and report.md kept the defaults."""
    base, handler = server
    with pytest.raises(ValueError, match="--extra-body") as e:
        run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl"),
                     "--extra-body", json.dumps(extra), "-o", str(tmp_path / "run"))
    assert flag in str(e.value)
    assert handler.calls == 0


def test_extra_body_is_merged_and_recorded(server, tmp_path):
    """A nested chat_template_kwargs replaced the enable_thinking that --thinking set; now the two are merged."""
    base, handler = server
    extra = {"chat_template_kwargs": {"thinking": True}, "repetition_penalty": 1.1}
    out = tmp_path / "run"
    run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl", 2), "--thinking", "on",
                 "-n", "2", "--extra-body", json.dumps(extra), "-o", str(out))
    assert len(handler.bodies) == 4
    for body in handler.bodies:
        assert body["chat_template_kwargs"] == {"thinking": True, "enable_thinking": True}
        assert body["repetition_penalty"] == 1.1 and body["temperature"] == 0.6 and body["max_tokens"] == 32768
    assert sorted(b["seed"] for b in handler.bodies) == [0, 0, 1, 1]
    config = json.loads((out / "config.json").read_text())
    assert config["backend"]["extra_body"] == extra and config["sampling"]["thinking"] is True
