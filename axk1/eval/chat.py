"""Chat prompts for local backends: the folder's own chat template when it has one, with A.X K1's thinking switch.

A.X K1 is told to think by a prompt that ends with `<think>` and not to think by one that ends with `</think>`
(the template flag is `enable_thinking`). Templates that ignore the flag get the suffix appended, so the switch
holds for any model folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from axk1.eval.reasoning import THINK_CLOSE, THINK_OPEN
from axk1.json_text import JsonError, read_json_file
from axk1.text.chat_template import render_template


@dataclass
class ChatPrompt:
    text: str
    think_open: bool  # the prompt ends inside a think block: the raw output starts with thinking
    template: str  # where the template came from ("tokenizer_config.json", "transformers", "fallback")


def fallback_template(messages: list[dict]) -> str:
    """Used when a folder ships no chat template (e.g. a freshly trained tiny model): plain role-tagged turns."""
    parts = [f"<|{m['role']}|>\n{m['content']}\n" for m in messages]
    return "".join(parts) + "<|assistant|>\n"


def apply_thinking(rendered: str, thinking: bool | None) -> tuple[str, bool]:
    """Make the prompt end with `<think>` (on) or `</think>` (off); None leaves the template's default."""
    tail = rendered.rstrip()
    if thinking is True and not tail.endswith(THINK_OPEN):
        rendered = rendered + THINK_OPEN + "\n"
    elif thinking is False and not tail.endswith(THINK_CLOSE):
        rendered = rendered + (THINK_OPEN if not tail.endswith(THINK_OPEN) else "") + THINK_CLOSE + "\n"
    return rendered, rendered.rstrip().endswith(THINK_OPEN)


def load_folder_template(model_dir: Path) -> tuple[str | None, dict]:
    """(chat_template or None, special tokens) from tokenizer_config.json / chat_template.jinja if present."""
    config_path = model_dir / "tokenizer_config.json"
    try:
        config = read_json_file(config_path) if config_path.exists() else {}
    except JsonError as e:
        raise ValueError(f"{config_path} is not valid JSON ({e}): fix it or delete it (it is optional)") from None
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} must be a JSON object, got {type(config).__name__}: fix it or delete it")
    template = config.get("chat_template")
    jinja_file = model_dir / "chat_template.jinja"
    if template is None and jinja_file.exists():
        template = jinja_file.read_text()
    if isinstance(template, list):  # [{"name": "default", "template": ...}, ...]
        template = next((t["template"] for t in template if t.get("name") == "default"), template[0]["template"])

    def token(name):
        value = config.get(name)
        return value.get("content") if isinstance(value, dict) else value or ""

    return template, {"bos_token": token("bos_token"), "eos_token": token("eos_token")}


def render(messages: list[dict], template: str | None, special: dict, thinking: bool | None) -> ChatPrompt:
    if template is None:
        text, source = fallback_template(messages), "fallback"
    else:
        kwargs = {} if thinking is None else {"enable_thinking": thinking}
        text = render_template(template, {"messages": messages, "add_generation_prompt": True, **special, **kwargs})
        source = "tokenizer_config.json"
    text, think_open = apply_thinking(text, thinking)
    return ChatPrompt(text, think_open, source)
