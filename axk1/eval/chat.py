"""Chat prompts for evaluation, with A.X K1's thinking switch.

A local model folder's prompts are the ones `axk1 serve`, SFT and RL build (ChatCodec: the folder's template, found
where transformers finds it, or axk1's default), so a model is scored on the format it was trained on.
A.X K1 is told to think by a prompt that ends with `<think>` and not to think by one that ends with `</think>`
(the template flag is `enable_thinking`). A prompt that does not end so gets the ending of axk1's format
(text/think_prompt.py: `<think>`, or the empty block `<think>\n\n</think>`), so the switch holds for any model
folder; for a template that ignores the flag this is the prompt SFT trained and RL sampled from.
"""

from __future__ import annotations

from dataclasses import dataclass

from axk1.infer.chat import ChatCodec
from axk1.text.chat_template import CHAT_TEMPLATE, render_template
from axk1.text.think_prompt import in_mode
from axk1.text.tokenizer_file import THINK_OPEN


@dataclass
class ChatPrompt:
    text: str
    think_open: bool  # the prompt ends inside a think block: the raw output starts with thinking
    template: str  # where the template came from ("the folder", "axk1's default", "transformers")


def thinking_kwargs(thinking: bool | None) -> dict:
    return {} if thinking is None else {"enable_thinking": thinking}


def default_template(messages: list[dict], thinking: bool | None) -> str:
    """axk1's template (what `axk1 export` writes and SFT trains on), for a model that ships none."""
    return render_template(CHAT_TEMPLATE, {"messages": messages, "add_generation_prompt": True,
                                           **thinking_kwargs(thinking)})


def apply_thinking(rendered: str, thinking: bool | None) -> tuple[str, bool]:
    """Make the prompt end with `<think>` (on) or `</think>` (off), as axk1's format ends it; None leaves the
    template's default."""
    if thinking is not None:
        rendered = in_mode(rendered, thinking)
    return rendered, rendered.rstrip().endswith(THINK_OPEN)


def render(codec: ChatCodec, messages: list[dict], thinking: bool | None) -> ChatPrompt:
    text = codec.render(messages) if thinking is None else codec.mode_prompt(messages, thinking)
    text, think_open = apply_thinking(text, thinking)
    return ChatPrompt(text, think_open, codec.template_source)
