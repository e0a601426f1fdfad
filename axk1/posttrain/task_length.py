"""Whether a task's prompt fits the model's context with the tokens generated after it, checked when the task file
is read (tasks.read_tasks), so one over-long row stops RL, its --dry-run and `posttrain heldout` before they start,
named by path:line and task id, instead of killing a run at the iteration that first draws it.

A row that does not fit is refused, not dropped: a task file is the run's definition (its digest guards --resume),
and every other unusable row is refused the same way (docs/posttraining.md, "Task files").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from axk1.posttrain.chat_data import max_chars_for, prompt_text

# Tokens a tokenizer may add beyond one per UTF-8 byte (a SentencePiece prefix space, say): the cheap bound below
# stays an upper bound with it.
SLACK = 8


def render(codec, prompt: str, thinking: bool) -> str:
    """The prompt RL and held-out evaluation send: the user turn in the folder's chat template, in one mode."""
    return prompt_text(codec, [{"role": "user", "content": prompt}], thinking)


def prompt_ids(codec, prompt: str, thinking: bool) -> list[int]:
    return codec.encode(render(codec, prompt, thinking), add_special_tokens=False)


def longest_prompt_ids(codec, prompts: list[str], modes: list[str] | tuple[str, ...], candidates: int = 64
                       ) -> list[int]:
    """The token ids of the longest prompt rendered from `prompts` in any of `modes`: the `candidates` longest by
    characters, rendered and encoded (every prompt's would take minutes for a million)."""
    longest = sorted(prompts, key=len)[-candidates:]
    return max((prompt_ids(codec, p, m == "think") for p in longest for m in modes), key=len, default=[])


@dataclass
class PromptBudget:
    """The room a prompt has: `context` tokens less `max_new_tokens`, in each of `modes`. `knob` names the setting
    of max_new_tokens in messages ("[rl] max_new_tokens"); `context_name` what the context is, for the messages, and
    `longer` the way to a longer one: RL's is the training length (max_position_embeddings: it trains on its
    rollouts, and YaRN's extended length was never trained), heldout's the model's context (ModelConfig
    .context_length, what generation takes, YaRN's included)."""
    codec: object
    modes: tuple[str, ...]
    max_new_tokens: int
    context: int
    knob: str
    context_name: str = "the model's context"
    longer: str = "use a model with a longer context"
    frame: int = field(init=False)  # UTF-8 bytes of the template around an empty prompt, the longest mode's
    max_chars: int = field(init=False)  # characters past which a prompt cannot fit, whatever it holds

    def __post_init__(self) -> None:
        self.modes = tuple(self.modes)
        self.frame = max(len(render(self.codec, "", m == "think").encode("utf-8")) for m in self.modes)
        empty = max(len(prompt_ids(self.codec, "", m == "think")) for m in self.modes)
        if empty + self.max_new_tokens > self.context:  # no prompt at all could fit: one error, not one per row
            raise ValueError(f"{self.knob} = {self.max_new_tokens:,} does not fit {self.context_name} of "
                             f"{self.context:,} tokens after even an empty prompt "
                             f"({empty} tokens of chat template): lower {self.knob} to at most "
                             f"{self.context - empty:,}, or {self.longer}")
        self.max_chars = max_chars_for(self.codec, self.context - self.max_new_tokens)  # once: the vocabulary is large

    def problem(self, prompt: str) -> str | None:
        """None when the prompt fits in every mode, else what is wrong and the ways out."""
        # every token covers at least one byte of the text (byte-level BPE; SentencePiece's byte fallback), so a
        # prompt this short fits without being rendered or encoded: the usual file is checked at reading speed
        if len(prompt.encode("utf-8", "surrogatepass")) + self.frame + SLACK + self.max_new_tokens <= self.context:
            return None
        # and one this long cannot fit, whatever the template adds: refused at reading speed too, where encoding a
        # 50 MB prompt took two minutes and 6.5 GB only to say so
        if len(prompt) > self.max_chars:
            return (f"the prompt has {len(prompt):,} characters, more than the {self.context - self.max_new_tokens:,} "
                    f"tokens left by {self.knob} = {self.max_new_tokens:,} in {self.context_name} of "
                    f"{self.context:,} tokens can hold: drop or shorten the row, or {self.longer}")
        for mode in self.modes:
            n = len(prompt_ids(self.codec, prompt, mode == "think"))
            if n + self.max_new_tokens > self.context:
                lower = f"lower {self.knob} to at most {self.context - n:,}, " if n < self.context else ""
                return (f"the prompt is {n:,} tokens in {mode} mode, and with {self.knob} = {self.max_new_tokens:,} "
                        f"it needs {n + self.max_new_tokens:,} > {self.context_name} of {self.context:,} tokens: "
                        f"drop or shorten the row, {lower}or {self.longer}")
        return None
