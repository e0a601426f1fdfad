"""A reply's choice fields: its text or message (`choice_text`), and vLLM's additions beside OpenAI's fields, for
clients written against vLLM (agent-RL frameworks read them):

- `stop_reason`: the stop string or the request's stop token id that ended the choice; null when anything else
  did (the model's end of turn, the length limit, a tool call), as in vLLM. Streamed, in the choice's last chunk.
- with `return_token_ids: true`: `token_ids`, the ids the choice generated (the end-of-turn or stop id that ended
  it is not one, as usage does not count it; a matched stop string's tokens are, though their text is cut), and
  the prompt's ids: a chat's once, at the top of the reply (streamed: in the role chunks), a completion's in each
  choice (its prompts may differ; streamed: in the choice's first chunk). Streamed, each chunk carries the ids of
  the tokens since its choice's last chunk, so they add up to the whole reply's (a token whose text is held back,
  such as part of a Hangul syllable, rides with the chunk that sends its text, as its logprobs do).
- `error`: in a choice whose `finish_reason` is "error" (its structured output's matcher failed mid-reply: that
  choice alone ended, the request's other choices went on), {"message", "type", "code"} saying why, as an error
  body does. Streamed, in the choice's last chunk.
"""

from __future__ import annotations

from typing import Any

from axk1.infer.choices import Generation
from axk1.infer.detok import IncrementalText
from axk1.infer.tool_requests import tool_message


def stop_reason(gen: Generation, i: int, req: Any) -> str | int | None:
    reason = gen.stop_reasons[i]
    if isinstance(reason, int) and reason not in (req.stop_token_ids or ()):
        return None  # an end of turn (eos) the request did not ask for: vLLM's null
    return reason


def choice_fields(gen: Generation, i: int, req: Any, chat: bool, first: bool, final: bool) -> dict[str, Any]:
    """Choice i's vLLM fields in its next chunk, or its whole reply (`first` and `final` both)."""
    fields: dict[str, Any] = {"stop_reason": stop_reason(gen, i, req)} if final else {}
    if final and gen.errors[i] is not None:  # finish_reason "error": what ended this choice alone
        fields["error"] = {"message": gen.errors[i], "type": "server_error", "code": "structured_output_failed"}
    if req.return_token_ids:
        fields["token_ids"] = gen.take_token_ids(i)
        if first and not chat:
            fields["prompt_token_ids"] = gen.prompt_ids[i // gen.n]
    return fields


def choice_text(text: IncrementalText, chat: bool, tools: Any = None) -> dict[str, Any]:
    """A whole reply's choice: its text (a completion), or its message (a chat: content, reasoning, tool calls)."""
    if not chat:
        return {"text": text.content_text}
    content: str | None = text.content_text
    if text.in_reasoning_mode and not content:
        content = None  # the reply never left its think block
    reasoning = text.reasoning_text if text.in_reasoning_mode else None
    # `reasoning` is vLLM's current name, `reasoning_content` DeepSeek's and older vLLM's: clients read one of them
    message = {"role": "assistant", "content": content, "reasoning": reasoning, "reasoning_content": reasoning}
    return {"message": message if tools is None else {**message, **tool_message(tools, text.in_reasoning_mode)}}
