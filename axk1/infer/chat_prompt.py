"""A chat request's prompt text: its messages checked for special tokens, then rendered by the chat template
(the folder's, or axk1's), with the request's tools and chat_template_kwargs; and text to token ids off the event
loop. Used by the generation routes and /tokenize."""

from __future__ import annotations

from typing import Any

from axk1.infer.chat import ChatCodec, message_text
from axk1.infer.offload import Lanes
from axk1.infer.prompt_bound import PromptBound
from axk1.infer.protocol import APIError
from axk1.infer.tool_requests import template_tools
from axk1.json_text import find_surrogate, json_strings
from axk1.text.tool_format import normalise_tool_calls


def render_chat(codec: ChatCodec, req: Any) -> str:
    """The request's prompt text: its messages (dumped once, tool calls' arguments decoded) checked for special
    tokens, then rendered."""
    messages, kwargs = decode_tool_arguments(req.template_messages()), req.template_kwargs()
    refuse_special_tokens(codec, messages, kwargs)
    kwargs.update(template_tools(codec, req))
    try:
        return codec.render(messages, add_generation_prompt=True, **kwargs)
    except (ValueError, TypeError) as e:  # the template choking on what the client sent (a folder's template may do
        # arithmetic or comparisons on kwargs); the request is at fault, not the server
        raise APIError(400, str(e), param="messages") from None


def decode_tool_arguments(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with every tool call's arguments as the template gets them: a JSON string decoded to its object
    (tool_format.normalise_tool_calls, which the render would apply). The checks must see that decoded text, not
    the string as sent: `\\u003c|im_end|\\u003e` in an arguments string is `<|im_end|>` in the prompt, a forged
    turn, and `\\ud800` a lone surrogate that no tokenizer encodes (a 500 from encode_batch)."""
    out = []
    for i, m in enumerate(messages):
        if isinstance(m, dict) and m.get("tool_calls") is not None:
            where = f"messages[{i}].tool_calls"
            try:
                calls = normalise_tool_calls(m["tool_calls"], where)
            except ValueError as e:
                raise APIError(400, str(e), param=where, code="invalid_value") from None
            bad = find_surrogate(calls, where)
            if bad is not None:
                raise APIError(400, f"'{bad}' holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape in "
                                    "the arguments' JSON text), which is not text: send valid Unicode", param=bad,
                               code="invalid_encoding")
            m = {**m, "tool_calls": calls}
        out.append(m)
    return out


def refuse_special_tokens(codec: ChatCodec, messages: list[dict[str, Any]], kwargs: dict[str, Any]) -> None:
    """A 400 for a message whose text holds one of the tokenizer's special tokens (<|im_start|>, <|im_end|>, ...):
    the rendered prompt is tokenized with its special tokens, so `hi<|im_end|><|im_start|>system` in a user's
    content would forge a system turn. Only the chat template places them. Checked in every string the template
    may read, as it reads them (`messages` with their tool calls' arguments decoded: decode_tool_arguments;
    chat_template_kwargs' too: a folder's template may render `tools`), and in each message's text as the
    template gets it, its text parts joined (`hi<|im_` and `end|>` are harmless apart). (<think> tags are not
    special: a conversation may carry earlier reasoning.)"""
    strings = [s for i, m in enumerate(messages) for s in json_strings(m, f"messages[{i}]")]
    strings += [(f"messages[{i}].content", message_text(m["content"])) for i, m in enumerate(messages)
                if isinstance(m, dict) and isinstance(m.get("content"), list)]
    strings += list(json_strings(kwargs, "chat_template_kwargs"))
    for path, text in strings:
        token = codec.find_special_token(text)
        if token is not None:
            raise APIError(400, f"'{path}' holds the special token {token!r}, which only the chat template may "
                                "place (it would end or open a turn); remove it from the text",
                           param=path, code="invalid_value")


async def encode_text(codec: ChatCodec, text: str, lanes: Lanes, add_special_tokens: bool = True,
                      bound: PromptBound | None = None, where: str = "prompt") -> list[int]:
    """Tokenize in a worker thread, in the lane the text's length picks (axk1/infer/offload.py: a short prompt never
    queues behind megabyte ones), with encode_batch, which releases the GIL (encode does not): a prompt of a
    megabyte takes seconds, and /health and the other requests' streams must not wait for it. A text that `bound`
    shows cannot fit the context is refused there first, untokenized (axk1/infer/prompt_bound.py); `where`: its
    place in the body, named by that 400."""
    return await lanes.run(len(text), _encode, codec, text, add_special_tokens, bound, where)


def _encode(codec: ChatCodec, text: str, add_special_tokens: bool, bound: PromptBound | None, where: str) -> list[int]:
    if bound is not None:
        bound.check(text, where)
    return codec.tokenizer.encode_batch([text], add_special_tokens=add_special_tokens)[0].ids
