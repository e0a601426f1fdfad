"""axk1's one chat template (ChatML with a think block) and the one way to render a chat template.

Think mode: the generation prompt ends with `<think>`, so the model writes its reasoning, `</think>`, then the
answer. Non-think mode (`enable_thinking=False`): the prompt ends with an empty think block, so the model answers
at once. Assistant turns from the history carry no reasoning (dropped, as DeepSeek-style templates do). Written into
every model folder axk1 makes (tokenizer_config.json and chat_template.jinja); a folder's own template (the released
A.X K1's) is used where it has one.
"""

from __future__ import annotations

import json
from typing import Any

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{%- if enable_thinking is defined and not enable_thinking -%}"
    "{{ '<|im_start|>assistant\\n<think>\\n\\n</think>' }}"
    "{%- else -%}"
    "{{ '<|im_start|>assistant\\n<think>' }}"
    "{%- endif -%}"
    "{%- endif -%}"
)


def render_template(template: str, variables: dict[str, Any]) -> str:
    """A chat template rendered as transformers renders it (jinja2, trim_blocks and lstrip_blocks, `tojson`,
    `raise_exception`), in jinja2's immutable sandbox: a model folder's template is untrusted text."""
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
    try:
        return env.from_string(template).render(variables)  # a dict, not **: a variable named "self" is no clash
    except TemplateError as e:
        raise ValueError(f"the chat template failed on these messages: {e}") from e
