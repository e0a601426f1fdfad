"""How a generation prompt says which mode to answer in: the one rule SFT, RL, `axk1 posttrain heldout` and
`axk1 eval` follow (infer/chat.py's ChatCodec.mode_prompt), so a turn is trained on the prompt that RL samples
from and eval scores with.

axk1's format (its template, axk1/text/chat_template.py): a think-mode generation prompt ends with `<think>`, a
non-think one with the empty block `<think>\n\n</think>`; RL's format reward (posttrain/rewards.py) and SFT's
completions (posttrain/chat_data.py) are written for prompts that end so. The template renders the prompt with
`enable_thinking`, and `in_mode` ends it as the format does where it does not already: a no-op for axk1's template,
the whole switch for one that does not read the flag (plain ChatML, a Qwen2.5-style base), which renders one
prompt for both modes. Before, each had its own rule for such a template: SFT trained the think block as part of
the answer, eval appended `<think></think>\n`, and RL and heldout gave both modes the same prompt.

A server renders the template as it is (`axk1 serve`, vLLM), so a model trained on a template whose own prompts do
not end so (one that does not read the flag, or Qwen3's style, whose think prompt opens no block) is prompted there
otherwise than it was trained: `axk1 sft` and `axk1 rl` warn (`no_switch_warning`, `ChatCodec.ends_prompts_itself`).
"""

from __future__ import annotations

from axk1.text.tokenizer_file import THINK_CLOSE, THINK_OPEN

EMPTY_BLOCK = f"{THINK_OPEN}\n\n{THINK_CLOSE}"  # how axk1's template writes the non-think block


def in_mode(prompt: str, thinking: bool) -> str:
    """`prompt` ending as axk1's format ends a generation prompt in the mode: with `<think>` (think) or the empty
    think block (non-think). A prompt that already ends so is returned as it is; one that ends inside an open
    block (DeepSeek-R1's template always opens one) is closed, without a second `<think>`."""
    tail = prompt.rstrip()
    if thinking:
        return prompt if tail.endswith(THINK_OPEN) else prompt + THINK_OPEN
    if tail.endswith(THINK_CLOSE):
        return prompt
    if tail.endswith(THINK_OPEN):
        return tail + EMPTY_BLOCK[len(THINK_OPEN):]
    return prompt + EMPTY_BLOCK


def no_switch_warning(template_file: str) -> str:
    """What `axk1 sft` and `axk1 rl` say of a template whose own generation prompts do not end as axk1's format
    ends them (ChatCodec.ends_prompts_itself): one that ignores enable_thinking, or opens no block in think mode."""
    return (f"the chat template ({template_file}) does not end its generation prompts as axk1's format does (think: "
            f"{THINK_OPEN!r}, non-think: {EMPTY_BLOCK!r}; it ignores enable_thinking, or opens no think block): "
            "axk1 sft, rl, eval and posttrain heldout end each prompt so, but a server that renders this template "
            "(axk1 serve, vLLM) will not, so the trained model will not be prompted there as it was trained: serve "
            "it with axk1's own template (axk1/text/chat_template.py), which renders these same prompts")
