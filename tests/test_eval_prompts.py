"""`axk1 eval`'s native backend builds the prompts `axk1 serve`, SFT and RL build from a model folder (ChatCodec):
the template found where transformers finds it, axk1's default where a folder has none, and a folder's broken
tokenizer named as `axk1 generate` names it. Eval read tokenizer_config.json's template before chat_template.jinja
and fell back to `<|role|>` tags, so a freshly exported model was scored on a format it was never trained on."""

import json

import pytest

from axk1.cli import main
from axk1.eval.backends import NativeBackend
from axk1.infer.chat import ChatCodec
from tests.serve_helpers import make_model_folder

MESSAGES = [{"role": "user", "content": "2 더하기 2는?"}]
FROM_JINJA = "{% for m in messages %}[jinja {{ m['role'] }}] {{ m['content'] }}\n{% endfor %}<|im_start|>assistant\n"
FROM_CONFIG = "{% for m in messages %}[config {{ m['role'] }}] {{ m['content'] }}\n{% endfor %}<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("eval-prompts") / "model")


def test_the_prompt_is_the_one_serve_and_transformers_build(folder, tmp_path):
    from transformers import AutoTokenizer

    import shutil

    both = tmp_path / "both"
    shutil.copytree(folder, both)
    (both / "chat_template.jinja").write_text(FROM_JINJA)
    config = json.loads((both / "tokenizer_config.json").read_text())
    (both / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": FROM_CONFIG}))
    want = AutoTokenizer.from_pretrained(str(both)).apply_chat_template(MESSAGES, tokenize=False,
                                                                       add_generation_prompt=True)
    assert want.startswith("[jinja user]")  # transformers reads chat_template.jinja first
    prompt = NativeBackend(both).prompt(MESSAGES, thinking=None)
    assert prompt.text == want == ChatCodec.from_folder(both).render(MESSAGES) and prompt.template == "the folder"
    on = NativeBackend(both).prompt(MESSAGES, thinking=True)  # a template without the switch gets the suffix
    assert on.text == want + "<think>" and on.think_open  # (axk1's format: text/think_prompt.py)


def test_a_folder_without_a_template_gets_the_format_axk1_trains(folder, tmp_path):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(folder, bare)
    (bare / "chat_template.jinja").unlink()
    config = json.loads((bare / "tokenizer_config.json").read_text())
    config.pop("chat_template")
    (bare / "tokenizer_config.json").write_text(json.dumps(config))
    backend = NativeBackend(bare)
    for thinking, tail in ((True, "<|im_start|>assistant\n<think>"), (False, "<think>\n\n</think>")):
        prompt = backend.prompt(MESSAGES, thinking)
        assert prompt.text.startswith("<|im_start|>user\n2 더하기 2는?<|im_end|>\n") and tail in prompt.text
        assert prompt.think_open is thinking and prompt.template == "axk1's default"
    assert backend.describe()["chat_template"] == "axk1's default"


def test_a_broken_tokenizer_is_named_not_a_traceback(folder, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "tokenizer.json").write_text('{"model": {"type": "BPE", "vocab": {"a": "x"}}}')
    code = main(["eval", "--model", str(broken), "--tasks", "humaneval", "--limit", "1", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code != 0 and "tokenizer.json" in err and "Traceback" not in err
