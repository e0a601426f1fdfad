"""One generation prompt per mode for every path that builds one (axk1/text/think_prompt.py): SFT, RL's rollouts,
`axk1 posttrain heldout` and `axk1 eval`, also for a base whose chat template ignores `enable_thinking` (plain
ChatML, a Qwen2.5-style base). Such a template gave four formats: SFT trained `<think>\\n\\n</think>\\n\\n` as part
of a non-think answer, eval's off prompt ended `<think></think>\\n`, and RL and heldout prompted both modes alike."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

import axk1.posttrain.heldout as heldout
from axk1.eval.chat import apply_thinking, render
from axk1.infer.chat import ChatCodec
from axk1.infer.generate import GenerationResult
from axk1.posttrain.chat_data import load_chat_examples, render_examples
from axk1.posttrain.rl_rollout import sample_prompts
from axk1.posttrain.rl_recipe import parse_rl_recipe
from axk1.text.think_prompt import in_mode, no_switch_warning
from tests.serve_helpers import make_model_folder

# Qwen2.5's template's shape: ChatML, no think block, no enable_thinking
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
TASK = {"id": "t1", "kind": "math", "prompt": "What is 2+3?", "answer": 5, "tests": ""}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """(axk1's template, plain ChatML): one tokenizer, one model."""
    own = make_model_folder(tmp_path_factory.mktemp("think-prompt") / "own")
    chatml = own.parent / "chatml"
    shutil.copytree(own, chatml)
    (chatml / "chat_template.jinja").write_text(CHATML)
    config = json.loads((chatml / "tokenizer_config.json").read_text())
    (chatml / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": CHATML}))
    return own, chatml


def _turn(thinking: bool) -> list[dict]:
    answer = {"role": "assistant", "content": "5", **({"reasoning_content": "2 plus 3"} if thinking else {})}
    return [{"role": "user", "content": TASK["prompt"]}, answer]


def test_a_template_that_ignores_the_flag_gets_axk1s_format_on_every_path(folders, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    own, chatml = ChatCodec.from_folder(folders[0]), ChatCodec.from_folder(folders[1])
    assert chatml.render(_turn(False)[:1], enable_thinking=True) == chatml.render(_turn(False)[:1])  # no switch
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(TASK) + "\n")
    recipe = parse_rl_recipe({"model": {"init_from": str(folders[1]), "mtp_depth": 0},
                              "rl": {"tasks": [str(tasks)], "prompts_per_step": 2, "group_size": 2},
                              "run": {"out_dir": str(tmp_path / "rl")}}, tmp_path)
    trainer = SimpleNamespace(recipe=recipe, codec=chatml, tasks=[TASK])
    rl_prompts = {thinking: ids for _, thinking, ids in sample_prompts(trainer, 1, 0)}
    held: list = []

    def fake_generate(model, prompts, **kwargs):
        held.extend(prompts)
        return GenerationResult([[] for _ in prompts], ["length"] * len(prompts))

    monkeypatch.setattr(heldout, "generate", fake_generate)
    heldout.evaluate_heldout(folders[1], [TASK], modes=("think", "non-think"), max_new_tokens=1)
    tok = AutoTokenizer.from_pretrained(folders[1])
    prompts = {}
    for thinking in (True, False):
        ours = render_examples(chatml, _turn(thinking), "keep", 512)[0]
        # what is trained is what axk1's own template trains: the prompt ends in the mode, the answer follows
        assert ours.ids.tolist() == render_examples(own, _turn(thinking), "keep", 512)[0].ids.tolist()
        prompt = chatml.tokenizer.decode(ours.ids[:ours.n_prompt].tolist(), skip_special_tokens=False)
        completion = chatml.tokenizer.decode(ours.ids[ours.n_prompt:].tolist(), skip_special_tokens=False)
        assert prompt.endswith("<|im_start|>assistant\n" + ("<think>" if thinking else "<think>\n\n</think>"))
        assert completion == ("2 plus 3\n</think>\n\n5<|im_end|>" if thinking else "5<|im_end|>")
        # eval scores with that prompt, from axk1's codec and from transformers' rendering (its hf backend)
        evaluated = render(chatml, _turn(thinking)[:1], thinking)
        assert (evaluated.text, evaluated.think_open) == (prompt, thinking)
        by_transformers = tok.apply_chat_template(_turn(thinking)[:1], tokenize=False, add_generation_prompt=True,
                                                  enable_thinking=thinking)
        assert apply_thinking(by_transformers, thinking) == (prompt, thinking)
        # RL samples from it, and heldout measures on it
        assert rl_prompts[thinking] == held[0 if thinking else 1] == ours.ids[:ours.n_prompt].tolist()
        prompts[thinking] = prompt
    assert prompts[True] != prompts[False]


@pytest.mark.parametrize("prompt, thinking, want", [
    ("a\n", True, "a\n<think>"), ("a\n", False, "a\n<think>\n\n</think>"),
    ("a\n<think>", True, "a\n<think>"), ("a\n<think>\n\n</think>", False, "a\n<think>\n\n</think>"),
    # DeepSeek-R1's template always opens the block: closed, not opened twice
    ("a<think>\n", False, "a<think>\n\n</think>"), ("a<think>\n", True, "a<think>\n"),
    ("a<think>\n\n</think>\n\n", False, "a<think>\n\n</think>\n\n"),  # Qwen3's non-think prompt, as it is
])
def test_in_mode_ends_a_prompt_once(prompt, thinking, want):
    assert in_mode(prompt, thinking) == want == in_mode(want, thinking)


def test_sft_warns_of_a_template_that_does_not_switch(folders, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"messages": _turn(True)}) + "\n")
    own, chatml = ChatCodec.from_folder(folders[0]), ChatCodec.from_folder(folders[1])
    assert load_chat_examples([rows], own, "keep", 512)[1].warnings == []
    _, report = load_chat_examples([rows], chatml, "keep", 512)
    assert report.warnings == [no_switch_warning(chatml.template_file)] == report.to_dict()["warnings"]
    assert f"\nwarning: {no_switch_warning(chatml.template_file)}" in report.summary()
    assert "chat_template.jinja" in report.warnings[0] and "axk1 serve" in report.warnings[0]


# Qwen3's style: it reads enable_thinking, but its think prompt opens no block (the model writes `<think>` itself)
QWEN3_STYLE = CHATML.replace("{{ '<|im_start|>assistant\\n' }}",
                             "{{ '<|im_start|>assistant\\n' }}{% if enable_thinking is defined and not enable_thinking "
                             "%}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}")


def test_sft_warns_of_a_template_that_switches_but_opens_no_block_in_think_mode(folders, tmp_path):
    """The warning asked only whether the template's text names enable_thinking: a Qwen3-style template does, so
    SFT trained think turns after `assistant\\n<think>` while a server renders `assistant\\n`, without a word."""
    folder = tmp_path / "qwen3-style"
    shutil.copytree(folders[0], folder)
    (folder / "chat_template.jinja").write_text(QWEN3_STYLE)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": QWEN3_STYLE}))
    codec = ChatCodec.from_folder(folder)
    served = codec.render(_turn(True)[:1], enable_thinking=True)
    assert served.endswith("assistant\n") and codec.mode_prompt(_turn(True)[:1], True) == served + "<think>"
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"messages": _turn(True)}) + "\n")
    assert load_chat_examples([rows], codec, "keep", 512)[1].warnings == [no_switch_warning(codec.template_file)]
    assert ChatCodec.from_folder(folders[0]).ends_prompts_itself()  # axk1's own: nothing to say
